"""Byte-level tokenization in numba: text -> words -> vocabulary ids, padded or truncated.

Training and inference both tokenize through this module and nothing else, so the
exported model always sees the ids it was trained on.

The split rule, in one place (see SPLIT_RULE): a text is lowercased one character
at a time with Python's own ``str.lower`` (so 'İ' becomes 'i̇' and there is no
context-dependent final sigma), then cut at every separator. A separator is any
Unicode whitespace character (``str.isspace``) or one of Keras's default
``Tokenizer`` filters, ``!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~``. Words are the
non-empty runs between separators. Apostrophes and digits stay inside words, as
in Keras.

How it runs: a pool of threads runs the kernels on chunks of consecutive documents.
The kernels copy each document's UTF-8 bytes into a uint8 buffer (on CPython,
straight from the str, without the GIL: see _Utf8Texts), walk those bytes, decode
code points and look up two per-code-point tables (is-separator, lowercase). No
Python object is made per word.

  Both paths split an ASCII document by classifying it 8 bytes at a time into a
  bitmap of word bytes and reading its words off the bitmap, and key each word by
  its own lowered bytes (up to 15; a hash beyond) in tables whose records hold the
  keys, so that a lookup reads one cache line (see _key_of). Other documents take
  the per-code-point loop (_next_word).

  encode (a fitted vocabulary; inference): each word is looked up in the key table
      of the vocabulary (_index_words); chunks of ~1 MB, one per thread at a time.
  fit / fit_encode (training): count_words counts each ~4 MB chunk into a key table
      of its own in one pass over its bytes; the chunks' words are merged, ranked,
      and the same split is mapped to ids, so the texts are read once.

Ids: 0 is padding, 1 is an unknown word, 2.. are vocabulary words in order of
decreasing training frequency (ties: first occurrence first, as Keras does).
"""

from __future__ import annotations

import collections
import ctypes
import itertools
import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numba as nb
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from fastnews.strtable import (HIGH_BITS, LOW7_BITS, StringTable, capacity_for, copy_from, encode_words, load8,
                               low_bytes, prefetch, store8)

PAD_ID = 0
UNK_ID = 1
N_SPECIAL = 2

KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'
SPLIT_RULE = "lowercase per character; split on unicode whitespace and " + KERAS_FILTERS
MAX_CODEPOINT = 0x110000
_DOTTED_CAPITAL_I = 0x130  # the one code point whose lowercase is two code points


