"""A linear member (members.py): an L2-regularised, squared-hinge linear SVM over a sparse path's features.

The network and its sparse path are trained jointly; the sparse path then fits the
training set early, which starves the convolutions. A linear SVM fitted on its own over
TF-IDF words and hashed bigrams (weighted exactly as sparse.py weighs them in the
graph) makes different errors from the joint model, and a weighted sum of the two is
more accurate than either (bench/RESULTS.md, issues #19 and #25).

The solver is dual coordinate descent, one-vs-rest, with the intercept as a feature of
value 1 (LIBLINEAR's L2-loss SVC dual; Hsieh et al., 2008), as a numba kernel over a CSR
matrix. tests/test_linear_svm.py checks it against its plain-Python twin in tests/naive.py.

    x = tfidf_csr(path, ids)                            # CSR over a sparse path's features
    w, b = fit_svm(x, labels, n_classes, C=1.0)         # float32 (n_features, k), (k,)
    scores = decision(x, w, b)                          # float32 (n, k)
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
import torch

from fastnews.sparse import SparseNgrams, id_batches


@dataclass
class Csr:
    """Rows of TF-IDF weights: row i's features are indices[indptr[i]:indptr[i + 1]]."""
    indptr: np.ndarray   # int64 (n + 1,)
    indices: np.ndarray  # int32 (nnz,): feature ids (n_ids + buckets) stay far below 2**31
    data: np.ndarray     # float64 (nnz,): the SVM's solver works in float64, as LIBLINEAR does
    n_features: int

    @property
    def n_rows(self) -> int:
        return self.indptr.shape[0] - 1

    def rows(self, start: int, stop: int) -> "Csr":
        """Rows start..stop-1, sharing this matrix's arrays."""
        a, b = self.indptr[start], self.indptr[stop]
        return Csr(self.indptr[start:stop + 1] - a, self.indices[a:b], self.data[a:b], self.n_features)


@torch.no_grad()
def tfidf_csr(path: SparseNgrams, ids, batch_size: int = 512) -> Csr:
    """The sparse path's weights w_f of each row of ids (sparse.id_batches: a padded tensor or a
    ragged Split), as computed in the graph, as a CSR matrix: one entry per distinct feature
    with a non-zero weight (min_df and padding drop out). Built a batch at a time: the only
    copy of the whole matrix is the result."""
    cols, vals, per_row = [], [], []
    for _, x in id_batches(ids, batch_size):
        s, count, starts, w = path.weights(x.cpu())
        r, c = (starts & (w > 0)).nonzero(as_tuple=True)  # row-major: row by row
        cols.append(s[r, c].to(torch.int32).numpy())
        vals.append((w * count)[r, c].double().numpy())
        per_row.append(np.bincount(r.numpy(), minlength=x.shape[0]))
    indptr = np.zeros(sum(p.shape[0] for p in per_row) + 1, np.int64)
    if per_row:
        np.cumsum(np.concatenate(per_row), out=indptr[1:])
    return Csr(indptr, _joined(cols, np.int32), _joined(vals, np.float64), path.n_ids + path.n_buckets)


def _joined(parts: list[np.ndarray], dtype) -> np.ndarray:
    """parts concatenated, each freed as soon as it is copied (the peak is the result plus one part)."""
    out = np.empty(sum(p.shape[0] for p in parts), dtype)
    at = 0
    while parts:
        part = parts.pop(0)
        out[at:at + part.shape[0]] = part
        at += part.shape[0]
    return out


