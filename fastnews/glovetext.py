"""The GloVe text parser: a numba kernel over a file's raw bytes, parallel over lines.

Each line is split on its *last* ``dim`` spaces, because some GloVe releases (840B)
have words that contain spaces. CRLF line ends and a missing final newline are fine; a
line with too few values, or a value that is not a number, is an error naming its line
number. Each value "[-]D.F" is read with two unaligned 8-byte loads and a three-multiply
digit conversion; anything else (exponents, long mantissas) takes the byte loop, and
nan, inf and the like fall back to Python's float.
"""

from __future__ import annotations

import os
from pathlib import Path

import numba as nb
import numpy as np

import fastnews._kernel_cache  # noqa: F401  (keys numba's cache of the kernels below)
from fastnews.errors import GloveError
from fastnews.strtable import HIGH_BITS as _HIGH
from fastnews.strtable import LOW7_BITS as _LOW7
from fastnews.strtable import first_flagged, load8, low_bytes

# Line status codes from the parser.
_OK, _BLANK, _TOO_FEW, _BAD_NUMBER, _SLOW = 0, 1, 2, 3, 4


# ---------------------------------------------------------------------------
# Kernels.

_POW10 = np.array([10.0 ** k for k in range(23)])  # exact in float64 up to 1e22


_ONES = np.uint64(0x0101010101010101)
_NEWLINES = np.uint64(0x0A0A0A0A0A0A0A0A)


@nb.njit(cache=True, parallel=True)
def _newlines(buf, buf64):
    """Positions of every newline byte, in order.

    buf64 is buf's first len(buf) // 8 * 8 bytes seen as uint64: 8 bytes are tested at
    once for a newline (the "has a zero byte" bit trick on x ^ 0x0A0A...), and only a
    word that has one is looked at byte by byte. Two parallel passes over 64 chunks:
    count, then write. Memory-bound: ~10 GB/s here, 3x the byte-at-a-time loop."""
    n, n64, n_chunks = buf.shape[0], buf64.shape[0], 64
    size = (n64 + n_chunks - 1) // n_chunks
    counts = np.zeros(n_chunks + 2, np.int64)
    for c in nb.prange(n_chunks):
        k = 0
        for i in range(c * size, min(n64, (c + 1) * size)):
            x = buf64[i] ^ _NEWLINES
            if (x - _ONES) & ~x & _HIGH:
                for j in range(8 * i, 8 * i + 8):
                    k += buf[j] == 10
        counts[c + 1] = k
    for j in range(8 * n64, n):  # the last n % 8 bytes
        counts[n_chunks + 1] += buf[j] == 10
    before = np.cumsum(counts)
    out = np.empty(before[n_chunks + 1], np.int64)
    for c in nb.prange(n_chunks):
        k = before[c]
        for i in range(c * size, min(n64, (c + 1) * size)):
            x = buf64[i] ^ _NEWLINES
            if (x - _ONES) & ~x & _HIGH:
                for j in range(8 * i, 8 * i + 8):
                    if buf[j] == 10:
                        out[k] = j
                        k += 1
    k = before[n_chunks]
    for j in range(8 * n64, n):
        if buf[j] == 10:
            out[k] = j
            k += 1
    return out