def _build_char_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per-code-point tables: is_sep uint8 [0x110000], lower int32 [0x110000].

    lower[cp] is the lowercase code point, or -1 for U+0130 (handled in the kernel).
    Built with one str.lower over all code points: ~20 ms, no Python loop per char."""
    cps = np.arange(MAX_CODEPOINT, dtype=np.uint32)
    # Leave out surrogates (cannot be encoded), U+0130 (lowers to 2 chars) and
    # U+03A3 (str.lower over a string would apply the final-sigma rule to it).
    special = (cps >= 0xD800) & (cps < 0xE000)
    special[[_DOTTED_CAPITAL_I, 0x3A3]] = True
    plain = cps[~special]
    lowered = plain.tobytes().decode("utf-32-le").lower().encode("utf-32-le")
    lower = cps.astype(np.int32)
    lower[plain] = np.frombuffer(lowered, np.uint32).astype(np.int32)
    lower[0x3A3] = 0x3C3
    lower[_DOTTED_CAPITAL_I] = -1
    is_sep = np.zeros(MAX_CODEPOINT, np.uint8)
    for cp in range(0x3001):  # every str.isspace() code point is below U+3001
        if chr(cp).isspace():
            is_sep[cp] = 1
    for ch in KERAS_FILTERS:
        is_sep[ord(ch)] = 1
    return is_sep, lower


_TABLES: dict[bool, tuple[np.ndarray, np.ndarray]] = {}


def char_tables(lowercase: bool = True) -> tuple[np.ndarray, np.ndarray]:
    if lowercase not in _TABLES:
        is_sep, lower = _build_char_tables()
        if not lowercase:
            lower = np.arange(MAX_CODEPOINT, dtype=np.int32)
        _TABLES[lowercase] = (is_sep, lower)
    return _TABLES[lowercase]


# ---------------------------------------------------------------------------
# Kernels. They take only arrays and scalars.


@nb.njit(cache=True, inline="always")
def _decode(buf, pos, end):
    """(code point, byte length) of the UTF-8 sequence at buf[pos]."""
    b0 = np.int32(buf[pos])
    if b0 < 0x80:
        return b0, 1
    if b0 >= 0xF0 and pos + 3 < end:
        cp = ((b0 & 0x07) << 18) | ((np.int32(buf[pos + 1]) & 0x3F) << 12) | \
             ((np.int32(buf[pos + 2]) & 0x3F) << 6) | (np.int32(buf[pos + 3]) & 0x3F)
        return cp, 4
    if b0 >= 0xE0 and pos + 2 < end:
        cp = ((b0 & 0x0F) << 12) | ((np.int32(buf[pos + 1]) & 0x3F) << 6) | (np.int32(buf[pos + 2]) & 0x3F)
        return cp, 3
    if b0 >= 0xC0 and pos + 1 < end:
        return ((b0 & 0x1F) << 6) | (np.int32(buf[pos + 1]) & 0x3F), 2
    return b0, 1  # stray byte: cannot come from str.encode, kept as-is


@nb.njit(cache=True, inline="always")
def _encode(out, n, cp):
    """Write code point cp as UTF-8 at out[n:]; return the new n."""
    if cp < 0x80:
        out[n] = cp
        return n + 1
    if cp < 0x800:
        out[n] = 0xC0 | (cp >> 6)
        out[n + 1] = 0x80 | (cp & 0x3F)
        return n + 2
    if cp < 0x10000:
        out[n] = 0xE0 | (cp >> 12)
        out[n + 1] = 0x80 | ((cp >> 6) & 0x3F)
        out[n + 2] = 0x80 | (cp & 0x3F)
        return n + 3
    out[n] = 0xF0 | (cp >> 18)
    out[n + 1] = 0x80 | ((cp >> 12) & 0x3F)
    out[n + 2] = 0x80 | ((cp >> 6) & 0x3F)
    out[n + 3] = 0x80 | (cp & 0x3F)
    return n + 4


@nb.njit(cache=True, inline="always")
def _next_word(buf, pos, end, is_sep, lower, out, n):
    """Skip separators from pos, then copy the next word, lowered, to out[n:].

    Returns (pos after the word, end of the word in out). The word is empty (returned
    end == n) only when the text has no more words. Any text; an ASCII text can take
    the faster _ascii_bitmap and _next_run instead."""
    while pos < end:
        b = buf[pos]
        if b < 0x80:
            if is_sep[b] == 0:
                break
            pos += 1
        else:
            cp, length = _decode(buf, pos, end)
            if is_sep[cp] == 0:
                break
            pos += length
    while pos < end:
        b = buf[pos]
        if b < 0x80:
            if is_sep[b]:
                break
            out[n] = lower[b]
            n += 1
            pos += 1
        else:
            cp, length = _decode(buf, pos, end)
            if is_sep[cp]:
                break
            low = lower[cp]
            if low < 0:  # U+0130 -> 'i' + U+0307 COMBINING DOT ABOVE
                out[n] = 0x69
                n = _encode(out, n + 1, 0x307)
            else:
                n = _encode(out, n, low)
            pos += length
    return pos, n


@nb.njit(cache=True, inline="always")
def _count_in(buf, pos, end, is_sep):
    """Number of words in buf[pos:end] (no copying: separators are the same before
    and after lowercasing)."""
    count = 0
    in_word = False
    while pos < end:
        b = buf[pos]
        if b < 0x80:
            sep = is_sep[b] != 0
            pos += 1
        else:
            cp, length = _decode(buf, pos, end)
            sep = is_sep[cp] != 0
            pos += length
        if not sep and not in_word:
            count += 1
        in_word = not sep
    return count


@nb.njit(cache=True, inline="always")
def _finish_row(row, n, max_len, keep_last, pad_front):
    """Row holds min(n, max_len) ids (a ring buffer when keep_last and n > max_len):
    put them in order and pad with 0 on the chosen side. Rows come zeroed (np.zeros:
    pages the kernel zeroed already), so padding at the back writes nothing."""
    kept = min(n, max_len)
    if keep_last and n > max_len:
        rolled = np.empty(max_len, row.dtype)
        for i in range(max_len):
            rolled[i] = row[(n + i) % max_len]
        row[:] = rolled
    if pad_front and kept < max_len:
        row[max_len - kept:] = row[:kept].copy()
        row[:max_len - kept] = 0


# ---------------------------------------------------------------------------
# Eight bytes at a time. An ASCII text (all but 31 of 20news's 18,846) is classified 8
# bytes at once into a bitmap of its word bytes, and its words are read off the bitmap
# with bit scans, so finding the next word does not wait on a branch per byte. Words
# are keyed (_key_of), copied and compared 8 bytes at a time. Other texts take
# _next_word.

def _ascii_separator_ranges() -> list[tuple[int, int]]:
    """The ASCII separators of SPLIT_RULE as inclusive (low, high) runs of bytes."""
    sep = [chr(c).isspace() or chr(c) in KERAS_FILTERS for c in range(128)]
    runs, c = [], 0
    while c < 128:
        if sep[c]:
            start = c
            while c + 1 < 128 and sep[c + 1]:
                c += 1
            runs.append((start, c))
        c += 1
    return runs


# Byte b (< 0x80) is in [lo, hi] when b + (0x80 - lo) reaches bit 7 and b + (0x7F - hi)
# does not; with bit 7 of every byte cleared first, no sum carries into the next byte.
_ONES = 0x0101010101010101
_SEP_LO = np.array([(0x80 - lo) * _ONES for lo, _ in _ascii_separator_ranges()], np.uint64)
_SEP_HI = np.array([(0x7F - hi) * _ONES for _, hi in _ascii_separator_ranges()], np.uint64)
_UPPER_LO, _UPPER_HI = np.uint64((0x80 - 0x41) * _ONES), np.uint64((0x7F - 0x5A) * _ONES)  # 'A'..'Z'
ASCII_FOLD = np.uint64(0x20 * _ONES)  # the bit that lowercases 'A'..'Z'
_MOVEMASK = np.uint64(0x0102040810204080)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)


def _fold_for(lowercase: bool) -> np.uint64:
    """The _fold argument: str.lower on ASCII lowers exactly 'A'..'Z'."""
    return ASCII_FOLD if lowercase else np.uint64(0)


@nb.njit(cache=True, inline="always")
def _word_bytes(x):
    """Flag mask of the bytes of x that are ASCII and not separators."""
    y = x & LOW7_BITS
    sep = np.uint64(0)
    for r in range(_SEP_LO.shape[0]):
        sep |= (y + _SEP_LO[r]) & ~(y + _SEP_HI[r])
    return ~(sep | x) & HIGH_BITS


@nb.njit(cache=True, inline="always")
def _fold(x, fold):
    """x with its ASCII capitals lowered (fold = ASCII_FOLD) or unchanged (fold = 0)."""
    y = x & LOW7_BITS
    upper = (y + _UPPER_LO) & ~(y + _UPPER_HI) & ~x & HIGH_BITS
    return x | ((upper >> np.uint64(2)) & fold)


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


@nb.njit(cache=True, inline="always")
def _word_bits64(buf, q):
    """(bit j: is buf[q + j] a word byte, for j < 64; the OR of the 64 bytes). The eight
    8-byte lanes are independent, so LLVM runs them as one AVX-512 (or AVX2) vector:
    23% less time than a loop over the lanes with a carried mask."""
    m = np.uint64(0)
    high = np.uint64(0)
    for k in range(8):
        x = load8(buf, q + 8 * k)
        high |= x
        m |= (((_word_bytes(x) >> np.uint64(7)) * _MOVEMASK) >> np.uint64(56)) << np.uint64(8 * k)
    return m, high


@nb.njit(cache=True, inline="always")
def _ascii_bitmap(buf, pos, end, bits):
    """bits[w] bit j <- whether byte buf[pos + 64 w + j] is a word byte (ASCII, not a
    separator), 8 bytes classified at once; bits ends with a zero word. Returns False,
    with bits unfinished, when the text holds a non-ASCII byte."""
    n_full = (end - pos) >> 6
    high = np.uint64(0)
    for w in range(n_full):
        m, h = _word_bits64(buf, pos + 64 * w)
        bits[w] = m
        high |= h
    # The last, partial 64 bytes, 8 at a time: the bytes after the text are not its
    # words (NUL is a word byte).
    m = np.uint64(0)
    tail = pos + 64 * n_full
    for blk in range((end - tail + 7) >> 3):
        q = tail + 8 * blk
        x = load8(buf, q)
        flags = _word_bytes(x)
        if end - q < 8:
            x &= low_bytes(end - q)
            flags &= low_bytes(end - q)
        high |= x
        m |= (((flags >> np.uint64(7)) * _MOVEMASK) >> np.uint64(56)) << np.uint64(8 * blk)
    bits[n_full] = m
    bits[(end - pos + 63) >> 6] = 0
    return (high & HIGH_BITS) == 0


_ONE = np.uint64(1)


@nb.njit(cache=True, inline="always")
def _next_run(bits, n_words, run):
    """The next word of an _ascii_bitmap: (first bit, one past the last, run), or
    (-1, -1, run) when there is none.

    run = (w, starts, ends, carry, start) is the scan's state, _RUN_START for a new
    bitmap. The scan takes a 64-bit word of the bitmap at a time and flags every bit
    where a word starts (starts) and where one ends (ends) in it; carry is its top bit,
    for the next word's first bit. Within a word the flags alternate start, end, start,
    ..., so the next word is the lowest end flag and the start flag below it, if any,
    else the start kept in run. Finding a word is then a few bit operations on
    registers, not a walk that waits on each word's end to look for the next start
    (a dependency chain that made this 3x slower)."""
    w, starts, ends, carry, start = run
    while ends == 0:
        if w == n_words:  # the bitmap's final word (zero) has been read
            return -1, -1, run
        if starts:  # the word that starts here runs past this word of the bitmap
            start = (w << 6) + np.int64(trailing_zeros(starts))
        w += 1
        m = bits[w]
        before = (m << _ONE) | carry  # bit j: was byte j - 1 a word byte
        starts, ends, carry = m & ~before, ~m & before, m >> np.uint64(63)
    if trailing_zeros(starts) < trailing_zeros(ends):  # trailing_zeros(0) is 64
        start = (w << 6) + np.int64(trailing_zeros(starts))
        starts &= starts - _ONE
    stop = (w << 6) + np.int64(trailing_zeros(ends))
    return start, stop, (w, starts, ends & (ends - _ONE), carry, start)


_RUN_START = (-1, np.uint64(0), np.uint64(0), np.uint64(0), 0)


@nb.njit(cache=True, inline="always")
def _copy_folded(buf, a, b, out, n, fold):
    """out[n:n + b - a] <- buf[a:b] through _fold, 8 bytes at a time. Reads and writes
    up to 7 bytes past the ends."""
    q = 0
    while q < b - a:
        store8(out, n + q, _fold(load8(buf, a + q), fold))
        q += 8


@nb.njit(cache=True, inline="always")
def _same_word(x, x0, x1, y, y0, y1, fold):
    """x[x0:x1] == y[y0:y1] through _fold, 8 bytes at a time. Reads up to 7 bytes past
    both."""
    if x1 - x0 != y1 - y0:
        return False
    while y0 + 8 <= y1:
        if load8(x, x0) != _fold(load8(y, y0), fold):
            return False
        x0 += 8
        y0 += 8
    return ((load8(x, x0) ^ _fold(load8(y, y0), fold)) & low_bytes(y1 - y0)) == 0


# ---------------------------------------------------------------------------
# Word keys, and the tables that count or look up words by them.
#
# A word of at most 15 bytes is its own key: lo holds its bytes 0-7 and hi its bytes
# 8-14, zero-padded, with the length in the top byte of hi. Two such words are equal
# exactly when their keys are, so finding one compares 16 bytes that sit in the table
# itself. (Keys were a hash before, and checking a hit read the word's hash, offsets and
# bytes from three more arrays: three cache misses per rare word, a third of counting.)
# A longer word (0.04 % of 20news's tokens) has the key (a hash of its bytes, LONG_KEY),
# and a hit is checked against its bytes.
#
# A key table is uint64 [4 * capacity], capacity a power of two, with one 32-byte record
# per slot, aligned to cache lines: (lo, hi, value, count). hi == 0 marks an empty slot
# (no key has it: a word has at least one byte). Linear probing from _slot_of.

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


@nb.njit(cache=True, inline="always")
def _probe(table, j, lo, hi):
    """The first slot from j that is empty or holds the key (lo, hi)."""
    mask = (table.shape[0] >> 2) - 1
    while True:
        h = table[4 * j + 1]
        if h == 0 or (h == hi and table[4 * j] == lo):
            return j
        j = (j + 1) & mask


def _key_table(capacity: int) -> np.ndarray:
    """An empty key table of capacity slots, its records aligned to 64-byte cache lines.
    (Allocated by numpy, which asks the kernel for huge pages for large arrays.)"""
    raw = np.zeros(4 * capacity + 8, np.uint64)
    skip = (-raw.ctypes.data % 64) // 8
    return raw[skip:skip + 4 * capacity]


@nb.njit(cache=True)
def _rehashed(table, bigger, wslot):
    """bigger (an empty key table) with the records of the chunk table table added, and
    wslot[k] <- the new slot of word k (the value of its record); returns bigger."""
    shift = _shift_for(bigger.shape[0] >> 2)
    mask = (bigger.shape[0] >> 2) - 1
    for i in range(table.shape[0] >> 2):
        lo, hi = table[4 * i], table[4 * i + 1]
        if hi != 0:
            j = _slot_of(lo, hi, shift)
            while bigger[4 * j + 1] != 0:  # (not _probe: two long words may share a key)
                j = (j + 1) & mask
            bigger[4 * j:4 * j + 4] = table[4 * i:4 * i + 4]
            wslot[table[4 * i + 2]] = j
    return bigger


@nb.njit(cache=True)
def _index_words(vbuf, offsets, table):
    """Fill the empty key table with the distinct words vbuf[offsets[w]:offsets[w + 1]]:
    word w's record holds w. vbuf needs 16 readable bytes after its last word."""
    n = offsets.shape[0] - 1
    shift = _shift_for(table.shape[0] >> 2)
    mask = (table.shape[0] >> 2) - 1
    for w in range(n):
        lo, hi = _key_of(vbuf, offsets[w], offsets[w + 1], np.uint64(0))
        j = _slot_of(lo, hi, shift)
        while table[4 * j + 1] != 0:  # the words are distinct: find the first empty slot
            j = (j + 1) & mask
        table[4 * j], table[4 * j + 1], table[4 * j + 2] = lo, hi, np.uint64(w)
    return table


