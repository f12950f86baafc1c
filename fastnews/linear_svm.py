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

from fastnews.sparse import SparseNgrams


@dataclass
class Csr:
    """Rows of TF-IDF weights: row i's features are indices[indptr[i]:indptr[i + 1]]."""
    indptr: np.ndarray   # int64 (n + 1,)
    indices: np.ndarray  # int64 (nnz,)
    data: np.ndarray     # float64 (nnz,)
    n_features: int


@torch.no_grad()
def tfidf_csr(path: SparseNgrams, ids: torch.Tensor, batch_size: int = 512) -> Csr:
    """The sparse path's weights w_f of each row of ids (int32 or int64 (N, T)), as computed in the
    graph, as a CSR matrix: one entry per distinct feature with a non-zero weight (min_df and
    padding drop out)."""
    rows, cols, vals = [], [], []
    for i in range(0, ids.shape[0], batch_size):
        s, count, starts, w = path.weights(ids[i:i + batch_size].cpu().long())
        r, c = (starts & (w > 0)).nonzero(as_tuple=True)  # row-major: row by row
        rows.append(r + i)
        cols.append(s[r, c])
        vals.append((w * count)[r, c].double())
    row = torch.cat(rows).numpy()
    indptr = np.zeros(ids.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(row, minlength=ids.shape[0]), out=indptr[1:])
    return Csr(indptr, torch.cat(cols).numpy().astype(np.int64), torch.cat(vals).numpy(),
               path.n_ids + path.n_buckets)


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
    order = np.random.default_rng(seed).permutation(x.indptr.shape[0] - 1)
    costs = float(C) * (np.ones(len(labels)) if class_weight is None else np.asarray(class_weight)[labels])
    w = _dcd_squared_hinge(x.indptr, x.indices, x.data, positive, order, x.n_features, n_classes, costs,
                           float(tol), int(max_epochs))
    return np.ascontiguousarray(w[:, :-1].T, np.float32), w[:, -1].astype(np.float32)


@nb.njit(cache=True, nogil=True, parallel=True)
def _dcd_squared_hinge(indptr, indices, data, positive, order, n_features, n_classes, costs, tol, max_epochs):
    """w float64 (n_classes, n_features + 1), the last column the intercepts; positive uint8
    (n, n_classes) is 1 where document i is of class c; costs float64 (n,) is each document's C. Each class's dual variables are visited in `order` every
    epoch, until the projected gradients span less than tol. The classes are independent
    problems, solved in parallel. (tests/naive.py has the same loop, written plainly.)"""
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
        for _ in range(max_epochs):
            lo, hi = np.inf, -np.inf
            for i in order:
                y = 1.0 if positive[i, c] else -1.0
                dot = wc[n_features]
                for j in range(indptr[i], indptr[i + 1]):
                    dot += wc[indices[j]] * data[j]
                g = y * dot - 1.0 + diag[i] * alpha[i]
                pg = min(g, 0.0) if alpha[i] == 0.0 else g
                lo, hi = min(lo, pg), max(hi, pg)
                if pg != 0.0:
                    old = alpha[i]
                    alpha[i] = max(old - g / q[i], 0.0)
                    step = (alpha[i] - old) * y
                    for j in range(indptr[i], indptr[i + 1]):
                        wc[indices[j]] += step * data[j]
                    wc[n_features] += step
            if hi - lo < tol:
                break
    return w


def decision(x: Csr, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SVM scores float32 (n, n_classes) of the rows of x."""
    rows = torch.from_numpy(np.repeat(np.arange(x.indptr.shape[0] - 1), np.diff(x.indptr)))
    terms = torch.from_numpy(w)[torch.from_numpy(x.indices)] * torch.from_numpy(x.data).float().unsqueeze(1)
    out = torch.zeros(x.indptr.shape[0] - 1, w.shape[1]).index_add_(0, rows, terms)
    return out.numpy() + b
