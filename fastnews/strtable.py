"""A hash table of byte strings, as plain numpy arrays that numba kernels can probe.

Both the tokenizer's vocabulary and the GloVe word index are one of these, so that
a word is looked up the same way everywhere: by the exact UTF-8 bytes of the token.
(The tokenizer's encode kernel also keeps a private index of its vocabulary, keyed
by the words' own bytes: tokenize._key_of; the FNV-1a hashes here are what GloVe
stores keep.)

Layout (all arrays, so a table can be saved with np.save and memory-mapped back):

    buf     uint8  [total_bytes]   the words' bytes, back to back
    offsets int64  [n + 1]         word i is buf[offsets[i]:offsets[i + 1]]
    hashes  uint64 [n]             FNV-1a 64 of each word
    slots   int32  [capacity]      open addressing, linear probing; -1 = empty;
                                   otherwise a word index. capacity is a power of two.

Hash collisions are resolved by comparing bytes, so lookups are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

import fastnews._kernel_cache  # noqa: F401  (keys numba's cache of the kernels below)

FNV_OFFSET = np.uint64(14695981039346656037)
FNV_PRIME = np.uint64(1099511628211)


# ---------------------------------------------------------------------------
# Eight bytes at a time (the tokenizer's and the GloVe parser's inner loops). A "flag
# mask" has the high bit of some bytes of a uint64 set, the rest clear.

HIGH_BITS = np.uint64(0x8080808080808080)
LOW7_BITS = np.uint64(0x7F7F7F7F7F7F7F7F)


@intrinsic
def load8(typingctx, arr, idx):
    """arr[idx:idx + 8] as one little-endian uint64: one unaligned load, no bounds
    check, so the caller keeps 8 readable bytes after idx."""
    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        ptr = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(64).as_pointer())
        return builder.load(ptr, align=1)
    return types.uint64(arr, types.intp), codegen


@intrinsic
def store8(typingctx, arr, idx, value):
    """arr[idx:idx + 8] = the 8 little-endian bytes of value (one unaligned store, no
    bounds check)."""
    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        ptr = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(64).as_pointer())
        builder.store(args[2], ptr, align=1)
        return context.get_dummy_value()
    return types.void(arr, types.intp, types.uint64), codegen


@intrinsic
def copy_from(typingctx, arr, idx, address, n):
    """arr[idx:idx + n] = the n bytes at memory address (a memcpy, no bounds check): for
    bytes that Python objects hold, copied without the GIL while those objects live."""
    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        source = builder.inttoptr(args[2], ir.IntType(8).as_pointer())
        cgutils.raw_memcpy(builder, builder.gep(data, [args[1]]), source, args[3], 1)
        return context.get_dummy_value()
    return types.void(arr, types.intp, types.int64, types.intp), codegen


@intrinsic
def prefetch(typingctx, arr, idx):
    """Ask the CPU to start loading the cache line of arr[idx] (a hint: no fault, no
    wait), so that a later read of it does not stall."""
    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        ptr = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]),
                                            "llvm.prefetch.p0i8")
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])  # read, keep, data
        return context.get_dummy_value()
    return types.void(arr, types.intp), codegen


@nb.njit(cache=True, inline="always")
def first_flagged(mask):
    """Index (0-7) of the first byte flagged in a non-zero flag mask."""
    return np.int64(trailing_zeros(mask)) >> 3


@nb.njit(cache=True, inline="always")
def low_bytes(k):
    """A mask of the low k bytes of a uint64, 0 <= k <= 7."""
    return (np.uint64(1) << np.uint64(8 * k)) - np.uint64(1)


@nb.njit(cache=True, inline="always")
def fnv1a(buf, start, end):
    h = FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(buf[i])) * FNV_PRIME
    return h


@nb.njit(cache=True, inline="always")
def _bytes_equal(a, a0, a1, b, b0, b1):
    if a1 - a0 != b1 - b0:
        return False
    for i in range(a1 - a0):
        if a[a0 + i] != b[b0 + i]:
            return False
    return True


@nb.njit(cache=True)
def probe(slots, hashes, offsets, buf, key, k0, k1, h):
    """Index of the word equal to key[k0:k1] (whose hash is h), or -1."""
    mask = slots.shape[0] - 1
    i = np.int64(h & np.uint64(mask))
    while True:
        w = slots[i]
        if w < 0:
            return -1
        if hashes[w] == h and _bytes_equal(buf, offsets[w], offsets[w + 1], key, k0, k1):
            return w
        i = (i + 1) & mask


@nb.njit(cache=True)
def _hash_all(buf, offsets):
    n = offsets.shape[0] - 1
    out = np.empty(n, np.uint64)
    # Serial: 400,000 GloVe words hash in a few ms, and a parallel region would leave
    # numba's OpenMP workers spinning on the cores afterwards.
    for i in range(n):
        out[i] = fnv1a(buf, offsets[i], offsets[i + 1])
    return out


@nb.njit(cache=True)
def _insert_all(buf, offsets, hashes, capacity):
    """Insert words in order. Returns (slots, first) where first[i] is the index of
    the earlier identical word, or i itself when word i is new."""
    slots = np.full(capacity, -1, np.int32)
    mask = capacity - 1
    n = offsets.shape[0] - 1
    first = np.empty(n, np.int64)
    for w in range(n):
        h = hashes[w]
        i = np.int64(h & np.uint64(mask))
        first[w] = w
        while True:
            s = slots[i]
            if s < 0:
                slots[i] = w
                break
            if hashes[s] == h and _bytes_equal(buf, offsets[s], offsets[s + 1], buf, offsets[w], offsets[w + 1]):
                first[w] = s
                break
            i = (i + 1) & mask
    return slots, first


def capacity_for(n: int) -> int:
    """Smallest power of two that keeps the load factor at or below 1/2."""
    cap = 16
    while cap < 2 * n:
        cap *= 2
    return cap


def encode_words(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes of each string, back to back (read-only uint8), and int64 offsets [n + 1].
    Lone surrogates pass through (surrogatepass), so every Python str can be encoded."""
    encoded = [w.encode("utf-8", "surrogatepass") for w in words]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), np.uint8), offsets


