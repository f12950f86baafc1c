"""UTF-8 in the kernels: decode a code point, encode one, and the per-code-point word
loop that any text (not only ASCII) can take."""

from __future__ import annotations

import numba as nb
import numpy as np

import fastnews._kernel_cache  # noqa: F401  (keys numba's cache of the kernels below)


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
