"""Chunks of documents, and the threads that split them.

This thread finds where each text's UTF-8 bytes are and cuts the texts into chunks of
consecutive documents; a pool of threads runs the kernels on the chunks, which copy
each document's bytes from where they are, all without the GIL."""

from __future__ import annotations

import collections
import ctypes
import itertools
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba as nb
import numpy as np

from fastnews.strtable import encode_words


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
