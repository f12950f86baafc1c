"""Hand freed memory back to the system before the linear members' step.

glibc serves allocations under its mmap threshold from a heap that it seldom shrinks, and
by default the threshold rises to the largest block freed so far (up to 32 MB). After the
epochs, whose activations change shape with every batch, the heap is large and fragmented,
and the members' step's arrays (CSR parts, score blocks: a few hundred KB to tens of MB
each) land in it as well and stay when freed, raising the run's peak (100,000 documents:
2.27 -> 2.10 GB with this module; bench/RESULTS.md, issue #28). So, once the epochs are over: give back the free pages of
the heap (malloc_trim), and fix the threshold at 128 KB, so that every larger block is
mapped on its own and unmapped when freed. Not during the epochs: there it costs 1.75x.
"""

from __future__ import annotations

import ctypes
import os

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
THRESHOLD = 128 * 1024


def release_freed_memory() -> bool:
    """Trim the heap and fix the mmap threshold (glibc only; elsewhere, or where the user
    set MALLOC_MMAP_THRESHOLD_ themselves, nothing). -> whether it was done."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(None)
        trim, mallopt = libc.malloc_trim, libc.mallopt
    except (OSError, AttributeError):
        return False
    trim(0)
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD))
