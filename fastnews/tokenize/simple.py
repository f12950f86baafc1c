"""The split rule and the vocabulary lookup in plain Python, for small inputs.

A process that classifies a handful of documents would spend more time loading numba
and its kernels (about 0.7 s) than tokenizing. The Classifier sends such batches
here, and large ones to the kernels. The ids are the kernels' own, and
tests/test_tokenize.py checks that on every document of 20news-bydate.

The rule, as the kernels apply it (chars.py): cut at every separator code point of the
original text, then lowercase each word one character at a time with str.lower.
"""

from __future__ import annotations

import re

import numpy as np

from fastnews.tokenize.chars import separator_runs
from fastnews.tokenize.settings import N_SPECIAL, UNK_ID, Encoded, TokenizerConfig

_SEPARATORS: re.Pattern | None = None


def _separators() -> re.Pattern:
    global _SEPARATORS
    if _SEPARATORS is None:
        cls = "".join(re.escape(chr(lo)) + ("-" + re.escape(chr(hi)) if hi > lo else "") for lo, hi in separator_runs())
        _SEPARATORS = re.compile(f"[{cls}]+")
    return _SEPARATORS


def _lower(word: str) -> str:
    # str.lower on a whole word applies the final-sigma rule to U+03A3; the kernels
    # lower each character on its own.
    return word.lower() if "\u03a3" not in word else "".join(ch.lower() for ch in word)


class SimpleEncoder:
    """Tokenizer.encode's ids, in pure Python: built in milliseconds, slow per byte."""

    def __init__(self, vocab: list[str], config: TokenizerConfig):
        self.config = config
        self.index = {word: i for i, word in enumerate(vocab, start=N_SPECIAL)}

    def words(self, text: str) -> list[str]:
        words = [w for w in _separators().split(text) if w]
        return [_lower(w) for w in words] if self.config.lowercase else words

    def encode(self, texts: list[str]) -> Encoded:
        cfg = self.config
        ids = np.zeros((len(texts), cfg.max_len), np.int32)
        lengths = np.empty(len(texts), np.int32)
        get = self.index.get
        for row, text in enumerate(texts):
            words = self.words(text)
            lengths[row] = len(words)
            kept = words[:cfg.max_len] if cfg.truncating == "post" else words[-cfg.max_len:]
            start = 0 if cfg.padding == "post" else cfg.max_len - len(kept)
            ids[row, start:start + len(kept)] = [get(w, UNK_ID) for w in kept]
        return Encoded(ids, lengths)
