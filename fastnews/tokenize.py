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

from fastnews.strtable import StringTable, encode_words, fnv1a, probe

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

    Returns (pos after the word, end of the word in out, FNV-1a hash of the word),
    hashing as it copies. The word is empty (returned end == n) only when the text
    has no more words."""
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
    start = n
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
    return pos, n, fnv1a(out, start, n)


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


@nb.njit(cache=True, parallel=True)
def _split_all(buf, doc_off, is_sep, lower):
    """Every word of every document, lowered, in one flat array.

    Returns (words uint8, starts, stops, hashes, doc_words): word j is
    words[starts[j]:stops[j]] with FNV-1a hash hashes[j]; document d owns words
    doc_words[d]:doc_words[d + 1]. Lowercasing grows UTF-8 by at most 1.5x, so
    document d writes inside words[2 * doc_off[d]:2 * doc_off[d + 1]]."""
    n_docs = doc_off.shape[0] - 1
    counts = np.zeros(n_docs + 1, np.int64)
    for d in nb.prange(n_docs):
        counts[d + 1] = _count_in(buf, doc_off[d], doc_off[d + 1], is_sep)
    doc_words = np.cumsum(counts)
    n_words = doc_words[n_docs]
    words = np.empty(2 * doc_off[n_docs] + 8, np.uint8)
    starts = np.empty(n_words, np.int64)
    stops = np.empty(n_words, np.int64)
    hashes = np.empty(n_words, np.uint64)
    for d in nb.prange(n_docs):
        pos, end, n = doc_off[d], doc_off[d + 1], 2 * doc_off[d]
        for j in range(doc_words[d], doc_words[d + 1]):
            pos, stop, h = _next_word(buf, pos, end, is_sep, lower, words, n)
            starts[j] = n
            stops[j] = stop
            hashes[j] = h
            n = stop
    return words, starts, stops, hashes, doc_words


@nb.njit(cache=True)
def _first_occurrences_part(words, starts, stops, hashes, part, n_parts, count_at):
    """count_at[j] <- how often word j occurs, where j is a word's first occurrence;
    for the words whose hash falls in this part (hash & (n_parts - 1) == part; n_parts is
    a power of two, so no division per word). Equal words share a hash, so parts never
    share a word and can run in parallel.

    Every distinct word's hash, length and bytes are kept in compact arrays, so the
    probes and byte comparisons stay in cache instead of reaching back into the
    (large) words buffer."""
    part_mask, part_bits = np.uint64(n_parts - 1), np.uint64(part)
    cap = 1 << 14
    slots = np.full(cap, -1, np.int32)   # -> distinct-word number k
    k_first = np.empty(1024, np.int64)   # token index of the first occurrence
    k_count = np.empty(1024, np.int64)
    k_hash = np.empty(1024, np.uint64)
    k_off = np.zeros(1025, np.int64)     # word k is k_bytes[k_off[k]:k_off[k + 1]]
    k_bytes = np.empty(8192, np.uint8)
    n_k = 0
    for j in range(starts.shape[0]):
        h = hashes[j]
        if (h & part_mask) != part_bits:
            continue
        a, b = starts[j], stops[j]
        mask = cap - 1
        i = np.int64((h >> np.uint64(8)) & np.uint64(mask))
        while True:
            k = slots[i]
            if k < 0:
                break
            if k_hash[k] == h and k_off[k + 1] - k_off[k] == b - a:
                same = True
                o = k_off[k]
                for t in range(b - a):
                    if k_bytes[o + t] != words[a + t]:
                        same = False
                        break
                if same:
                    break
            i = (i + 1) & mask
        if k >= 0:
            k_count[k] += 1
            continue
        # a new word: remember it
        if n_k == k_first.shape[0]:
            k_first = np.concatenate((k_first, np.empty(n_k, np.int64)))
            k_count = np.concatenate((k_count, np.empty(n_k, np.int64)))
            k_hash = np.concatenate((k_hash, np.empty(n_k, np.uint64)))
            k_off = np.concatenate((k_off, np.zeros(n_k, np.int64)))
        while k_off[n_k] + (b - a) > k_bytes.shape[0]:
            k_bytes = np.concatenate((k_bytes, np.empty(k_bytes.shape[0], np.uint8)))
        k_bytes[k_off[n_k]:k_off[n_k] + (b - a)] = words[a:b]
        k_off[n_k + 1] = k_off[n_k] + (b - a)
        k_first[n_k] = j
        k_count[n_k] = 1
        k_hash[n_k] = h
        slots[i] = n_k
        n_k += 1
        if 2 * n_k > cap:  # grow and rehash at half load
            cap *= 2
            slots = np.full(cap, -1, np.int32)
            for k in range(n_k):
                i = np.int64((k_hash[k] >> np.uint64(8)) & np.uint64(cap - 1))
                while slots[i] >= 0:
                    i = (i + 1) & (cap - 1)
                slots[i] = k
    for k in range(n_k):
        count_at[k_first[k]] = k_count[k]


@nb.njit(cache=True, parallel=True)
def _count_words(words, starts, stops, hashes, n_parts):
    """Distinct words in order of first occurrence: (index of first occurrence, count)."""
    count_at = np.zeros(starts.shape[0], np.int64)
    for part in nb.prange(n_parts):
        _first_occurrences_part(words, starts, stops, hashes, part, n_parts, count_at)
    first = np.flatnonzero(count_at)
    return first, count_at[first]


def _power_of_two_parts() -> int:
    """The largest power of two not above numba's thread count."""
    return 1 << (max(1, nb.get_num_threads()).bit_length() - 1)


