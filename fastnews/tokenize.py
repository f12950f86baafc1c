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

How it runs: all texts are encoded to UTF-8 once and laid end to end in one
uint8 buffer with an int64 offset per document. The kernels walk those bytes,
decode code points, look up two per-code-point tables (is-separator, lowercase),
hash each lowered word with FNV-1a and probe the vocabulary's StringTable. No
Python object is made per word. Documents are processed in parallel (prange).

Ids: 0 is padding, 1 is an unknown word, 2.. are vocabulary words in order of
decreasing training frequency (ties: first occurrence first, as Keras does).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numba as nb
import numpy as np

from fastnews.strtable import StringTable, capacity_for, fnv1a, probe

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

    Returns (pos after the word, end of the word in out). The word is empty
    (returned end == n) only when the text has no more words."""
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


@nb.njit(cache=True, parallel=True)
def _split_all(buf, doc_off, is_sep, lower):
    """Every word of every document, lowered, in one flat array.

    Returns (words uint8, word_off int64 [n_words + 1], doc_words int64 [n_docs + 1]):
    word j is words[word_off[j]:word_off[j + 1]]; document d owns words
    doc_words[d]:doc_words[d + 1]. Lowercasing grows UTF-8 by at most 1.5x, so
    document d writes its words inside words[2 * doc_off[d]:2 * doc_off[d + 1]]."""
    n_docs = doc_off.shape[0] - 1
    counts = np.zeros(n_docs + 1, np.int64)
    scratch_all = np.empty(2 * doc_off[n_docs] + 8, np.uint8)
    for d in nb.prange(n_docs):
        pos, end, base = doc_off[d], doc_off[d + 1], 2 * doc_off[d]
        c = 0
        while True:
            pos, stop = _next_word(buf, pos, end, is_sep, lower, scratch_all, base)
            if stop == base:
                break
            c += 1
        counts[d + 1] = c
    doc_words = np.cumsum(counts)
    n_words = doc_words[n_docs]
    starts = np.empty(n_words, np.int64)
    stops = np.empty(n_words, np.int64)
    for d in nb.prange(n_docs):
        pos, end, n = doc_off[d], doc_off[d + 1], 2 * doc_off[d]
        for j in range(doc_words[d], doc_words[d + 1]):
            pos, stop = _next_word(buf, pos, end, is_sep, lower, scratch_all, n)
            starts[j] = n
            stops[j] = stop
            n = stop
    return scratch_all, starts, stops, doc_words


@nb.njit(cache=True)
def _count_words(words, starts, stops):
    """Distinct words in order of first occurrence: (index of first occurrence, count)."""
    n = starts.shape[0]
    cap = 16
    while cap < 2 * n:
        cap *= 2
    mask = cap - 1
    slots = np.full(cap, -1, np.int64)  # -> distinct-word number
    first = np.empty(n, np.int64)
    counts = np.zeros(n, np.int64)
    hashes = np.empty(n, np.uint64)
    n_distinct = 0
    for j in range(n):
        a, b = starts[j], stops[j]
        h = fnv1a(words, a, b)
        i = np.int64(h & np.uint64(mask))
        while True:
            s = slots[i]
            if s < 0:
                slots[i] = n_distinct
                first[n_distinct] = j
                hashes[n_distinct] = h
                counts[n_distinct] = 1
                n_distinct += 1
                break
            f = first[s]
            if hashes[s] == h and stops[f] - starts[f] == b - a:
                same = True
                for k in range(b - a):
                    if words[starts[f] + k] != words[a + k]:
                        same = False
                        break
                if same:
                    counts[s] += 1
                    break
            i = (i + 1) & mask
    return first[:n_distinct], counts[:n_distinct]


@nb.njit(cache=True, parallel=True)
def _encode_all(buf, doc_off, is_sep, lower, slots, hashes, offsets, vbuf,
                max_len, keep_last, pad_front, ids, lengths):
    """ids[d] <- vocabulary ids of document d, truncated and padded to max_len;
    lengths[d] <- its true number of words (before truncation)."""
    n_docs = doc_off.shape[0] - 1
    for d in nb.prange(n_docs):
        pos, end = doc_off[d], doc_off[d + 1]
        scratch = np.empty(2 * (end - pos) + 8, np.uint8)
        row = ids[d]
        n = 0
        while True:
            pos, stop = _next_word(buf, pos, end, is_sep, lower, scratch, 0)
            if stop == 0:
                break
            if n < max_len or keep_last:
                w = probe(slots, hashes, offsets, vbuf, scratch, 0, stop, fnv1a(scratch, 0, stop))
                # keep_last: a ring buffer over the row, straightened out below.
                row[n % max_len] = N_SPECIAL + w if w >= 0 else 1
            n += 1
        lengths[d] = n
        kept = min(n, max_len)
        if keep_last and n > max_len:
            rolled = np.empty(max_len, row.dtype)
            for i in range(max_len):
                rolled[i] = row[(n + i) % max_len]
            row[:] = rolled
        if pad_front and kept < max_len:
            row[max_len - kept:] = row[:kept].copy()
            row[:max_len - kept] = 0
        else:
            row[kept:] = 0


# ---------------------------------------------------------------------------
# Public API.


def pack(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """All texts as UTF-8 in one uint8 buffer, with int64 offsets [n + 1]."""
    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    buf = np.frombuffer(b"".join(encoded), np.uint8)
    return buf, offsets


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

    def __init__(self, vocab: list[str], config: TokenizerConfig = TokenizerConfig()):
        self.vocab = list(vocab)
        self.config = config
        self.table = StringTable.from_words(self.vocab)

    @property
    def n_ids(self) -> int:
        """Rows of the embedding table: vocabulary plus pad and unknown."""
        return len(self.vocab) + N_SPECIAL

    @classmethod
    def fit(cls, texts: list[str], vocab_size: int = 20000, config: TokenizerConfig = TokenizerConfig()):
        """Keep the vocab_size most frequent words of texts."""
        vocab, _ = word_counts(texts, config.lowercase, top=vocab_size)
        return cls(vocab, config)

    def encode(self, texts: list[str]) -> Encoded:
        buf, offsets = pack(texts)
        return self.encode_packed(buf, offsets)

    def encode_packed(self, buf: np.ndarray, offsets: np.ndarray) -> Encoded:
        n = offsets.shape[0] - 1
        ids = np.empty((n, self.config.max_len), np.int32)
        lengths = np.empty(n, np.int32)
        if n:
            is_sep, lower = char_tables(self.config.lowercase)
            t = self.table
            _encode_all(buf, offsets, is_sep, lower, t.slots, t.hashes, t.offsets, t.buf,
                        self.config.max_len, self.config.truncating == "pre",
                        self.config.padding == "pre", ids, lengths)
        return Encoded(ids, lengths)

    def split(self, text: str) -> list[str]:
        """The words of one text, as the kernels see them (for inspection and tests)."""
        words, starts, stops, _ = split_packed(*pack([text]), self.config.lowercase)
        raw = words.tobytes()
        return [raw[a:b].decode("utf-8", "surrogatepass") for a, b in zip(starts, stops)]

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


def split_packed(buf, offsets, lowercase=True):
    is_sep, lower = char_tables(lowercase)
    if offsets.shape[0] <= 1:
        return np.zeros(0, np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(1, np.int64)
    return _split_all(buf, offsets, is_sep, lower)


def word_counts(texts: list[str], lowercase: bool = True, top: int | None = None) -> tuple[list[str], np.ndarray]:
    """Distinct words by decreasing count (ties: first occurrence first), and their counts."""
    words, starts, stops, _ = split_packed(*pack(texts), lowercase)
    first, counts = _count_words(words, starts, stops)
    order = np.argsort(-counts, kind="stable")[:top]
    raw = words.tobytes()
    vocab = [raw[starts[first[i]]:stops[first[i]]].decode("utf-8", "surrogatepass") for i in order]
    return vocab, counts[order]
