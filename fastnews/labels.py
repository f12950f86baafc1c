"""A corpus's labels as arrays: class indices int64 (n,) for a single-label corpus, multi-hot
rows uint8 (n, n_labels) for a multi-label one; and what the rest of fastnews asks of either.

    labels = label_array(records, names, is_multi_label(records, listed, "auto"))
    counts = label_counts(labels, len(names))
"""

from __future__ import annotations

import numpy as np

from fastnews.errors import CorpusError


def is_multi_label(records: list[tuple], listed: bool, label_mode: str) -> bool:
    """Whether the corpus is multi-label: label_mode, or in "auto" a document with several
    labels or labels given as lists."""
    several = next((r for r in records if len(r[1]) > 1), None)
    if label_mode == "single" and several is not None:
        raise CorpusError(f"{several[2]}: {len(several[1])} labels, but the label mode is single")
    return label_mode == "multi" or (label_mode == "auto" and (listed or several is not None))


def label_array(records: list[tuple], names: list[str], multi: bool) -> np.ndarray:
    """Class indices int64 (n,), or multi-hot rows uint8 (n, len(names))."""
    label_of = {n: i for i, n in enumerate(names)}
    if not multi:
        return np.array([label_of[r[1][0]] for r in records], np.int64)
    out = np.zeros((len(records), len(names)), np.uint8)
    for i, r in enumerate(records):
        out[i, [label_of[label] for label in r[1]]] = 1
    return out


def strata(labels: np.ndarray) -> np.ndarray:
    """One class per document to stratify by: its label, or for a multi-hot row (n, k) its
    rarest label (so rare labels are spread over the splits first)."""
    if labels.ndim == 1:
        return labels
    counts = labels.sum(axis=0)
    return np.where(labels > 0, counts[None, :], np.iinfo(np.int64).max).argmin(axis=1)


def classes_present(labels: np.ndarray) -> set[int]:
    """The class indices that some document has."""
    return set(labels.tolist()) if labels.ndim == 1 else set(np.flatnonzero(labels.sum(axis=0)).tolist())


def label_counts(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Documents per class, of class indices (n,) or multi-hot rows (n, k)."""
    return np.bincount(labels, minlength=n_classes) if labels.ndim == 1 else labels.sum(axis=0).astype(np.int64)
