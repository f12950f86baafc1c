"""Which documents train, validate and test: the split rules, in numpy.

    keep, held = stratified_split(labels, 0.1, seed)     # each class gives its share
    weights = class_weights(labels, n_classes, "balanced")
"""

from __future__ import annotations

import numpy as np

from fastnews.errors import CorpusError
from fastnews.labels import classes_present, strata


def class_weights(labels: np.ndarray, n_classes: int, mode: str) -> np.ndarray | None:
    """Per-class weights of a training split: "balanced" gives n / (n_classes * n_c), as
    scikit-learn's class_weight="balanced" (a class's documents weigh as much in all as any
    other's); "none" gives None."""
    if mode == "none":
        return None
    if mode != "balanced":
        raise ValueError(f"class weights are none or balanced, not {mode!r}")
    if labels.ndim == 2:
        raise CorpusError("--class-weight balanced is for single-label corpora")
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return len(labels) / (n_classes * np.maximum(counts, 1))


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held_out) indices; each class (strata) gives round(fraction * its size)
    documents, at least one when it has two or more."""
    labels = strata(labels)
    rng = np.random.default_rng(seed)
    keep, held = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n = int(round(fraction * len(idx)))
        if len(idx) >= 2:
            n = min(max(n, 1), len(idx) - 1)
        else:
            n = 0
        held.append(idx[:n])
        keep.append(idx[n:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def validation_split(labels: np.ndarray, fraction: float, seed: int, given: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices of a training split: the given validation documents (a val
    file's) and the rest, or a stratified fraction held out."""
    if given is None:
        return stratified_split(labels, fraction, seed)
    return np.setdiff1d(np.arange(len(labels)), given), np.asarray(given)


def split_indices(path, split_of: list, labels: np.ndarray, names: list[str], test_fraction: float, seed: int,
                  how: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(train indices, test indices, how the test split came about) of documents whose own
    split is split_of[i]: None everywhere (a stratified test_fraction is held out), or
    "train", "val" and "test" (how says where they came from). Errors name path."""
    if all(s is None for s in split_of):
        if not 0 < test_fraction < 1:
            raise CorpusError(f"--test-fraction must be between 0 and 1, got {test_fraction}")
        train_idx, test_idx = stratified_split(labels, test_fraction, seed)
        return train_idx, test_idx, f"held out {test_fraction:g}"
    if any(s is None for s in split_of):
        raise CorpusError(f"{path}: some documents are under a train/test folder and some are not")
    train_idx = np.array([i for i, s in enumerate(split_of) if s in ("train", "val")], np.int64)
    test_idx = np.array([i for i, s in enumerate(split_of) if s == "test"], np.int64)
    if len(train_idx) == 0:
        raise CorpusError(f"{path}: has a test split but no train split")
    train_classes = classes_present(labels[train_idx])
    unseen = sorted(names[c] for c in classes_present(labels[test_idx]) - train_classes)
    if unseen and labels.ndim == 1:
        raise CorpusError(f"{path}: test classes not in train: {', '.join(unseen)}")
    if len(train_classes) < 2:
        raise CorpusError(f"{path}: train split has only one class")
    if len(train_classes) < len(names) and labels.ndim == 1:
        raise CorpusError(f"{path}: class {names[min(set(range(len(names))) - train_classes)]!r} has no training documents")
    if not len(test_idx):  # a val file and no test split: the test split is held out of the rest
        rest = np.array([i for i, s in enumerate(split_of) if s == "train"], np.int64)
        keep, held = stratified_split(labels[rest], test_fraction, seed)
        val = np.array([i for i, s in enumerate(split_of) if s == "val"], np.int64)
        return np.sort(np.concatenate([rest[keep], val])), rest[held], f"held out {test_fraction:g}"
    return train_idx, test_idx, how
