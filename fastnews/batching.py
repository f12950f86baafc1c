"""Batches of documents of similar length: the one loop that training, scoring, export
calibration and predict all use, so a batch is only as wide as its longest document.

    batches = length_batches(widths, 64, max_tokens=16384)   # index arrays, shortest first
    batches = bucketed_batches(lengths, 64, rng)              # the same, in random order (training)
"""

from __future__ import annotations

import numpy as np


def length_batches(widths: np.ndarray, batch_size: int, max_tokens: int | None = None) -> list[np.ndarray]:
    """Indices of the documents of width widths[i], sorted by width (stable) and cut into
    batches of at most batch_size documents. With max_tokens, a batch also holds at most
    max_tokens ids (its rows times its widest row), so long documents come in smaller
    batches and memory does not grow with max_len; a batch always holds one document."""
    order = np.argsort(widths, kind="stable")
    if max_tokens is None:
        return [order[i:i + batch_size] for i in range(0, order.shape[0], batch_size)]
    batches, start, n = [], 0, order.shape[0]
    while start < n:
        stop = min(n, start + batch_size)
        while stop - start > 1 and (stop - start) * int(widths[order[stop - 1]]) > max_tokens:
            stop = start + max(1, max_tokens // int(widths[order[stop - 1]]))
        batches.append(order[start:stop])
        start = stop
    return batches


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of documents of similar length, in random order.

    Sort by length with a little noise (so batches differ between epochs), cut into
    batches, shuffle the batches. Padding is then a few percent of the work, not most of it."""
    batches = length_batches(lengths * rng.uniform(0.9, 1.1, size=lengths.shape[0]), batch_size)
    rng.shuffle(batches)
    return batches
