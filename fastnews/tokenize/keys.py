"""Word keys, and the key tables that count or look up words by them."""

from __future__ import annotations

import numba as nb
import numpy as np

from numba.cpython.unsafe.numbers import trailing_zeros

from fastnews.strtable import load8, low_bytes
from fastnews.tokenize.bitmap import _fold, _same_word

_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)


# ---------------------------------------------------------------------------
# Word keys, and the tables that count or look up words by them.
#
# A word of at most 15 bytes is its own key: lo holds its bytes 0-7 and hi its bytes
# 8-14, zero-padded, with the length in the top byte of hi. Two such words are equal
# exactly when their keys are, so finding one compares 16 bytes that sit in the table
# itself, in one cache line, with no offsets or bytes to fetch from elsewhere.
# A longer word (0.04 % of 20news's tokens) has the key (a hash of its bytes, LONG_KEY),
# and a hit is checked against its bytes.
#
# A key table is uint64 [REC * capacity], capacity a power of two, with one 32-byte
# record per slot, aligned to cache lines: (lo, hi, value, count), named by LO, HI, VALUE
# and COUNT. hi == 0 marks an empty slot (no key has it: a word has at least one byte).
# Linear probing from _home. It is the one layout for counting and for lookups; the
# merged table of all words (vocab._WordTable) keeps int32 slots instead, for its size.
# _find is the probe; the two ASCII word loops (count._count_docs, encode._encode_docs)
# write it out, because the shared helper cost them 5-11 % (bench/RESULTS.md).


@nb.njit(cache=True, inline="always")
def _absorb(h, block):
    """Mix 8 bytes into a word's hash: one multiply per 8 bytes, not one per byte."""
    h = (h ^ block) * _MIX1
    return (h << np.uint64(31)) | (h >> np.uint64(33))


@nb.njit(cache=True, inline="always")
def _absorb_tail(h, tail, k):
    """The hash of a word whose last k (0-7) bytes are the low bytes of tail, given h of
    the 8-byte blocks before them."""
    h = _absorb(h, (tail & low_bytes(k)) ^ (np.uint64(k) << np.uint64(56)))
    h ^= h >> np.uint64(33)
    h *= _MIX2
    return h ^ (h >> np.uint64(33))


_LONG_KEY = np.uint64(0xFF) << np.uint64(56)
_ALL_BYTES = np.uint64(0xFFFFFFFFFFFFFFFF)
_KEY_MIX = np.uint64(0x9E3779B97F4A7C15)
_HI_MIX = np.uint64(0xC2B2AE3D27D4EB4F)


@nb.njit(cache=True, inline="always")
def _key_of(buf, a, b, fold):
    """The key (lo, hi) of the word buf[a:b] through _fold (b > a). Reads 16 bytes from a
    (and up to 7 past b)."""
    n = b - a
    if n > 15:
        h = np.uint64(0)
        while a + 8 <= b:
            h = _absorb(h, _fold(load8(buf, a), fold))
            a += 8
        return _absorb_tail(h, _fold(load8(buf, a), fold), b - a), _LONG_KEY
    lo = _fold(load8(buf, a), fold) & (_ALL_BYTES >> np.uint64(64 - 8 * min(n, 8)))
    hi = _fold(load8(buf, a + 8), fold) & low_bytes(max(n - 8, 0))
    return lo, hi | (np.uint64(n) << np.uint64(56))


@nb.njit(cache=True, inline="always")
def _slot_of(lo, hi, shift):
    """A key's first slot in a table of 2 ** (64 - shift) slots: the top bits of a
    multiplicative hash, after folding the high bytes down (else words that differ only
    in their 8th byte would share their low slot bits)."""
    x = lo ^ (hi * _HI_MIX)
    x ^= x >> np.uint64(29)
    return np.int64((x * _KEY_MIX) >> shift)


@nb.njit(cache=True, inline="always")
def _shift_for(n_slots):
    """_slot_of's shift for a table of n_slots (a power of two) slots."""
    return np.uint64(64 - trailing_zeros(np.uint64(n_slots)))


# A key table's records: uint64 [REC * capacity], record j at [REC * j, REC * j + REC).
REC = 4
LO, HI, VALUE, COUNT = 0, 1, 2, 3  # the key (lo, hi), the word's number, how often it was seen


@nb.njit(cache=True, inline="always")
def _home(table, lo, hi):
    """The key's first slot in the key table."""
    return _slot_of(lo, hi, _shift_for(table.shape[0] // REC))


@nb.njit(cache=True, inline="always")
def _find(table, j, lo, hi, words, starts, stops, buf, a, b, fold):
    """The slot of the word buf[a:b] (through _fold), whose key is (lo, hi), probing from
    slot j (its _home): the slot that holds it, or the empty one where it belongs. The
    word of a record with VALUE k is words[starts[k]:stops[k]]; only a long word's key
    (a hash) is checked against those bytes."""
    mask = table.shape[0] // REC - 1
    while True:
        held = table[REC * j + HI]
        if held == 0:
            return j
        if held == hi and table[REC * j + LO] == lo:
            k = table[REC * j + VALUE]
            if hi != _LONG_KEY or _same_word(words, starts[k], stops[k], buf, a, b, fold):
                return j
        j = (j + 1) & mask


@nb.njit(cache=True, inline="always")
def _free_slot(table, lo, hi):
    """The first empty slot from the key's home (for keys known to be new to table)."""
    mask = table.shape[0] // REC - 1
    j = _home(table, lo, hi)
    while table[REC * j + HI] != 0:
        j = (j + 1) & mask
    return j


@nb.njit(cache=True, inline="always")
def _set(table, j, lo, hi, value, count):
    """Record j <- (lo, hi, value, count); (0, 0, 0, 0) empties it."""
    table[REC * j + LO], table[REC * j + HI] = lo, hi
    table[REC * j + VALUE], table[REC * j + COUNT] = np.uint64(value), np.uint64(count)


def _key_table(capacity: int) -> np.ndarray:
    """An empty key table of capacity slots, its records aligned to 64-byte cache lines.
    (Allocated by numpy, which asks the kernel for huge pages for large arrays.)"""
    raw = np.zeros(REC * capacity + 8, np.uint64)
    skip = (-raw.ctypes.data % 64) // 8
    return raw[skip:skip + REC * capacity]


@nb.njit(cache=True)
def _rehashed(table, bigger, wslot):
    """bigger (an empty key table) with the records of the key table table added, and
    wslot[k] <- the new slot of word k (the VALUE of its record); returns bigger."""
    for i in range(table.shape[0] // REC):
        lo, hi = table[REC * i + LO], table[REC * i + HI]
        if hi != 0:
            j = _free_slot(bigger, lo, hi)
            _set(bigger, j, lo, hi, table[REC * i + VALUE], table[REC * i + COUNT])
            wslot[table[REC * i + VALUE]] = j
    return bigger


@nb.njit(cache=True)
def _index_words(vbuf, offsets, table):
    """Fill the empty key table with the distinct words vbuf[offsets[w]:offsets[w + 1]]:
    word w's record holds w. vbuf needs 16 readable bytes after its last word."""
    for w in range(offsets.shape[0] - 1):
        lo, hi = _key_of(vbuf, offsets[w], offsets[w + 1], np.uint64(0))
        _set(table, _free_slot(table, lo, hi), lo, hi, w, 0)
    return table
