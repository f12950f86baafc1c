"""numba's cache is keyed by every kernel file, so an edited callee in another module
cannot be served stale (numba issue 1833; fastnews/_kernel_cache.py)."""

import shutil

import numba

from fastnews import _kernel_cache, glovetext, strtable
from fastnews.tokenize import bitmap, chars, chunks, count, encode, keys, tokenizer, utf8, vocab


def _kernels():
    for module in (strtable, glovetext, bitmap, chars, chunks, count, encode, keys, tokenizer, utf8, vocab):
        for name, obj in vars(module).items():
            if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.__module__ == module.__name__:
                yield f"{module.__name__}.{name}", obj


def test_every_cached_kernel_uses_the_package_stamp():
    kernels = dict(_kernels())
    assert len(kernels) > 30
    for name, kernel in kernels.items():
        locator = kernel._cache._impl.locator
        assert isinstance(locator, _kernel_cache.LOCATORS), name


def test_editing_a_callee_changes_the_callers_stamp(tmp_path, monkeypatch):
    """_encode_docs (encode.py) inlines _find (keys.py) and _ascii_bitmap (bitmap.py):
    an edit to either file must change the stamp its cache entry is checked against."""
    copies = []
    for path in _kernel_cache.KERNEL_FILES:
        copy = tmp_path / path.parent.name / path.name
        copy.parent.mkdir(exist_ok=True)
        shutil.copy(path, copy)
        copies.append(copy)
    monkeypatch.setattr(_kernel_cache, "KERNEL_FILES", tuple(copies))
    locator = encode._encode_docs._cache._impl.locator
    before = locator.get_source_stamp()
    assert locator.get_source_stamp() == before
    callee = next(c for c in copies if c.name == "bitmap.py")
    callee.write_text(callee.read_text() + "\n# an edit\n")
    assert locator.get_source_stamp() != before