@dataclass(frozen=True)
class StringTable:
    buf: np.ndarray
    offsets: np.ndarray
    hashes: np.ndarray
    slots: np.ndarray

    @property
    def size(self) -> int:
        return self.offsets.shape[0] - 1

    @classmethod
    def build(cls, buf: np.ndarray, offsets: np.ndarray) -> tuple["StringTable", np.ndarray]:
        """Build a table of distinct words. Returns (table, keep) where keep[i] is False
        for a word that repeats an earlier one; repeats are dropped, the first one wins."""
        buf = np.ascontiguousarray(buf, np.uint8)
        offsets = np.ascontiguousarray(offsets, np.int64)
        hashes = _hash_all(buf, offsets)
        slots, first = _insert_all(buf, offsets, hashes, capacity_for(offsets.shape[0] - 1))
        keep = first == np.arange(first.shape[0])
        if keep.all():
            return cls(buf, offsets, hashes, slots), keep
        # Rebuild from the distinct words only, so that word index == row index.
        lengths = np.diff(offsets)[keep]
        starts = offsets[:-1][keep]
        new_offsets = np.zeros(lengths.shape[0] + 1, np.int64)
        np.cumsum(lengths, out=new_offsets[1:])
        new_buf = np.concatenate([buf[s:s + n] for s, n in zip(starts, lengths)]) if lengths.size else buf[:0]
        table, _ = cls.build(new_buf, new_offsets)
        return table, keep

    @classmethod
    def from_words(cls, words: list[str]) -> "StringTable":
        table, keep = cls.build(*encode_words(words))
        if not keep.all():
            dup = words[int(np.flatnonzero(~keep)[0])]
            raise ValueError(f"duplicate word in vocabulary: {dup!r}")
        return table

    def words(self) -> list[str]:
        raw = bytes(self.buf)
        return [raw[a:b].decode("utf-8", "surrogatepass") for a, b in zip(self.offsets[:-1], self.offsets[1:])]

    def lookup(self, words: list[str]) -> np.ndarray:
        """Row index of each word, or -1 where absent."""
        kbuf, koff = encode_words(words)
        return _lookup_all(self.slots, self.hashes, self.offsets, self.buf, kbuf, koff)


@nb.njit(cache=True)
def _lookup_all(slots, hashes, offsets, buf, kbuf, koff):
    n = koff.shape[0] - 1
    out = np.empty(n, np.int64)
    for i in range(n):
        h = fnv1a(kbuf, koff[i], koff[i + 1])
        out[i] = probe(slots, hashes, offsets, buf, kbuf, koff[i], koff[i + 1], h)
    return out