def _line_bounds(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of every line; ends exclude the newline. A final line without
    a newline counts; the empty "line" after a final newline does not."""
    n = buf.shape[0]
    ends = _newlines(buf, buf[:n // 8 * 8].view(np.uint64))
    if n and buf[n - 1] != 10:
        ends = np.append(ends, n)
    starts = np.empty_like(ends)
    if ends.shape[0]:
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    return starts, ends


@nb.njit(cache=True, inline="always")
def _parse_float(buf, a, b, pow10):
    """The number that starts at buf[a], reading no further than b.

    Correctly rounded float64 when it has at most 17 significant digits and |decimal
    exponent| <= 22 (one exact multiply or divide, as Clinger's fast path). Returns
    (value, status, stop): status _OK, _BAD_NUMBER, or _SLOW for Python to redo; stop
    is where the number ended, which the caller checks against the field's end."""
    if a >= b:
        return 0.0, _BAD_NUMBER, a
    neg = False
    i = a
    if buf[i] == 45 or buf[i] == 43:  # '-' '+'
        neg = buf[i] == 45
        i += 1
    mant = np.int64(0)
    digits = 0       # digits taken into mant, leading zeros included (> 17: Python redoes it)
    exp10 = 0
    after_dot = 0
    # One loop over digits and at most one '.': one hard-to-predict exit per number, not two.
    while i < b:
        c = buf[i]
        if 48 <= c <= 57:
            mant = mant * 10 + (c - 48)
            digits += 1
            exp10 -= after_dot
        elif c == 46 and after_dot == 0:
            after_dot = 1
        else:
            break
        i += 1
    seen = digits > 0
    if not seen:
        return 0.0, _SLOW, i  # 'nan', 'inf' or junk: let Python decide
    if i < b and (buf[i] == 101 or buf[i] == 69):  # 'e' 'E'
        i += 1
        eneg = False
        if i < b and (buf[i] == 45 or buf[i] == 43):
            eneg = buf[i] == 45
            i += 1
        if i >= b:
            return 0.0, _BAD_NUMBER, i
        e = 0
        while i < b and 48 <= buf[i] <= 57:
            e = min(e * 10 + (buf[i] - 48), 100000)
            i += 1
        exp10 += -e if eneg else e
    if digits > 17 or mant >= (1 << 53):
        return 0.0, _SLOW, i
    if mant == 0:
        return -0.0 if neg else 0.0, _OK, i
    if exp10 < -22 or exp10 > 22:
        return 0.0, _SLOW, i
    v = float(mant)
    v = v / pow10[-exp10] if exp10 < 0 else v * pow10[exp10]
    return (-v if neg else v), _OK, i


# Eight bytes at a time: the common "[-]ddd.ddddd" value without a branch per byte.

_ZEROS = np.uint64(0x3030303030303030)  # '0' in every byte
_PLUS118 = np.uint64(0x7676767676767676)  # 128 - 10: a byte >= 10 reaches the high bit
_PAIR_MASK = np.uint64(0x000000FF000000FF)
_MUL1 = np.uint64(100 + (1000000 << 32))
_MUL2 = np.uint64(1 + (10000 << 32))
_U8, _U32 = np.uint64(8), np.uint64(0xFFFFFFFF)
_POW10_INT = np.array([10 ** k for k in range(9)], np.uint64)


@nb.njit(cache=True, inline="always")
def _nondigits(w):
    """The high bit of every byte of w that is not an ASCII digit: x = byte ^ '0' is
    below 10 exactly for digits, and (x & 0x7F) + 118 carries into bit 7 when x >= 10."""
    x = w ^ _ZEROS
    return (((x & _LOW7) + _PLUS118) | x) & _HIGH


@nb.njit(cache=True, inline="always")
def _eight_digits(w):
    """The value of 8 ASCII digits, the first in the low byte (three multiplies)."""
    w = w - _ZEROS
    w = w * np.uint64(10) + (w >> _U8)
    return (((w & _PAIR_MASK) * _MUL1 + ((w >> np.uint64(16)) & _PAIR_MASK) * _MUL2) >> np.uint64(32)) & _U32


@nb.njit(cache=True, inline="always")
def _leading_digits(w, k):
    """The value of the first k (1..8) bytes of w, all digits: shifted to the top, with
    '0's shifted in below as leading zeros."""
    s = np.uint64(64 - 8 * k)
    return _eight_digits((w << s) | ((_ZEROS >> np.uint64(1)) >> (np.uint64(63) - s)))


@nb.njit(cache=True, inline="always")
def _parse_plain(buf, p, pow10):
    """A value "[-]D.F" at buf[p], 1-7 digits D and at least one digit F, 15 digits at
    most, as _parse_float computes it: the mantissa DF divided once by 10^len(F).
    Returns (value, ok, stop); not ok means anything else (no dot, an exponent, more
    digits), for _parse_float to decide. Reads up to 17 bytes past p."""
    neg = np.int64(buf[p] == 45)
    p += neg  # no branch: the sign is a coin toss in GloVe files
    head = load8(buf, p)
    nd = _nondigits(head)
    if nd == 0:
        return 0.0, False, p
    d = first_flagged(nd)
    if d == 0 or buf[p + d] != 46:
        return 0.0, False, p
    # The digits without the dot: head's first d bytes, then the bytes from p + 1 on
    # (byte j of that load, j >= d, is the (j - d)th digit after the dot).
    below = low_bytes(d)
    digits = (head & below) | (load8(buf, p + 1) & ~below)
    nd = _nondigits(digits)
    if nd != 0:
        n = first_flagged(nd)
        mant = _leading_digits(digits, n) if n > d else np.uint64(0)
    else:  # 8 digits or more: the rest continue at p + 9
        rest = load8(buf, p + 9)
        nd = _nondigits(rest)
        if nd == 0:
            return 0.0, False, p
        g = first_flagged(nd)
        n = 8 + g
        mant = _eight_digits(digits) * _POW10_INT[g]
        if g:
            mant += _leading_digits(rest, g)
    f = n - d
    if f == 0:
        return 0.0, False, p
    return float(np.int64(mant)) / pow10[f] * (1 - 2 * neg), True, p + n + 1


@nb.njit(cache=True, parallel=True)
def _parse_lines(buf, starts, ends, dim, pow10, vectors, word_start, word_end, status):
    for ln in nb.prange(starts.shape[0]):
        _parse_line(buf, starts[ln], ends[ln], dim, pow10, ln, vectors, word_start, word_end, status)


@nb.njit(cache=True, inline="always")
def _parse_line(buf, s, e, dim, pow10, ln, vectors, word_start, word_end, status):
    while e > s and (buf[e - 1] == 13 or buf[e - 1] == 32):  # CR of CRLF, trailing spaces
        e -= 1
    if e == s:
        status[ln] = _BLANK
        return
    # Fast path, one pass forward: a word without spaces, then exactly dim values.
    q = s
    while q < e and buf[q] != 32:
        q += 1
    fast = s < q < e
    p = q + 1
    wide = e + 32 <= buf.shape[0]  # room for _parse_plain's 8-byte loads
    for k in range(dim if fast else 0):
        v, plain, stop = _parse_plain(buf, p, pow10) if wide else (0.0, False, p)
        fs = _OK
        if not plain or stop > e:
            v, fs, stop = _parse_float(buf, p, e, pow10)
        if fs != _OK or stop == p or (stop != e if k == dim - 1 else (stop >= e or buf[stop] != 32)):
            fast = False
            break
        vectors[ln, k] = v
        p = stop + 1
    if fast:
        status[ln] = _OK
        word_start[ln] = s
        word_end[ln] = q
        return
    # Otherwise split on the last dim spaces (words may hold spaces), and say what is wrong.
    st = _OK
    p = e
    for k in range(dim):
        q = p - 1
        while q >= s and buf[q] != 32:
            q -= 1
        if q < s:
            st = _TOO_FEW
            break
        v, fs, stop = _parse_float(buf, q + 1, p, pow10)
        if fs == _OK and stop != p:
            fs = _BAD_NUMBER
        if fs != _OK and st == _OK:
            st = fs
        vectors[ln, dim - 1 - k] = v
        p = q
    if st == _OK and p == s:
        st = _TOO_FEW  # values but no word
    status[ln] = st
    word_start[ln] = s
    word_end[ln] = p


@nb.njit(cache=True, parallel=True)
def _gather_words(buf, starts, ends):
    """The words buf[starts[i]:ends[i]] back to back: (bytes, offsets [n + 1], and whether
    each word holds a space, which glove.840B's words may, or a bad line may leave)."""
    n = starts.shape[0]
    offsets = np.zeros(n + 1, np.int64)
    offsets[1:] = np.cumsum(ends - starts)
    out = np.empty(offsets[n], np.uint8)
    spaced = np.zeros(n, np.bool_)
    for i in nb.prange(n):
        o = offsets[i] - starts[i]
        for j in range(starts[i], ends[i]):
            b = buf[j]
            out[o + j] = b
            if b == 32:
                spaced[i] = True
    return out, offsets, spaced


# ---------------------------------------------------------------------------
# Conversion.


def _first_line_dim(buf: np.ndarray) -> int:
    nl = np.flatnonzero(buf[:1 << 20] == 10)
    line = bytes(buf[: nl[0] if nl.size else min(len(buf), 1 << 20)]).rstrip(b"\r ")
    fields = line.split(b" ")
    if len(fields) < 2:
        raise GloveError("line 1: expected 'word v1 ... vD'")
    return len(fields) - 1


_BLOCK_LINES = 8192  # lines parsed per call: 1.6 MB of 50-d rows, which stay in cache


def parse_text(path: str | os.PathLike, vectors_npy: str | os.PathLike, dim: int | None = None):
    """Parse a GloVe text file, writing its rows to the .npy file vectors_npy. Returns
    (words_buf, word_offsets, vectors float32 [n, dim], line_numbers of the rows kept);
    vectors is that file, mapped, unless blank lines made it an in-memory copy.

    The rows are parsed a block at a time into one small buffer, each block written
    out as it is done: on this VM, write() from a buffer in cache moves 80 MB in ~14 ms,
    while page-faulting a fresh array of that size in costs 30-130 ms."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise GloveError(f"{path}: empty file")
    # Mapped, not read: the parallel passes fault the pages in on both cores, and
    # nothing copies the file into a buffer first.
    buf = np.asarray(np.memmap(path, np.uint8, mode="r"))
    dim = dim or _first_line_dim(buf)
    starts, ends = _line_bounds(buf)
    n = starts.shape[0]
    word_start = np.zeros(n, np.int64)
    word_end = np.zeros(n, np.int64)
    status = np.empty(n, np.uint8)
    block = np.empty((min(n, _BLOCK_LINES), dim), np.float32)
    with open(vectors_npy, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (n, dim)})
        for a in range(0, n, _BLOCK_LINES):
            b = min(n, a + _BLOCK_LINES)
            _parse_rows(buf, starts[a:b], ends[a:b], dim, block[:b - a], word_start[a:b], word_end[a:b], status[a:b])
            fh.write(block[:b - a])
    bad = np.flatnonzero((status != _OK) & (status != _BLANK))
    if bad.size:
        ln = int(bad[0])
        line = bytes(buf[starts[ln]:ends[ln]]).rstrip(b"\r ").decode("utf-8", "replace")
        found = len(line.split(" ")) - 1
        what = (f"expected a word and {dim} values, found {max(found, 0)} values"
                if status[ln] == _TOO_FEW else f"a value is not a number: {line[:80]!r}")
        raise GloveError(f"{path}: line {ln + 1}: {what}")
    vectors = np.load(vectors_npy, mmap_mode="r")
    rows = np.flatnonzero(status == _OK)
    if rows.shape[0] < n:  # blank lines: drop their rows
        word_start, word_end, vectors = word_start[rows], word_end[rows], vectors[rows]
    words, offsets, spaced = _gather_words(buf, word_start, word_end)
    _check_extra_values(buf, word_start, word_end, np.flatnonzero(spaced), rows, dim, path)
    return words, offsets, vectors, rows + 1


def _parse_rows(buf, starts, ends, dim, vectors, word_start, word_end, status):
    """Parse the lines starts/ends into vectors' rows, word bounds and status, in place.
    Parsed to the correctly rounded float64, then stored as float32: the same two
    roundings as float(text) -> np.float32, which is how the reference arrays were made."""
    _parse_lines(buf, starts, ends, dim, _POW10, vectors, word_start, word_end, status)
    for i in np.flatnonzero(status == _SLOW):  # rare: nan, inf, >17 digits, huge exponents
        line = bytes(buf[starts[i]:ends[i]]).rstrip(b"\r ").decode("utf-8", "replace")
        try:
            vectors[i] = [float(v) for v in line.rsplit(" ", dim)[1:]]
            status[i] = _OK
        except ValueError:
            status[i] = _BAD_NUMBER


def _check_extra_values(buf, word_start, word_end, spaced, rows, dim, path):
    """A line with more than dim values leaves numbers in its word. Words with spaces
    are legitimate (glove.840B), so only flag a word whose extra pieces are all numbers."""
    for i in spaced:
        pieces = bytes(buf[word_start[i]:word_end[i]]).split(b" ")
        try:
            [float(p) for p in pieces[1:]]
        except ValueError:
            continue
        raise GloveError(f"{path}: line {rows[i] + 1}: expected {dim} values, found {dim + len(pieces) - 1} "
                         f"(mixed dimensions)")
