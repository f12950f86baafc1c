"""numba's on-disk cache, keyed by every file that holds fastnews kernels.

numba stamps a cached kernel with its own source file only, so a kernel whose callee
lives in another module is served stale after that callee changes (numba issue 1833),
and the tokenizer's kernels call helpers in five modules. Here a fastnews kernel's stamp
is the SHA-256 of all of those files together: editing any of them recompiles every
kernel once. Imported, for its side effect, before any kernel is defined.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from numba.core import caching

_ROOT = Path(__file__).resolve().parent
# The files whose kernels call each other (the GloVe parser and the tokenizer both use
# strtable's helpers).
KERNEL_FILES = (_ROOT / "strtable.py", _ROOT / "glovetext.py", *sorted((_ROOT / "tokenize").glob("*.py")))


def kernel_stamp() -> str:
    """One digest of the kernel files' bytes, read again only when a file's size or
    modification time changed (every kernel asks for it as it is defined)."""
    stats = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in KERNEL_FILES)
    return _digest(stats)


@functools.lru_cache(maxsize=8)
def _digest(stats: tuple) -> str:
    digest = hashlib.sha256()
    for path, _, _ in stats:
        digest.update(Path(path).name.encode() + b"\0" + Path(path).read_bytes())
    return digest.hexdigest()


class _PackageStamp:
    """Mixin for numba's locators: accept only fastnews kernel files; stamp them all."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve() not in KERNEL_FILES:
            return None
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return kernel_stamp()


class UserProvidedLocator(_PackageStamp, caching.UserProvidedCacheLocator):
    pass  # NUMBA_CACHE_DIR, when set, as numba's own order has it


class InTreeLocator(_PackageStamp, caching.InTreeCacheLocator):
    pass


class UserWideLocator(_PackageStamp, caching.UserWideCacheLocator):
    pass


LOCATORS = (UserProvidedLocator, InTreeLocator, UserWideLocator)
if InTreeLocator not in caching.CacheImpl._locator_classes:
    caching.CacheImpl._locator_classes[:0] = list(LOCATORS)