@nb.njit(cache=True, nogil=True)
def _encode_docs(addresses, sizes, is_sep, lower, fold, index, offsets, vbuf,
                 max_len, keep_last, pad_front, ids, lengths):
    """ids[d] <- vocabulary ids of document d (the sizes[d] bytes at addresses[d], copied
    into buf first, as _count_docs does), truncated and padded to max_len; lengths[d] <-
    its true number of words (before truncation). index: the key table of the
    vocabulary vbuf/offsets (_index_words). The rows of ids must come zeroed (see
    _finish_row). A document with non-ASCII bytes goes to _encode_unicode_doc."""
    shift = _shift_for(index.shape[0] >> 2)
    mask = (index.shape[0] >> 2) - 1
    longest = sizes.max() if sizes.shape[0] else 0
    buf = np.empty(longest + 16, np.uint8)
    scratch = np.empty(2 * longest + 16, np.uint8)
    bits = np.empty(longest // 64 + 2, np.uint64)
    for d in range(sizes.shape[0]):
        end = sizes[d]
        copy_from(buf, 0, addresses[d], end)
        store8(buf, end, np.uint64(0))  # _key_of reads up to 16 bytes past a word's start
        store8(buf, end + 8, np.uint64(0))
        row = ids[d]
        if not _ascii_bitmap(buf, 0, end, bits):
            n = _encode_unicode_doc(buf, end, is_sep, lower, scratch, index, offsets, vbuf, max_len, keep_last, row)
        else:
            n_words = (end + 63) >> 6
            run = _RUN_START  # the bitmap scan's state
            n = 0
            while n < max_len or keep_last:
                s, e, run = _next_run(bits, n_words, run)
                if s < 0:
                    break
                lo, hi = _key_of(buf, s, e, fold)
                j = _slot_of(lo, hi, shift)
                while True:  # (the lookup of _count_docs; see there why it is written out)
                    held = index[4 * j + 1]
                    if held == 0:
                        break
                    if held == hi and index[4 * j] == lo:
                        w = index[4 * j + 2]
                        if hi != _LONG_KEY or _same_word(vbuf, offsets[w], offsets[w + 1], buf, s, e, fold):
                            break
                    j = (j + 1) & mask
                # keep_last: a ring buffer over the row, straightened out in _finish_row.
                row[n % max_len] = N_SPECIAL + np.int32(index[4 * j + 2]) if held != 0 else UNK_ID
                n += 1
            if n == max_len and not keep_last:  # the true length of a truncated text
                while True:
                    s, e, run = _next_run(bits, n_words, run)
                    if s < 0:
                        break
                    n += 1
        lengths[d] = n
        _finish_row(row, n, max_len, keep_last, pad_front)


@nb.njit(cache=True, nogil=True)
def _encode_unicode_doc(buf, end, is_sep, lower, scratch, index, offsets, vbuf, max_len, keep_last, row):
    """_encode_docs for one document with non-ASCII bytes, buf[:end]: each word is
    decoded and lowered by _next_word into scratch. Returns its number of words."""
    shift = _shift_for(index.shape[0] >> 2)
    mask = (index.shape[0] >> 2) - 1
    no_fold = np.uint64(0)
    pos, n = 0, 0
    while n < max_len or keep_last:
        pos, b = _next_word(buf, pos, end, is_sep, lower, scratch, 0)
        if b == 0:
            return n
        lo, hi = _key_of(scratch, 0, b, no_fold)
        j = _slot_of(lo, hi, shift)
        while True:
            j = _probe(index, j, lo, hi)
            w = index[4 * j + 2]
            if (index[4 * j + 1] == 0 or hi != _LONG_KEY
                    or _same_word(vbuf, offsets[w], offsets[w + 1], scratch, 0, b, no_fold)):
                break
            j = (j + 1) & mask
        row[n % max_len] = N_SPECIAL + np.int32(index[4 * j + 2]) if index[4 * j + 1] != 0 else UNK_ID
        n += 1
    return n + _count_in(buf, pos, end, is_sep)  # truncated: its true length


# ---------------------------------------------------------------------------
# Counting (fit).

def _count_chunk(texts: "_Utf8Texts", is_sep, lower, fold):
    """Split the documents of one chunk and number their distinct words in order of
    first occurrence (_count_into). Returns
        tokens   int32 [n_tokens]   the chunk's words, as distinct-word numbers
        doc_tok  int64 [n_docs + 1] document d's words are tokens[doc_tok[d]:doc_tok[d + 1]]
        wbuf, wstart, wstop         distinct word k is wbuf[wstart[k]:wstop[k]]
        wlo, whi uint64 [n_words]   its key (see _key_of)
        wcount   int64 [n_words]    how often it occurs in the chunk

    The arrays are allocated here, by numpy, which asks the kernel for huge pages for
    large arrays (faulting memory in 4 KB at a time had cost a tenth of the counting),
    at sizes that 20news fills; _count_into grows them if a corpus needs more."""
    n_docs = texts.sizes.shape[0]
    n_bytes = int(texts.sizes.sum())
    tokens = np.empty(n_bytes // 4 + n_docs + 1, np.int32)  # 20news: a word per ~6 bytes
    guess = max(1 << 12, n_bytes // 64)  # distinct words: 20news has one per ~100 bytes in 4 MB
    doc_tok = np.zeros(n_docs + 1, np.int64)
    wbuf = np.empty(n_bytes // 4 + 16, np.uint8)  # the distinct words' bytes
    starts, stops, los, his, slots = (np.empty(guess, t) for t in (np.int64, np.int64, np.uint64, np.uint64, np.int64))
    cap = capacity_for(n_bytes // 128)  # 2 ** 17 slots (4 MB) for 4 MB of 20news: its 62,637 words at most
    table = getattr(_thread_tables, "table", None)
    _thread_tables.table = None  # taken: if the kernel fails, the table it leaves is not empty
    if table is None or table.shape[0] >> 2 < cap:
        table = _key_table(cap)
    n_tok, top, n_w, tokens, wbuf, wstart, wstop, wlo, whi, wcount, _thread_tables.table = _count_into(
        texts.addresses, texts.sizes, is_sep, lower, fold, tokens, doc_tok, wbuf, starts, stops, los, his, slots, table)
    return tokens[:n_tok], doc_tok, wbuf[:top], wstart, wstop, wlo, whi, wcount


# Each thread's chunk key table, kept empty between chunks: a fresh 4 MB table per chunk
# cost more in page faults than its counting saved.
_thread_tables = threading.local()


@nb.njit(cache=True, nogil=True)
def _count_into(addresses, sizes, is_sep, lower, fold, tokens, doc_tok, wbuf, wstart, wstop, wlo, whi, wslot, table):
    """_count_chunk's kernel, into the arrays it is given, which grow if needed. table:
    the chunk's key table, whose records hold (key, word number, count); it is left empty.
    Returns (n_tok, top, n_w, tokens, wbuf, wstart, wstop, wlo, whi, wcount, table), the
    word arrays cut to n_w.

    The arrays grow here, between calls to _count_docs, and never inside it: numba
    reference-counts an array variable that is reassigned in a loop on every pass,
    which made the word loop 2.7x slower."""
    d1 = sizes.shape[0]
    longest = sizes.max() if d1 else 0
    doc = np.empty(longest + 16, np.uint8)  # the document being split (see _count_docs)
    bits = np.empty(longest // 64 + 2, np.uint64)
    keys = np.empty((2, _BATCH), np.uint64)  # per candidate word: its key (lo, hi)
    spans = np.empty((3, _BATCH), np.int64)  # and its first slot, start, stop
    # (Typed values, not the constants 0 and False: numba would compile _count_docs once
    # more for those literal types, 5 s of a first run.)
    zero = np.int64(0)
    d, n_tok, top, n_w, run, inside = zero, zero, zero, zero, _RUN_START, zero < 0
    while True:
        d, n_tok, top, n_w, run, inside, room = _count_docs(
            addresses, sizes, doc, d, d1, is_sep, lower, fold, bits, run, inside, tokens, n_tok, doc_tok, wbuf, top,
            wstart, wstop, wlo, whi, wslot, n_w, table, keys, spans)
        if d == d1:
            break
        # Make room for document d's tokens and bytes, and for room more new words.
        size = sizes[d]
        while n_tok + size // 2 + 1 > tokens.shape[0]:
            tokens = np.concatenate((tokens, np.empty(tokens.shape[0], np.int32)))
        while top + 2 * size + 16 > wbuf.shape[0]:
            wbuf = np.concatenate((wbuf, np.empty(wbuf.shape[0], np.uint8)))
        while n_w + room > wstart.shape[0]:
            more = wstart.shape[0]
            wstart = np.concatenate((wstart, np.empty(more, np.int64)))
            wstop = np.concatenate((wstop, np.empty(more, np.int64)))
            wlo = np.concatenate((wlo, np.empty(more, np.uint64)))
            whi = np.concatenate((whi, np.empty(more, np.uint64)))
            wslot = np.concatenate((wslot, np.empty(more, np.int64)))
        if 2 * (n_w + room) > table.shape[0] >> 2:
            cap = table.shape[0] >> 2
            while 2 * (n_w + room) > cap:
                cap *= 2
            table = _rehashed(table, np.zeros(4 * cap, np.uint64), wslot)  # (rare: not cache-line aligned)
    # The counts, then the table left empty again for the thread's next chunk. (Through
    # wslot, loads that do not wait on each other: a scan of the whole table, or a probe
    # per word, cost a tenth of the counting.)
    wcount = np.empty(n_w, np.int64)
    for k in range(n_w):
        if k + _AHEAD < n_w:
            prefetch(table, 4 * wslot[k + _AHEAD])
        j = wslot[k]
        wcount[k] = table[4 * j + 3]
        table[4 * j], table[4 * j + 1], table[4 * j + 2], table[4 * j + 3] = 0, 0, 0, 0
    return n_tok, top, n_w, tokens, wbuf, wstart[:n_w], wstop[:n_w], wlo[:n_w], whi[:n_w], wcount, table


_BATCH = 64  # words split ahead of counting them, their table slots prefetched


@nb.njit(cache=True, nogil=True)
def _count_docs(addresses, sizes, doc, d, d1, is_sep, lower, fold, bits, run, inside, tokens, n_tok, doc_tok,
                wbuf, top, wstart, wstop, wlo, whi, wslot, n_w, table, keys, spans):
    """The word loop of _count_into, from document d (from inside it, at the bitmap scan
    state run, when inside) until d1 or until the arrays might not hold what comes next.
    Returns (d, n_tok, top, n_w, run, inside, room): inside when it stopped inside
    document d, at run; room, the number of new words that the word arrays and the table
    must then make room for.

    Document d is first copied from sizes[d] bytes at addresses[d] into doc, which
    stays in the L1 and L2 caches: packing a whole chunk first sent it through memory
    (see _Utf8Texts). An ASCII document's words come off its bitmap (_ascii_bitmap,
    _next_run) and are keyed straight from doc, in batches of _BATCH: first each is keyed and its table
    slot prefetched, then each is counted. The slots of rare words miss the caches, and
    this way their loads overlap instead of each waiting in turn. Room for new words is
    checked per batch, not per document (a document of n bytes may hold n / 2 new words,
    and reserving that much doubled the table for 20news's longest posts). Any other
    document goes to _count_unicode_doc (kept out of this loop: its branches here cost
    10 %)."""
    mask = (table.shape[0] >> 2) - 1
    shift = _shift_for(table.shape[0] >> 2)
    pos = np.int64(0)  # (not the literal 0, for which numba would compile the callee again)
    while d < d1:
        end = sizes[d]
        if not inside:
            # The document's tokens, and its bytes lowered (at most 1.5x) if they are new.
            if n_tok + end // 2 + 1 > tokens.shape[0] or top + 2 * end + 16 > wbuf.shape[0]:
                return d, n_tok, top, n_w, run, False, 0
            copy_from(doc, 0, addresses[d], end)
            store8(doc, end, np.uint64(0))  # the kernels read up to 16 bytes past a word's start
            store8(doc, end + 8, np.uint64(0))
            if not _ascii_bitmap(doc, pos, end, bits):
                if n_w + end // 2 + 1 > wstart.shape[0] or 2 * (n_w + end // 2 + 1) > mask + 1:
                    return d, n_tok, top, n_w, run, False, end // 2 + 1
                n_tok, top, n_w = _count_unicode_doc(doc, pos, end, is_sep, lower, tokens, n_tok, wbuf, top,
                                                     wstart, wstop, wlo, whi, wslot, n_w, table)
                doc_tok[d + 1] = n_tok
                d += 1
                continue
            run = _RUN_START  # the bitmap scan's state
        inside = False
        n_words = (end - pos + 63) >> 6
        more = True
        while more:
            if n_w + _BATCH > wstart.shape[0] or 2 * (n_w + _BATCH) > mask + 1:
                return d, n_tok, top, n_w, run, True, _BATCH
            m = 0
            while m < _BATCH:
                s, e, run = _next_run(bits, n_words, run)
                if s < 0:
                    more = False
                    break
                lo, hi = _key_of(doc, pos + s, pos + e, fold)
                j = _slot_of(lo, hi, shift)
                prefetch(table, 4 * j)
                keys[0, m], keys[1, m], spans[0, m], spans[1, m], spans[2, m] = lo, hi, j, pos + s, pos + e
                m += 1
            # Count them: find each in the chunk's table, or keep its bytes as a new word.
            # (Written out here and in _encode_docs, not in a helper: a helper taking the
            # arrays costs reference counting on every call, 4x this whole loop, and even
            # inlined by numba, one shared by both loops made them 2-4 % slower.)
            for i in range(m):
                lo, hi, j, a, b = keys[0, i], keys[1, i], spans[0, i], spans[1, i], spans[2, i]
                while True:
                    held = table[4 * j + 1]
                    if held == 0:
                        break
                    if held == hi and table[4 * j] == lo:
                        k = table[4 * j + 2]
                        if hi != _LONG_KEY or _same_word(wbuf, wstart[k], wstop[k], doc, a, b, fold):
                            break
                    j = (j + 1) & mask
                if held == 0:
                    _copy_folded(doc, a, b, wbuf, top, fold)
                    wstart[n_w], wstop[n_w], wlo[n_w], whi[n_w], wslot[n_w] = top, top + b - a, lo, hi, j
                    table[4 * j], table[4 * j + 1], table[4 * j + 2], table[4 * j + 3] = lo, hi, np.uint64(n_w), 0
                    top += b - a
                    n_w += 1
                table[4 * j + 3] += np.uint64(1)
                tokens[n_tok] = np.int32(table[4 * j + 2])
                n_tok += 1
        doc_tok[d + 1] = n_tok
        d += 1
    return d, n_tok, top, n_w, run, False, 0


@nb.njit(cache=True, nogil=True)
def _count_unicode_doc(buf, pos, end, is_sep, lower, tokens, n_tok, wbuf, top, wstart, wstop, wlo, whi, wslot, n_w,
                       table):
    """_count_docs for one document with non-ASCII bytes: each word is decoded and
    lowered by _next_word into wbuf at top, where it stays if it is new. Returns (n_tok,
    top, n_w)."""
    shift = _shift_for(table.shape[0] >> 2)
    mask = (table.shape[0] >> 2) - 1
    no_fold = np.uint64(0)
    while True:
        pos, b = _next_word(buf, pos, end, is_sep, lower, wbuf, top)
        if b == top:
            return n_tok, top, n_w
        lo, hi = _key_of(wbuf, top, b, no_fold)
        j = _slot_of(lo, hi, shift)
        while True:
            j = _probe(table, j, lo, hi)
            k = table[4 * j + 2]
            if (table[4 * j + 1] == 0 or hi != _LONG_KEY
                    or _same_word(wbuf, wstart[k], wstop[k], wbuf, top, b, no_fold)):
                break
            j = (j + 1) & mask
        if table[4 * j + 1] == 0:
            wstart[n_w], wstop[n_w], wlo[n_w], whi[n_w], wslot[n_w] = top, b, lo, hi, j
            table[4 * j], table[4 * j + 1], table[4 * j + 2], table[4 * j + 3] = lo, hi, np.uint64(n_w), 0
            top = b
            n_w += 1
        table[4 * j + 3] += np.uint64(1)
        tokens[n_tok] = np.int32(table[4 * j + 2])
        n_tok += 1


@nb.njit(cache=True, nogil=True)
def _merge_chunk(gbuf, gtop, gstart, gstop, gkey, gcount, n_g, slots, wbuf, wstart, wstop, wlo, whi, wcount,
                 to_global):
    """Merge one chunk's distinct words into the table of all words so far (see
    _WordTable): to_global[k] <- the number of chunk word k, a new word getting the next
    number and a copy of its bytes. Returns (gtop, n_g). The arrays must have room.
    Slots are prefetched _AHEAD words ahead: the table is larger than the caches."""
    shift = _shift_for(slots.shape[0])
    mask = slots.shape[0] - 1
    n = wstart.shape[0]
    for k in range(n):
        if k + _AHEAD < n:
            prefetch(slots, _slot_of(wlo[k + _AHEAD], whi[k + _AHEAD], shift))
        lo, hi, a, b = wlo[k], whi[k], wstart[k], wstop[k]
        j = _slot_of(lo, hi, shift)
        while True:
            g = slots[j]
            if g < 0 or (gkey[2 * g + 1] == hi and gkey[2 * g] == lo and
                         (hi != _LONG_KEY or _same_word(gbuf, gstart[g], gstop[g], wbuf, a, b, np.uint64(0)))):
                break
            j = (j + 1) & mask
        if g < 0:
            g = n_g
            for q in range(0, b - a, 8):
                store8(gbuf, gtop + q, load8(wbuf, a + q))
            gstart[g], gstop[g], gkey[2 * g], gkey[2 * g + 1], gcount[g] = gtop, gtop + b - a, lo, hi, 0
            slots[j] = g
            gtop += b - a
            n_g += 1
        gcount[g] += wcount[k]
        to_global[k] = g
    return gtop, n_g


_AHEAD = 16


@nb.njit(cache=True)
def _slots_for(gkey, n, cap):
    """An open-addressing table (int32 [cap], -1 empty) of the keys gkey[2g:2g + 2], g < n."""
    slots = np.full(cap, -1, np.int32)
    shift = _shift_for(cap)
    for g in range(n):
        j = _slot_of(gkey[2 * g], gkey[2 * g + 1], shift)
        while slots[j] >= 0:
            j = (j + 1) & (cap - 1)
        slots[j] = g
    return slots


class _WordTable:
    """The distinct words of the chunks merged so far, numbered in order of first
    occurrence: word g is buf[start[g]:stop[g]], with the key key[2g:2g + 2], counted
    count[g] times. Chunks are merged in document order and each numbers its words by
    first occurrence, so the numbers are in order of first occurrence in all the texts.

    Unlike the chunks' key tables, the slots hold word numbers (int32), and the keys are
    in key: a table of all of 20news's words in 32-byte records took 16 MB, which cost
    more to fault in than the extra load per merged word."""

    def __init__(self):
        self.n, self.top = 0, 0
        self.buf = np.empty(1 << 20, np.uint8)
        self.start, self.stop, self.count = (np.empty(1 << 15, np.int64) for _ in range(3))
        self.key = np.empty(2 << 15, np.uint64)
        self.slots = np.full(1 << 16, -1, np.int32)

    def add(self, wbuf, wstart, wstop, wlo, whi, wcount) -> np.ndarray:
        """Merge a chunk's distinct words; returns each one's number (int32)."""
        n_w = wstart.shape[0]
        if self.top + wbuf.shape[0] + 8 > self.buf.shape[0]:
            self.buf = _grown(self.buf, self.top, self.top + wbuf.shape[0] + 8)
        if self.n + n_w > self.start.shape[0]:
            self.start, self.stop, self.count = (_grown(x, self.n, self.n + n_w)
                                                 for x in (self.start, self.stop, self.count))
            self.key = _grown(self.key, 2 * self.n, 2 * self.start.shape[0])
        if 2 * (self.n + n_w) > self.slots.shape[0]:
            self.slots = _slots_for(self.key, self.n, capacity_for(self.n + n_w))
        to_global = np.empty(n_w, np.int32)
        self.top, self.n = _merge_chunk(self.buf, self.top, self.start, self.stop, self.key, self.count, self.n,
                                        self.slots, wbuf, wstart, wstop, wlo, whi, wcount, to_global)
        return to_global


def _grown(array: np.ndarray, used: int, size: int) -> np.ndarray:
    """A copy of array[:used] with room for at least size elements (doubling)."""
    bigger = np.empty(max(size, 2 * array.shape[0]), array.dtype)
    bigger[:used] = array[:used]
    return bigger


@nb.njit(cache=True, nogil=True)
def _encode_tokens(tokens, doc_tok, id_of_token, max_len, keep_last, pad_front, ids, lengths):
    """ids[d] <- id_of_token[t] for the tokens t of document d, truncated and padded to
    max_len (the rows must come zeroed: see _finish_row); lengths[d] <- its number of
    words."""
    for d in range(doc_tok.shape[0] - 1):
        a, b = doc_tok[d], doc_tok[d + 1]
        row = ids[d]
        first = a if not keep_last else max(a, b - max_len)
        for j in range(first, min(b, first + max_len)):
            row[j - first] = id_of_token[tokens[j]]
        lengths[d] = b - a
        _finish_row(row, min(b - a, max_len), max_len, False, pad_front)


@nb.njit(cache=True, nogil=True)
def _touch_pages(zeros):
    """Write a zero on every 4 KB page of the zeroed array: the kernel faults its pages in
    (and zeroes them) now, not while the ids are written."""
    for i in range(0, zeros.shape[0], 4096 // zeros.itemsize):
        zeros[i] = 0


@nb.njit(cache=True)
def _gather_words(wbuf, wstart, wstop, which):
    """Words wbuf[wstart[g]:wstop[g]] for g in which, packed (buf, offsets [n + 1]) and
    also as lines (each followed by a newline)."""
    n = which.shape[0]
    offsets = np.zeros(n + 1, np.int64)
    for i in range(n):
        offsets[i + 1] = offsets[i] + wstop[which[i]] - wstart[which[i]]
    buf = np.empty(offsets[n], np.uint8)
    lines = np.empty(offsets[n] + n, np.uint8)
    for i in range(n):
        a = wstart[which[i]]
        for q in range(offsets[i + 1] - offsets[i]):
            buf[offsets[i] + q] = wbuf[a + q]
            lines[offsets[i] + i + q] = wbuf[a + q]
        lines[offsets[i + 1] + i] = 10  # "\n"
    return buf, offsets, lines


# ---------------------------------------------------------------------------
# Chunks of documents, and the threads that split them. This thread finds where each
# text's UTF-8 bytes are and cuts the texts into chunks of consecutive documents; a
# pool of threads runs the kernels on the chunks, which copy each document's bytes
# from where they are, all without the GIL.

CHUNK_BYTES = 4 << 20  # UTF-8 bytes per chunk of documents that count_words hands to a thread
ENCODE_CHUNK_BYTES = 1 << 20  # the same for Tokenizer.encode (no merge after it, so smaller)
_pools: dict[int, ThreadPoolExecutor] = {}
# A forked child has none of the parent's threads: it starts pools of its own.
os.register_at_fork(after_in_child=_pools.clear)


def _chunk_pool() -> ThreadPoolExecutor:
    """The threads that count or encode chunks, one per numba thread, kept for the
    process: starting threads on every call costs more than small inputs take."""
    threads = max(1, nb.get_num_threads())
    if threads not in _pools:
        _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="fastnews-tokenize")
    return _pools[threads]


def _as_sequence(texts) -> list[str] | tuple[str, ...]:
    """texts as something that has a length and slices (a generator becomes a list)."""
    return texts if isinstance(texts, (list, tuple)) else list(texts)


# CPython keeps the characters of a compact ASCII str (nearly every str of English text)
# and the bytes of a bytes object right after a header of fixed size; id() is the
# object's address, and sys.getsizeof counts the header, the bytes and a closing NUL.
# So the kernels copy a text's UTF-8 bytes straight from the str, one document at a
# time into a buffer that stays in cache, without str.encode, which holds the GIL:
# packing chunks in this thread had cost ~10 ms of the 60 for 20news, and kept the pool
# threads waiting for the GIL to start and end their chunks.
_STR_HEADER = sys.getsizeof("") - 1
_BYTES_HEADER = sys.getsizeof(b"") - 1


def _layout_known() -> bool:
    """Whether this interpreter keeps str and bytes as described above (checked once)."""
    if sys.implementation.name != "cpython":
        return False
    text = "".join(["layout ", "check"])  # built at run time: not a constant or interned str
    data = text.encode()
    return (ctypes.string_at(id(text) + _STR_HEADER, len(text)) == data
            and ctypes.string_at(id(data) + _BYTES_HEADER, len(data)) == data)


_ZERO_COPY = _layout_known()


@dataclass
class _Utf8Texts:
    """Text i's UTF-8 bytes are the sizes[i] bytes at memory address addresses[i], in an
    object that keep holds: the str itself when it is compact ASCII (its length and
    size say so), else its str.encode. The kernels copy them (strtable.copy_from)."""
    addresses: np.ndarray  # int64 [n]
    sizes: np.ndarray      # int64 [n]
    keep: tuple

    @classmethod
    def of(cls, texts: tuple, lengths: np.ndarray) -> "_Utf8Texts":
        """texts, whose lengths (int64, in characters) the caller has counted."""
        n = len(texts)
        if not _ZERO_COPY:  # the texts encoded, end to end in one buffer
            data, offsets = encode_words(texts)
            return cls(data.ctypes.data + offsets[:-1], np.diff(offsets), (texts, data))
        sizes = lengths.copy()
        addresses = np.fromiter(map(id, texts), np.int64, n) + _STR_HEADER
        compact_ascii = (np.fromiter(map(str.isascii, texts), bool, n)
                         & (np.fromiter(map(str.__sizeof__, texts), np.int64, n) == sizes + _STR_HEADER + 1))
        encoded = []
        for i in np.flatnonzero(~compact_ascii):
            encoded.append(texts[i].encode("utf-8", "surrogatepass"))
            addresses[i], sizes[i] = id(encoded[-1]) + _BYTES_HEADER, len(encoded[-1])
        return cls(addresses, sizes, (texts, encoded))

    def slice(self, a: int, b: int) -> "_Utf8Texts":
        return _Utf8Texts(self.addresses[a:b], self.sizes[a:b], self.keep)

    @classmethod
    def joined(cls, parts: list["_Utf8Texts"]) -> "_Utf8Texts":
        if len(parts) == 1:
            return parts[0]
        return cls(np.concatenate([p.addresses for p in parts]), np.concatenate([p.sizes for p in parts]),
                   tuple(p.keep for p in parts))


def _utf8_chunks(texts: tuple, lengths: np.ndarray, chunk_bytes: int):
    """(first document, _Utf8Texts) for runs of consecutive texts (of lengths characters)
    of at least chunk_bytes
    bytes, each cut at the text that reaches chunk_bytes (the last may be shorter); one
    empty chunk for no texts. The texts are looked at 512 at a time, so the first chunk
    is ready after the first few groups, not after a pass over all the texts."""
    first, parts, size = 0, [], 0
    for a in range(0, len(texts), 512):
        part = _Utf8Texts.of(texts[a:a + 512], lengths[a:a + 512])
        ends = size + np.cumsum(part.sizes)
        while ends.shape[0] and ends[-1] >= chunk_bytes:
            cut = int(np.searchsorted(ends, chunk_bytes)) + 1  # the texts that fill the chunk
            yield first, _Utf8Texts.joined(parts + [part.slice(0, cut)])
            first, parts, size = first + sum(p.sizes.shape[0] for p in parts) + cut, [], 0
            part, ends = part.slice(cut, part.sizes.shape[0]), ends[cut:] - ends[cut - 1]
        if ends.shape[0]:
            parts.append(part)
            size = int(ends[-1])
    if parts or not texts:
        yield first, _Utf8Texts.joined(parts) if parts else _Utf8Texts.of((), lengths)


def _in_chunks(texts: list[str], chunk_bytes: int, work):
    """work(first document, _Utf8Texts) for each chunk of texts of about chunk_bytes
    bytes (_utf8_chunks), run by the pool while this thread finds the next chunk's
    texts; yields (first document, result) in document order. At most two chunks per
    thread are in flight, so memory stays bounded on a corpus of any size. A single
    chunk is run in this thread."""
    texts = tuple(texts)  # keeps the strs alive
    # Chunks of equal size, a multiple of the threads in number, so that the threads
    # finish together (the last chunk was the odd one, and one core idled while the
    # other counted it). Sizes in characters, close enough to bytes.
    threads = max(1, nb.get_num_threads())
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    total = int(lengths.sum())
    n_chunks = -(-max(1, round(total / chunk_bytes)) // threads) * threads
    chunks = _utf8_chunks(texts, lengths, max(1, total // n_chunks) if total >= chunk_bytes else chunk_bytes)
    first, following = next(chunks), next(chunks, None)

    def run(a: int, utf8: _Utf8Texts, started: threading.Event | None = None):
        if started is not None:
            started.set()
        return work(a, utf8)

    if following is None:
        yield first[0], run(*first)
        return
    pool = _chunk_pool()
    pending = collections.deque()
    for a, utf8 in itertools.chain((first, following), chunks):
        if len(pending) < threads:
            # An idle thread needs the GIL to start, and this thread would keep it for up
            # to sys.getswitchinterval() (5 ms); wait for the thread to take it instead.
            started = threading.Event()
            pending.append((a, pool.submit(run, a, utf8, started)))
            started.wait()
        else:
            pending.append((a, pool.submit(run, a, utf8)))
        if len(pending) > 2 * threads:
            done, result = pending.popleft()
            yield done, result.result()
    while pending:
        done, result = pending.popleft()
        yield done, result.result()


# ---------------------------------------------------------------------------
# Public API.


@dataclass(frozen=True)
class TokenizerConfig:
    max_len: int = 1000
    lowercase: bool = True
    padding: str = "post"      # where padding goes: "post" (after the words) or "pre"
    truncating: str = "post"   # which words a long text loses: "post" (the last) or "pre"
    min_len: int = 1           # shortest input the model accepts; inference pads up to it

    def __post_init__(self):
        if self.padding not in ("post", "pre") or self.truncating not in ("post", "pre"):
            raise ValueError("padding and truncating must be 'post' or 'pre'")
        if self.max_len < max(1, self.min_len):
            raise ValueError(f"max_len {self.max_len} is shorter than the model's minimum length {self.min_len}")


@dataclass
class Encoded:
    ids: np.ndarray      # int32 [n_docs, max_len]
    lengths: np.ndarray  # int32 [n_docs], true word counts before truncation


class Tokenizer:
    """A fitted vocabulary plus the settings that turn text into model input."""

    def __init__(self, vocab: list[str], config: TokenizerConfig = TokenizerConfig(),
                 table: StringTable | None = None):
        """table: the vocabulary's StringTable, when the caller has its bytes already."""
        self.vocab = list(vocab)
        self.config = config
        self.table = table if table is not None else StringTable.from_words(self.vocab)
        # The encode kernel's own index of the vocabulary, a key table (_key_of; the
        # StringTable's FNV-1a hashes are what GloVe stores keep on disk).
        self._vbuf = np.concatenate((self.table.buf, np.zeros(16, np.uint8)))
        self._index = _index_words(self._vbuf, self.table.offsets, _key_table(capacity_for(len(self.vocab))))

    @property
    def n_ids(self) -> int:
        """Rows of the embedding table: vocabulary plus pad and unknown."""
        return len(self.vocab) + N_SPECIAL

    @classmethod
    def fit(cls, texts: list[str], vocab_size: int = 20000, config: TokenizerConfig = TokenizerConfig()):
        """Keep the vocab_size most frequent words of texts."""
        return cls.fit_encode(texts, vocab_size, config, encode=False)[0]

    @classmethod
    def fit_encode(cls, texts: list[str], vocab_size: int = 20000, config: TokenizerConfig = TokenizerConfig(),
                   encode: bool = True, min_count: int = 1) -> tuple["Tokenizer", Encoded | None]:
        """Fit on texts and encode the same texts, splitting them only once. The vocabulary
        is the vocab_size most frequent words that occur at least min_count times."""
        counted = count_words(texts, config.lowercase)
        if encode:  # a pool thread faults the id matrix in while this one ranks the words
            ids = np.zeros((counted.n_docs, config.max_len), np.int32)
            faulted = _chunk_pool().submit(_touch_pages, ids.reshape(-1))
        order = _most_frequent(counted.counts, vocab_size)
        order = order[counted.counts[order] >= min_count]  # counts fall along order
        vocab, buf, offsets = counted.packed_words(order)
        tok = cls(vocab, config, StringTable.build(buf, offsets)[0])  # the words are distinct
        if not encode:
            return tok, None
        id_of_word = np.full(counted.counts.shape[0], UNK_ID, np.int32)
        id_of_word[order] = np.arange(N_SPECIAL, N_SPECIAL + order.shape[0], dtype=np.int32)
        faulted.result()
        return tok, counted.encode(id_of_word, config, ids)

    def encode(self, texts: list[str]) -> Encoded:
        """ids of texts, as count_words splits them: in chunks of consecutive texts, this
        thread packing the next chunk while the pool of threads encodes the packed ones
        into their rows. A single chunk is encoded in this thread."""
        texts = _as_sequence(texts)
        ids = np.zeros((len(texts), self.config.max_len), np.int32)  # zeroed: see _finish_row
        lengths = np.empty(len(texts), np.int32)
        cfg = self.config
        is_sep, lower = char_tables(cfg.lowercase)
        fold = _fold_for(cfg.lowercase)

        def encode_chunk(first: int, chunk: _Utf8Texts):
            rows = slice(first, first + chunk.sizes.shape[0])
            _encode_docs(chunk.addresses, chunk.sizes, is_sep, lower, fold, self._index, self.table.offsets,
                         self._vbuf, cfg.max_len, cfg.truncating == "pre", cfg.padding == "pre", ids[rows],
                         lengths[rows])

        for _ in _in_chunks(texts, ENCODE_CHUNK_BYTES, encode_chunk):
            pass
        return Encoded(ids, lengths)

    def split(self, text: str) -> list[str]:
        """The words of one text, as the kernels see them (for inspection and tests)."""
        counted = count_words([text], self.config.lowercase)
        return counted.words(counted.word_of_token())

    def settings(self) -> dict:
        """Everything inference needs besides the vocabulary (stored as JSON in the model)."""
        return {**asdict(self.config), "split_rule": SPLIT_RULE, "pad_id": PAD_ID, "unk_id": UNK_ID}

    @classmethod
    def from_settings(cls, vocab: list[str], settings: dict | str) -> "Tokenizer":
        if isinstance(settings, str):
            settings = json.loads(settings)
        if settings.get("split_rule", SPLIT_RULE) != SPLIT_RULE:
            raise ValueError("model was tokenized with a different split rule: " + str(settings.get("split_rule")))
        fields = TokenizerConfig.__dataclass_fields__
        return cls(vocab, TokenizerConfig(**{k: v for k, v in settings.items() if k in fields}))


@dataclass
class CountedChunk:
    """One chunk's split: its document d (0..) is document first_doc + d of the texts,
    and its words are tokens[doc_tok[d]:doc_tok[d + 1]], numbered by the chunk; chunk
    word k is word to_global[k] of the CountedWords."""
    first_doc: int
    tokens: np.ndarray     # int32 [n_tokens]
    doc_tok: np.ndarray    # int64 [n_docs + 1]
    to_global: np.ndarray  # int32 [chunk words]


@dataclass
class CountedWords:
    """Texts split into words, with every distinct word counted.

    Word g (0.., in order of first occurrence in the texts) occurs counts[g] times;
    its lowered UTF-8 bytes are wbuf[wstart[g]:wstop[g]]."""
    n_docs: int
    chunks: list[CountedChunk]
    counts: np.ndarray  # int64 [n_words]
    wbuf: np.ndarray    # uint8
    wstart: np.ndarray  # int64 [n_words]
    wstop: np.ndarray   # int64 [n_words]

    def words(self, which: np.ndarray) -> list[str]:
        return self.packed_words(which)[0]

    def packed_words(self, which: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Words number which, as strs and packed (uint8 buf, int64 offsets)."""
        which = np.asarray(which, np.int64)
        buf, offsets, lines = _gather_words(self.wbuf, self.wstart, self.wstop, which)
        # One decode for all: a word never holds a newline (whitespace separates words).
        words = lines[:-1].tobytes().decode("utf-8", "surrogatepass").split("\n") if which.shape[0] else []
        return words, buf, offsets

    def word_of_token(self) -> np.ndarray:
        """Global word number of every token, documents in order."""
        return np.concatenate([c.to_global[c.tokens] for c in self.chunks])

    def encode(self, id_of_word: np.ndarray, config: TokenizerConfig, ids: np.ndarray | None = None) -> Encoded:
        """ids of the same texts, given the model id of every global word, into ids (int32
        [n_docs, max_len], zeroed: see _finish_row) when given. The pool of threads writes
        the chunks' rows. (Not a prange kernel: numba's OpenMP workers spin for a while
        after each parallel region, and that cost the next fit ~10 ms of CPU on two cores.)"""
        if ids is None:
            ids = np.zeros((self.n_docs, config.max_len), np.int32)
        lengths = np.empty(self.n_docs, np.int32)
        def encode_chunk(c: CountedChunk):
            rows = slice(c.first_doc, c.first_doc + c.doc_tok.shape[0] - 1)
            _encode_tokens(c.tokens, c.doc_tok, id_of_word[c.to_global], config.max_len,
                           config.truncating == "pre", config.padding == "pre", ids[rows], lengths[rows])

        if len(self.chunks) == 1:
            encode_chunk(self.chunks[0])
        else:
            for _ in _chunk_pool().map(encode_chunk, self.chunks):
                pass
        return Encoded(ids, lengths)


def count_words(texts: list[str], lowercase: bool = True, chunk_bytes: int | None = None) -> CountedWords:
    """Split texts and count their words, in one pass over their bytes.

    The texts go in chunks of consecutive documents, about chunk_bytes (default
    CHUNK_BYTES) of UTF-8 each (_in_chunks), to a pool of threads, which pack, split and
    count each chunk without the GIL (_count_into), each into a key table of its own;
    several chunks per thread keep all cores busy to the end. This thread merges each
    chunk's distinct words into one table (_WordTable), in document order, as soon as
    the chunk is counted. The result does not depend on the chunks or the number of
    threads."""
    texts = _as_sequence(texts)
    is_sep, lower = char_tables(lowercase)
    fold = _fold_for(lowercase)
    table = _WordTable()
    chunks = []

    def count(first: int, chunk: _Utf8Texts):
        return _count_chunk(chunk, is_sep, lower, fold)

    for first, (tokens, doc_tok, *words) in _in_chunks(texts, chunk_bytes or CHUNK_BYTES, count):
        chunks.append(CountedChunk(first, tokens, doc_tok, table.add(*words)))  # in document order
    n = table.n
    return CountedWords(len(texts), chunks, table.count[:n], table.buf[:table.top], table.start[:n], table.stop[:n])


def _most_frequent(counts: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest counts, largest first, ties in index order: the first k of
    np.argsort(-counts, kind="stable"), without sorting all of them."""
    if k >= counts.shape[0]:
        return np.argsort(-counts, kind="stable")
    if k <= 0:
        return np.zeros(0, np.int64)
    kth = np.partition(counts, counts.shape[0] - k)[counts.shape[0] - k]  # the k-th largest count
    above = np.flatnonzero(counts > kth)
    pick = np.sort(np.concatenate((above, np.flatnonzero(counts == kth)[:k - above.shape[0]])))
    return pick[np.argsort(-counts[pick], kind="stable")]


def word_counts(texts: list[str], lowercase: bool = True) -> tuple[list[str], np.ndarray]:
    """Distinct words by decreasing count (ties: first occurrence first), and their counts."""
    counted = count_words(texts, lowercase)
    order = np.argsort(-counted.counts, kind="stable")
    return counted.words(order), counted.counts[order]