def fit_svm(x: Csr, labels: np.ndarray, n_classes: int, C: float = 1.0, tol: float = 1e-2,
            max_epochs: int = 200, seed: int = 0, class_weight: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest squared-hinge SVMs, min 0.5 |w|^2 + sum_i C_i max(0, 1 - y_i w.x_i)^2 per
    class, C_i = C x class_weight[label_i] (LIBLINEAR's class weights) -> W float32
    (n_features, n_classes), b float32 (n_classes,). labels: class indices (n,), or
    multi-hot rows (n, n_classes) of a multi-label corpus (no class weights)."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        positive = np.zeros((len(labels), n_classes), np.uint8)
        positive[np.arange(len(labels)), labels] = 1
    else:
        positive = np.ascontiguousarray(labels, np.uint8)
    order = np.random.default_rng(seed).permutation(x.n_rows)
    costs = float(C) * (np.ones(len(labels)) if class_weight is None else np.asarray(class_weight)[labels])
    w = _dcd_squared_hinge(x.indptr, x.indices, x.data, positive, order, x.n_features, n_classes, costs,
                           float(tol), int(max_epochs))
    return np.ascontiguousarray(w[:, :-1].T, np.float32), w[:, -1].astype(np.float32)


@nb.njit(cache=True, nogil=True, parallel=True)
def _dcd_squared_hinge(indptr, indices, data, positive, order, n_features, n_classes, costs, tol, max_epochs):
    """w float64 (n_classes, n_features + 1), the last column the intercepts; positive uint8
    (n, n_classes) is 1 where document i is of class c; costs float64 (n,) is each document's
    C. Each class's dual variables are visited in `order` every epoch, until the projected
    gradients span less than tol. The classes are independent problems, solved in parallel.

    Shrinking, as LIBLINEAR's solver does: a document at alpha = 0 whose gradient exceeds the
    largest projected gradient of the last epoch is set aside (swapped behind the active
    ones), since it will most likely stay at 0. Most documents of a large corpus are such,
    so an epoch costs the active few. When the active ones meet tol, every document is
    checked again, and the loop ends only when all of them meet it: the same optimum, far
    sooner. (tests/naive.py has the same loop, written plainly.)"""
    n = indptr.shape[0] - 1
    w = np.zeros((n_classes, n_features + 1))
    diag = 0.5 / costs
    q = 1.0 + diag
    for i in range(n):
        for j in range(indptr[i], indptr[i + 1]):
            q[i] += data[j] * data[j]
    for c in nb.prange(n_classes):
        wc = w[c]
        alpha = np.zeros(n)
        active = order.copy()
        n_active, shrink_above = n, np.inf
        for _ in range(max_epochs):
            lo, hi = np.inf, -np.inf
            s = 0
            while s < n_active:
                i = active[s]
                y = 1.0 if positive[i, c] else -1.0
                dot = wc[n_features]
                for j in range(indptr[i], indptr[i + 1]):
                    dot += wc[indices[j]] * data[j]
                g = y * dot - 1.0 + diag[i] * alpha[i]
                if alpha[i] == 0.0 and g > shrink_above:
                    n_active -= 1
                    active[s], active[n_active] = active[n_active], active[s]
                    continue  # the document swapped in is visited next
                pg = min(g, 0.0) if alpha[i] == 0.0 else g
                lo, hi = min(lo, pg), max(hi, pg)
                if pg != 0.0:
                    old = alpha[i]
                    alpha[i] = max(old - g / q[i], 0.0)
                    step = (alpha[i] - old) * y
                    for j in range(indptr[i], indptr[i + 1]):
                        wc[indices[j]] += step * data[j]
                    wc[n_features] += step
                s += 1
            if hi - lo < tol:
                if n_active == n:
                    break
                n_active, shrink_above = n, np.inf  # check every document again
                continue
            shrink_above = hi if hi > 0.0 else np.inf
    return w


def decision(x: Csr, w: np.ndarray, b: np.ndarray, batch_rows: int = 1024) -> np.ndarray:
    """SVM scores float32 (n, n_classes) of the rows of x, batch_rows at a time (each term is
    a row of w: a whole matrix's would be nnz x n_classes)."""
    out = np.empty((x.n_rows, w.shape[1]), np.float32)
    table = torch.from_numpy(w)
    for start in range(0, x.n_rows, batch_rows):
        part = x.rows(start, min(x.n_rows, start + batch_rows))
        rows = torch.from_numpy(np.repeat(np.arange(part.n_rows), np.diff(part.indptr)))
        terms = table[torch.from_numpy(part.indices).long()] * torch.from_numpy(part.data).float().unsqueeze(1)
        out[start:start + part.n_rows] = torch.zeros(part.n_rows, w.shape[1]).index_add_(0, rows, terms).numpy()
    return out + b
