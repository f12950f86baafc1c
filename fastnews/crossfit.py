"""Held-out chunks of train for choosing the final combination (members.py).

The first chunk is always the validation split that the main network early-stops on.
When that split is small (under SMALL_VAL documents, where one document moves accuracy
by a tenth of a point or more), more chunks of the same size are drawn from the rest of
train, disjoint and stratified, each scored by a network and linear members trained on
everything else: cross-fitting. Five chunks of a 3,000-document corpus give 1,500 held-out
documents instead of 300, for five times the network's training cost, which on such a
corpus is seconds.
"""

from __future__ import annotations

import numpy as np

from fastnews.corpus import stratified_split

SMALL_VAL = 1000


def n_chunks(n_val: int, folds: int, distributed: bool) -> int:
    """How many held-out chunks to use: folds for a small validation split, else 1. Under
    DDP only the validation split (the extra networks would train on rank 0 alone)."""
    return 1 if distributed or n_val >= SMALL_VAL else max(1, folds)


def extra_chunks(labels: np.ndarray, val_idx: np.ndarray, n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, held) index pairs into train for chunks 2..n: each held chunk as large as the
    validation split and stratified, drawn from documents no earlier chunk holds."""
    pool = np.setdiff1d(np.arange(labels.shape[0]), val_idx)
    out = []
    for k in range(1, n):
        if pool.shape[0] < 2 * val_idx.shape[0]:
            break
        _, pick = stratified_split(labels[pool], val_idx.shape[0] / pool.shape[0], seed + k)
        held = pool[pick]
        pool = np.setdiff1d(pool, held)
        out.append((np.setdiff1d(np.arange(labels.shape[0]), held), held))
    return out
