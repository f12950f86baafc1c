"""The words of all chunks merged into one table, counted, ranked and encoded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba as nb
import numpy as np

from fastnews.strtable import capacity_for, load8, prefetch, store8
from fastnews.tokenize.bitmap import _same_word
from fastnews.tokenize.chars import _fold_for, char_tables
from fastnews.tokenize.chunks import CHUNK_BYTES, _as_sequence, _chunk_pool, _in_chunks, _Utf8Texts
from fastnews.tokenize.count import _AHEAD, _count_chunk
from fastnews.tokenize.encode import _encode_tokens
from fastnews.tokenize.keys import _LONG_KEY, _shift_for, _slot_of
from fastnews.tokenize.settings import Encoded

if TYPE_CHECKING:
    from fastnews.tokenize.settings import TokenizerConfig


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


def count_words(texts: list[str], lowercase: bool = True, chunk_bytes: int = CHUNK_BYTES) -> CountedWords:
    """Split texts and count their words, in one pass over their bytes.

    The texts go in chunks of consecutive documents, about chunk_bytes of UTF-8 each (_in_chunks), to a pool of threads, which pack, split and
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

    for first, (tokens, doc_tok, *words) in _in_chunks(texts, chunk_bytes, count):
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


def word_counts(texts: list[str], lowercase: bool = True, chunk_bytes: int = CHUNK_BYTES) -> tuple[list[str], np.ndarray]:
    """Distinct words by decreasing count (ties: first occurrence first), and their counts."""
    counted = count_words(texts, lowercase, chunk_bytes)
    order = np.argsort(-counted.counts, kind="stable")
    return counted.words(order), counted.counts[order]
