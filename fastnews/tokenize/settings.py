"""What a fitted tokenizer carries besides its vocabulary: the settings and the special ids.

No numba here: the Classifier reads a model's settings, and tokenizes small inputs with
simple.py, without loading the kernels.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from fastnews.tokenize.chars import SPLIT_RULE

PAD_ID = 0
UNK_ID = 1
N_SPECIAL = 2


@dataclass
class Encoded:
    ids: np.ndarray      # int32 [n_docs, max_len]
    lengths: np.ndarray  # int32 [n_docs], true word counts before truncation


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

    def widths(self, lengths: np.ndarray) -> np.ndarray:
        """The columns each document needs in a batch: its word count, clipped to
        [min_len, max_len] (the model's shortest input; the encoded width)."""
        return np.clip(lengths, self.min_len, self.max_len)


def settings_of(config: TokenizerConfig) -> dict:
    """Everything inference needs besides the vocabulary (stored as JSON in the model)."""
    return {**asdict(config), "split_rule": SPLIT_RULE, "pad_id": PAD_ID, "unk_id": UNK_ID}


def config_from_settings(settings: dict | str) -> TokenizerConfig:
    """The TokenizerConfig of a model's settings; ValueError for another split rule."""
    if isinstance(settings, str):
        settings = json.loads(settings)
    if settings.get("split_rule", SPLIT_RULE) != SPLIT_RULE:
        raise ValueError("model was tokenized with a different split rule: " + str(settings.get("split_rule")))
    fields = TokenizerConfig.__dataclass_fields__
    return TokenizerConfig(**{k: v for k, v in settings.items() if k in fields})