@nb.njit(cache=True, inline="always")
def _finish_row(row, n, max_len, keep_last, pad_front):
    """Row holds min(n, max_len) ids (a ring buffer when keep_last and n > max_len):
    put them in order and pad with 0 on the chosen side."""
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
        while n < max_len or keep_last:
            pos, stop, h = _next_word(buf, pos, end, is_sep, lower, scratch, 0)
            if stop == 0:
                break
            w = probe(slots, hashes, offsets, vbuf, scratch, 0, stop, h)
            # keep_last: a ring buffer over the row, straightened out in _finish_row.
            row[n % max_len] = N_SPECIAL + w if w >= 0 else UNK_ID
            n += 1
        if n == max_len and not keep_last:
            n += _count_in(buf, pos, end, is_sep)  # the true length of a truncated text
        lengths[d] = n
        _finish_row(row, n, max_len, keep_last, pad_front)


@nb.njit(cache=True, parallel=True)
def _encode_split(words, starts, stops, hashes, doc_words, slots, vhashes, offsets, vbuf,
                  max_len, keep_last, pad_front, ids, lengths):
    """_encode_all for texts already split by _split_all (fit, then encode the same texts)."""
    n_docs = doc_words.shape[0] - 1
    for d in nb.prange(n_docs):
        a, b = doc_words[d], doc_words[d + 1]
        row = ids[d]
        first = a if not keep_last else max(a, b - max_len)
        for j in range(first, min(b, first + max_len)):
            w = probe(slots, vhashes, offsets, vbuf, words, starts[j], stops[j], hashes[j])
            row[j - first] = N_SPECIAL + w if w >= 0 else UNK_ID
        lengths[d] = b - a
        # the kept words are already in order: finish as if nothing was dropped
        _finish_row(row, min(b - a, max_len), max_len, False, pad_front)


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
        return cls.fit_encode(texts, vocab_size, config, encode=False)[0]

    @classmethod
    def fit_encode(cls, texts: list[str], vocab_size: int = 20000, config: TokenizerConfig = TokenizerConfig(),
                   encode: bool = True) -> tuple["Tokenizer", Encoded | None]:
        """Fit on texts and encode the same texts, splitting them only once."""
        split = split_packed(*encode_words(texts), config.lowercase)
        words, starts, stops, hashes, doc_words = split
        first, counts = _count_words(words, starts, stops, hashes, _power_of_two_parts())
        order = np.argsort(-counts, kind="stable")[:vocab_size]
        tok = cls([_word(words, starts[first[i]], stops[first[i]]) for i in order], config)
        if not encode:
            return tok, None
        n = len(texts)
        ids = np.empty((n, config.max_len), np.int32)
        lengths = np.empty(n, np.int32)
        if n:
            t = tok.table
            _encode_split(words, starts, stops, hashes, doc_words, t.slots, t.hashes, t.offsets, t.buf,
                          config.max_len, config.truncating == "pre", config.padding == "pre", ids, lengths)
        return tok, Encoded(ids, lengths)

    def encode(self, texts: list[str]) -> Encoded:
        buf, offsets = encode_words(texts)
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
        words, starts, stops, _, _ = split_packed(*encode_words([text]), self.config.lowercase)
        return [_word(words, a, b) for a, b in zip(starts, stops)]

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
    """(words, starts, stops, hashes, doc_words) of packed texts; see _split_all."""
    is_sep, lower = char_tables(lowercase)
    if offsets.shape[0] <= 1:
        empty = np.zeros(0, np.int64)
        return np.zeros(0, np.uint8), empty, empty, np.zeros(0, np.uint64), np.zeros(1, np.int64)
    return _split_all(buf, offsets, is_sep, lower)


def word_counts(texts: list[str], lowercase: bool = True) -> tuple[list[str], np.ndarray]:
    """Distinct words by decreasing count (ties: first occurrence first), and their counts."""
    words, starts, stops, hashes, _ = split_packed(*encode_words(texts), lowercase)
    first, counts = _count_words(words, starts, stops, hashes, _power_of_two_parts())
    order = np.argsort(-counts, kind="stable")
    return [_word(words, starts[first[i]], stops[first[i]]) for i in order], counts[order]


def _word(words: np.ndarray, start: int, stop: int) -> str:
    return words[start:stop].tobytes().decode("utf-8", "surrogatepass")
