"""The public tokenizer: a fitted vocabulary plus the settings that turn text into ids."""

from __future__ import annotations

import numpy as np

from fastnews.strtable import StringTable, capacity_for
from fastnews.tokenize.chars import _fold_for, char_tables
from fastnews.tokenize.chunks import CHUNK_BYTES, ENCODE_CHUNK_BYTES, _as_sequence, _chunk_pool, _in_chunks, _Utf8Texts
from fastnews.tokenize.encode import _encode_docs, _touch_pages
from fastnews.tokenize.keys import _index_words, _key_table
from fastnews.tokenize.settings import (N_SPECIAL, UNK_ID, Encoded, TokenizerConfig, config_from_settings,
                                       settings_of)
from fastnews.tokenize.vocab import _most_frequent, count_words


class Tokenizer:
    """A fitted vocabulary plus the settings that turn text into model input."""

    def __init__(self, vocab: list[str], config: TokenizerConfig = TokenizerConfig(),
                 table: StringTable | None = None):
        """table: the vocabulary's StringTable, when the caller has its bytes already."""
        self.vocab = list(vocab)
        self.config = config
        self.table = table if table is not None else StringTable.from_words(self.vocab)
        # The encode kernel's own index of the vocabulary, a key table (_key_of; the
        # StringTable's FNV-1a hashes are what GloVe stores keep on disk).
        self._vbuf = np.concatenate((self.table.buf, np.zeros(16, np.uint8)))
        self._index = _index_words(self._vbuf, self.table.offsets, _key_table(capacity_for(len(self.vocab))))

    @property
    def n_ids(self) -> int:
        """Rows of the embedding table: vocabulary plus pad and unknown."""
        return len(self.vocab) + N_SPECIAL

    @classmethod
    def fit(cls, texts: list[str], vocab_size: int = 20000, config: TokenizerConfig = TokenizerConfig(),
            min_count: int = 1, chunk_bytes: int = CHUNK_BYTES) -> "Tokenizer":
        """Keep the vocab_size most frequent words of texts that occur min_count times."""
        return cls.fit_encode(texts, vocab_size, config, False, min_count, chunk_bytes)[0]

    @classmethod
    def fit_encode(cls, texts: list[str], vocab_size: int = 20000, config: TokenizerConfig = TokenizerConfig(),
                   encode: bool = True, min_count: int = 1,
                   chunk_bytes: int = CHUNK_BYTES) -> tuple["Tokenizer", Encoded | None]:
        """Fit on texts and encode the same texts, splitting them only once. The vocabulary
        is the vocab_size most frequent words that occur at least min_count times."""
        counted = count_words(texts, config.lowercase, chunk_bytes)
        if encode:  # a pool thread faults the id matrix in while this one ranks the words
            ids = np.zeros((counted.n_docs, config.max_len), np.int32)
            faulted = _chunk_pool().submit(_touch_pages, ids.reshape(-1))
        order = _most_frequent(counted.counts, vocab_size)
        order = order[counted.counts[order] >= min_count]  # counts fall along order
        vocab, buf, offsets = counted.packed_words(order)
        tok = cls(vocab, config, StringTable.build(buf, offsets)[0])  # the words are distinct
        if not encode:
            return tok, None
        id_of_word = np.full(counted.counts.shape[0], UNK_ID, np.int32)
        id_of_word[order] = np.arange(N_SPECIAL, N_SPECIAL + order.shape[0], dtype=np.int32)
        faulted.result()
        return tok, counted.encode(id_of_word, config, ids)

    def encode(self, texts: list[str], chunk_bytes: int = ENCODE_CHUNK_BYTES) -> Encoded:
        """ids of texts, as count_words splits them: in chunks of consecutive texts, this
        thread packing the next chunk while the pool of threads encodes the packed ones
        into their rows. A single chunk is encoded in this thread."""
        texts = _as_sequence(texts)
        ids = np.zeros((len(texts), self.config.max_len), np.int32)  # zeroed: see _finish_row
        lengths = np.empty(len(texts), np.int32)
        cfg = self.config
        is_sep, lower = char_tables(cfg.lowercase)
        fold = _fold_for(cfg.lowercase)

        def encode_chunk(first: int, chunk: _Utf8Texts):
            rows = slice(first, first + chunk.sizes.shape[0])
            _encode_docs(chunk.addresses, chunk.sizes, is_sep, lower, fold, self._index, self.table.offsets,
                         self._vbuf, cfg.max_len, cfg.truncating == "pre", cfg.padding == "pre", ids[rows],
                         lengths[rows])

        for _ in _in_chunks(texts, chunk_bytes, encode_chunk):
            pass
        return Encoded(ids, lengths)

    def split(self, text: str) -> list[str]:
        """The words of one text, as the kernels see them (for inspection and tests)."""
        counted = count_words([text], self.config.lowercase)
        return counted.words(counted.word_of_token())

    def settings(self) -> dict:
        """Everything inference needs besides the vocabulary (stored as JSON in the model)."""
        return settings_of(self.config)

    @classmethod
    def from_settings(cls, vocab: list[str], settings: dict | str) -> "Tokenizer":
        return cls(vocab, config_from_settings(settings))
