"""The split rule and the vocabulary lookup in plain Python, for inputs of a few MB.

A process that classifies a few thousand documents spends more time loading numba and
its kernels (about 0.65 s) than Python spends tokenizing them (about 30 MB/s). The
Classifier sends such inputs here, and the rest to the kernels. The ids are the
kernels' own, and tests/test_tokenize.py checks that on every document of 20news-bydate
and on every code point.

The rule, as the kernels apply it (chars.py): cut at every separator code point of the
original text, then lowercase each word one character at a time with str.lower. Here
the whole text is lowercased first, then the Keras filters become spaces and str.split()
cuts at Unicode whitespace, which is str.isspace(), the rule's other half. The order
does not matter because str.lower never turns a separator into a non-separator or back
(the every-code-point test checks it), with one exception: on a whole string, str.lower
applies the final-sigma rule to U+03A3, so that one is lowered beforehand.
"""

from __future__ import annotations

from itertools import repeat

import numpy as np

from fastnews.tokenize.chars import KERAS_FILTERS
from fastnews.tokenize.settings import N_SPECIAL, UNK_ID, Encoded, TokenizerConfig

_FILTERS_TO_SPACE = str.maketrans({ch: " " for ch in KERAS_FILTERS})


class SimpleEncoder:
    """Tokenizer.encode's ids, in pure Python: built in milliseconds, slower per byte."""

    def __init__(self, vocab: list[str], config: TokenizerConfig):
        self.config = config
        self.index = {word: i for i, word in enumerate(vocab, start=N_SPECIAL)}

    def words(self, text: str) -> list[str]:
        if self.config.lowercase:
            text = text.replace("\u03a3", "\u03c3").lower() if "\u03a3" in text else text.lower()
        return text.translate(_FILTERS_TO_SPACE).split()

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
            ids[row, start:start + len(kept)] = np.fromiter(map(get, kept, repeat(UNK_ID)), np.int32, len(kept))
        return Encoded(ids, lengths)
