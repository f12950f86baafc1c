"""The split rule, in one place: the per-code-point tables and the ASCII separator ranges.

A text is lowercased one character at a time with Python's own ``str.lower`` (so 'İ'
becomes 'i̇' and there is no context-dependent final sigma), then cut at every
separator. A separator is any Unicode whitespace character (``str.isspace``) or one of
Keras's default ``Tokenizer`` filters, ``!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~``. Words are
the non-empty runs between separators. Apostrophes and digits stay inside words, as in
Keras.
"""

from __future__ import annotations

import functools

import numpy as np


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
    return separator_table().copy(), lower


@functools.lru_cache(maxsize=1)
def separator_table() -> np.ndarray:
    """is_sep uint8 [0x110000]: 1 at every separator code point of SPLIT_RULE."""
    is_sep = np.zeros(MAX_CODEPOINT, np.uint8)
    for cp in range(0x3001):  # every str.isspace() code point is below U+3001
        if chr(cp).isspace():
            is_sep[cp] = 1
    for ch in KERAS_FILTERS:
        is_sep[ord(ch)] = 1
    is_sep.flags.writeable = False
    return is_sep


def separator_runs() -> list[tuple[int, int]]:
    """The separator code points as inclusive (low, high) runs (for regular expressions:
    the ONNX text graph's)."""
    cps = np.flatnonzero(separator_table()).tolist()
    runs, start = [], cps[0]
    for prev, cp in zip(cps[:-1], cps[1:]):
        if cp != prev + 1:
            runs.append((start, prev))
            start = cp
    runs.append((start, cps[-1]))
    return runs


_TABLES: dict[bool, tuple[np.ndarray, np.ndarray]] = {}


def char_tables(lowercase: bool = True) -> tuple[np.ndarray, np.ndarray]:
    if lowercase not in _TABLES:
        is_sep, lower = _build_char_tables()
        if not lowercase:
            lower = np.arange(MAX_CODEPOINT, dtype=np.int32)
        _TABLES[lowercase] = (is_sep, lower)
    return _TABLES[lowercase]


# ---------------------------------------------------------------------------
# Eight bytes at a time. An ASCII text (all but 31 of 20news's 18,846) is classified 8
# bytes at once into a bitmap of its word bytes, and its words are read off the bitmap
# with bit scans, so finding the next word does not wait on a branch per byte. Words
# are keyed (_key_of), copied and compared 8 bytes at a time. Other texts take
# _next_word.

def _ascii_separator_ranges() -> list[tuple[int, int]]:
    """The ASCII separators of SPLIT_RULE as inclusive (low, high) runs of bytes."""
    return [(lo, min(hi, 0x7F)) for lo, hi in separator_runs() if lo < 0x80]


# Byte b (< 0x80) is in [lo, hi] when b + (0x80 - lo) reaches bit 7 and b + (0x7F - hi)
# does not; with bit 7 of every byte cleared first, no sum carries into the next byte.
_ONES = 0x0101010101010101
_SEP_LO = np.array([(0x80 - lo) * _ONES for lo, _ in _ascii_separator_ranges()], np.uint64)
_SEP_HI = np.array([(0x7F - hi) * _ONES for _, hi in _ascii_separator_ranges()], np.uint64)
_UPPER_LO, _UPPER_HI = np.uint64((0x80 - 0x41) * _ONES), np.uint64((0x7F - 0x5A) * _ONES)  # 'A'..'Z'
ASCII_FOLD = np.uint64(0x20 * _ONES)  # the bit that lowercases 'A'..'Z'
_MOVEMASK = np.uint64(0x0102040810204080)


def _fold_for(lowercase: bool) -> np.uint64:
    """The _fold argument: str.lower on ASCII lowers exactly 'A'..'Z'."""
    return ASCII_FOLD if lowercase else np.uint64(0)
