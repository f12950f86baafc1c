"""Encoding: the words of each document to vocabulary ids, truncated and padded.

Ids: 0 is padding, 1 is an unknown word, 2.. are vocabulary words in order of
decreasing training frequency (ties: first occurrence first, as Keras does)."""

from __future__ import annotations

import numba as nb
import numpy as np

from fastnews.strtable import copy_from, store8
from fastnews.tokenize.bitmap import _RUN_START, _ascii_bitmap, _next_run, _same_word
from fastnews.tokenize.keys import _LONG_KEY, HI, LO, REC, VALUE, _find, _home, _key_of
from fastnews.tokenize.settings import N_SPECIAL, UNK_ID
from fastnews.tokenize.utf8 import _count_in, _next_word


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


@nb.njit(cache=True, inline="always")
def _id_at(index, j):
    """The model id for slot j of the vocabulary's key table: its word's, or UNK_ID."""
    return N_SPECIAL + np.int32(index[REC * j + VALUE]) if index[REC * j + HI] != 0 else UNK_ID


@nb.njit(cache=True, nogil=True)
def _encode_docs(addresses, sizes, is_sep, lower, fold, index, offsets, vbuf,
                 max_len, keep_last, pad_front, ids, lengths):
    """ids[d] <- vocabulary ids of document d (the sizes[d] bytes at addresses[d], copied
    into buf first, as _count_docs does), truncated and padded to max_len; lengths[d] <-
    its true number of words (before truncation). index: the key table of the
    vocabulary vbuf/offsets (_index_words). The rows of ids must come zeroed (see
    _finish_row). A document with non-ASCII bytes goes to _encode_unicode_doc."""
    stops = offsets[1:]  # vocabulary word w is vbuf[offsets[w]:stops[w]]
    mask = index.shape[0] // REC - 1
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
                j = _home(index, lo, hi)
                # keys._find written out, as in count._count_docs: the shared helper cost a few % here.
                while True:
                    held = index[REC * j + HI]
                    if held == 0:
                        break
                    if held == hi and index[REC * j + LO] == lo:
                        w = index[REC * j + VALUE]
                        if hi != _LONG_KEY or _same_word(vbuf, offsets[w], stops[w], buf, s, e, fold):
                            break
                    j = (j + 1) & mask
                # keep_last: a ring buffer over the row, straightened out in _finish_row.
                row[n % max_len] = _id_at(index, j)
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
    stops = offsets[1:]
    no_fold = np.uint64(0)
    pos, n = 0, 0
    while n < max_len or keep_last:
        pos, b = _next_word(buf, pos, end, is_sep, lower, scratch, 0)
        if b == 0:
            return n
        lo, hi = _key_of(scratch, 0, b, no_fold)
        row[n % max_len] = _id_at(index, _find(index, _home(index, lo, hi), lo, hi, vbuf, offsets, stops,
                                               scratch, 0, b, no_fold))
        n += 1
    return n + _count_in(buf, pos, end, is_sep)  # truncated: its true length


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
