"""Atomic writes: write to a temporary file beside the target, then rename over it.

A reader (or a crash) never sees a half-written artifact at the final path."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


TMP_SUFFIX = ".fastnews-tmp"


def _umask() -> int:
    """The process's umask, read without setting it where Linux allows (os.umask sets it,
    for a moment, for every thread)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete temporary files a killed process left in folder; returns how many."""
    removed = 0
    for leftover in Path(folder).glob(f".*{TMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            leftover.unlink()
            removed += 1
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path in the target's folder; on success fsync and rename it
    to path, on failure delete it. A path that exists and is not a regular file (a
    device such as /dev/null, a FIFO) is yielded as it is: renaming over it would
    replace the device with a file."""
    path = Path(path)
    if path.exists() and not path.is_file():
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; an artifact gets open()'s usual mode
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))
