"""Counting (fit): split each chunk of documents and count its distinct words into a
key table of its own."""

from __future__ import annotations

import threading

import numba as nb
import numpy as np

from fastnews.strtable import capacity_for, copy_from, prefetch, store8
from fastnews.tokenize.chunks import _Utf8Texts
from fastnews.tokenize.bitmap import _RUN_START, _ascii_bitmap, _copy_folded, _next_run, _same_word
from fastnews.tokenize.keys import (_LONG_KEY, COUNT, HI, LO, REC, VALUE, _find, _home, _key_of, _key_table,
                                    _rehashed, _set)
from fastnews.tokenize.utf8 import _next_word

_AHEAD = 16  # records prefetched this many words ahead


def _count_chunk(texts: _Utf8Texts, is_sep, lower, fold):
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
    if table is None or table.shape[0] // REC < cap:
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
        if 2 * (n_w + room) > table.shape[0] // REC:
            cap = table.shape[0] // REC
            while 2 * (n_w + room) > cap:
                cap *= 2
            table = _rehashed(table, np.zeros(REC * cap, np.uint64), wslot)  # (rare: not cache-line aligned)
    # The counts, then the table left empty again for the thread's next chunk. (Through
    # wslot, loads that do not wait on each other: a scan of the whole table, or a probe
    # per word, cost a tenth of the counting.)
    wcount = np.empty(n_w, np.int64)
    for k in range(n_w):
        if k + _AHEAD < n_w:
            prefetch(table, REC * wslot[k + _AHEAD])
        j = wslot[k]
        wcount[k] = table[REC * j + COUNT]
        _set(table, j, 0, 0, 0, 0)
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
    n_slots = table.shape[0] // REC
    mask = n_slots - 1
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
                if n_w + end // 2 + 1 > wstart.shape[0] or 2 * (n_w + end // 2 + 1) > n_slots:
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
            if n_w + _BATCH > wstart.shape[0] or 2 * (n_w + _BATCH) > n_slots:
                return d, n_tok, top, n_w, run, True, _BATCH
            m = 0
            while m < _BATCH:
                s, e, run = _next_run(bits, n_words, run)
                if s < 0:
                    more = False
                    break
                lo, hi = _key_of(doc, pos + s, pos + e, fold)
                j = _home(table, lo, hi)
                prefetch(table, REC * j)
                keys[0, m], keys[1, m], spans[0, m], spans[1, m], spans[2, m] = lo, hi, j, pos + s, pos + e
                m += 1
            # Count them: find each in the chunk's table, or keep its bytes as a new word.
            for i in range(m):
                lo, hi, j, a, b = keys[0, i], keys[1, i], spans[0, i], spans[1, i], spans[2, i]
                # keys._find written out: in this, the hottest loop, the shared helper cost 4-8 % (RESULTS).
                while True:
                    held = table[REC * j + HI]
                    if held == 0:
                        break
                    if held == hi and table[REC * j + LO] == lo:
                        k = table[REC * j + VALUE]
                        if hi != _LONG_KEY or _same_word(wbuf, wstart[k], wstop[k], doc, a, b, fold):
                            break
                    j = (j + 1) & mask
                if held == 0:
                    _copy_folded(doc, a, b, wbuf, top, fold)
                    wstart[n_w], wstop[n_w], wlo[n_w], whi[n_w], wslot[n_w] = top, top + b - a, lo, hi, j
                    _set(table, j, lo, hi, n_w, 0)
                    top += b - a
                    n_w += 1
                table[REC * j + COUNT] += np.uint64(1)
                tokens[n_tok] = np.int32(table[REC * j + VALUE])
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
    no_fold = np.uint64(0)
    while True:
        pos, b = _next_word(buf, pos, end, is_sep, lower, wbuf, top)
        if b == top:
            return n_tok, top, n_w
        lo, hi = _key_of(wbuf, top, b, no_fold)
        j = _find(table, _home(table, lo, hi), lo, hi, wbuf, wstart, wstop, wbuf, top, b, no_fold)
        if table[REC * j + HI] == 0:
            wstart[n_w], wstop[n_w], wlo[n_w], whi[n_w], wslot[n_w] = top, b, lo, hi, j
            _set(table, j, lo, hi, n_w, 0)
            top = b
            n_w += 1
        table[REC * j + COUNT] += np.uint64(1)
        tokens[n_tok] = np.int32(table[REC * j + VALUE])
        n_tok += 1
