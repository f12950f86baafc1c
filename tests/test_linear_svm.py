"""The SVM member (fastnews/linear_svm.py): the numba solver against its plain-Python twin
and against the primal optimum, and its features against the sparse path's."""

import numpy as np
import pytest
import torch

import naive
from fastnews.linear_svm import Csr, _dcd_squared_hinge, decision, fit_svm, tfidf_csr
from fastnews.sparse import SparseNgrams, document_frequencies


def _problem(n=60, n_features=25, n_classes=3, seed=0) -> tuple[Csr, np.ndarray]:
    """Random sparse rows whose class shows in a few features; row 0 is empty (a document of
    unknown words only) and row 1 holds a single feature."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    rows = [[], [7]] + [sorted(set(rng.integers(0, n_features, rng.integers(1, 8)).tolist()) | {labels[i] * 3})
                        for i in range(2, n)]
    indptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    data = rng.uniform(0.1, 1.0, indptr[-1])
    return Csr(indptr, np.concatenate([np.asarray(r, np.int64) for r in rows]), data, n_features), labels


def _primal(x: Csr, labels, w, b, C):
    """C: a number, or each document's C."""
    m = decision(x, w.astype(np.float32), b).astype(np.float64)
    y = np.where(labels[:, None] == np.arange(w.shape[1]), 1.0, -1.0)
    return 0.5 * ((w.astype(np.float64) ** 2).sum(0) + b.astype(np.float64) ** 2) + (
        np.broadcast_to(np.asarray(C, np.float64), labels.shape)[:, None] * np.maximum(0, 1 - y * m) ** 2).sum(0)


@pytest.mark.parametrize("C, weighted, multi", [(0.1, False, False), (1.0, False, False), (1.0, True, False),
                                               (1.0, False, True)])
def test_kernel_matches_the_python_twin(C, weighted, multi):
    """One class per document, or (multi) label sets: each document also has a second,
    random label about a third of the time."""
    x, labels = _problem()
    order = np.random.default_rng(1).permutation(len(labels))
    costs = C * (np.array([0.5, 1.0, 3.0])[labels] if weighted else np.ones(len(labels)))
    positive = (labels[:, None] == np.arange(3)).astype(np.uint8)
    if multi:
        positive[np.random.default_rng(2).random((len(labels), 3)) < 0.3] = 1
    args = (x.indptr, x.indices, x.data, positive, order, x.n_features, 3, costs, 1e-3, 50)
    np.testing.assert_allclose(_dcd_squared_hinge(*args), naive.dcd_squared_hinge(*args), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("class_weight", [None, np.array([0.5, 1.0, 3.0])])
def test_solution_is_the_primal_optimum(class_weight):
    """Full-batch L-BFGS on the primal reaches no lower objective than the dual solver,
    with and without class weights (each document's C is C x its class's weight)."""
    x, labels = _problem(n=120, n_features=40, seed=2)
    w, b = fit_svm(x, labels, 3, C=1.0, tol=1e-4, max_epochs=2000, class_weight=class_weight)
    C = 1.0 if class_weight is None else class_weight[labels]
    Ct = torch.as_tensor(np.broadcast_to(np.asarray(C, np.float64), labels.shape).copy())[:, None]
    dense = torch.zeros(len(labels), x.n_features, dtype=torch.float64)
    rows = np.repeat(np.arange(len(labels)), np.diff(x.indptr))
    dense[rows, x.indices] = torch.from_numpy(x.data)
    y = torch.where(torch.from_numpy(labels)[:, None] == torch.arange(3), 1.0, -1.0).double()
    wt = torch.zeros(x.n_features, 3, dtype=torch.float64, requires_grad=True)
    bt = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([wt, bt], max_iter=500, line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                            tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = 0.5 * ((wt ** 2).sum() + (bt ** 2).sum()) + (Ct * torch.relu(1 - y * (dense @ wt + bt)) ** 2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    ours = _primal(x, labels, w, b, C)
    best = _primal(x, labels, wt.detach().numpy(), bt.detach().numpy(), C)
    np.testing.assert_allclose(ours, best, rtol=1e-3)
    assert (decision(x, w, b).argmax(1) == labels)[2:].mean() > 0.9


@pytest.mark.parametrize("n_buckets", [0, 37])
def test_features_are_the_sparse_paths(n_buckets):
    """An SVM's scores over tfidf_csr equal the sparse path's own output with the SVM's table:
    the merge into the graph changes nothing the SVM learned."""
    n_ids, rng = 15, np.random.default_rng(3)
    ids = torch.zeros(8, 12, dtype=torch.int64)
    for i in range(1, 8):  # row 0 stays empty
        k = int(rng.integers(1, 12))
        ids[i, :k] = torch.from_numpy(rng.integers(1, n_ids, k))
    ids[7, :3] = 1  # unknown words only
    path = SparseNgrams(n_ids, 4, n_buckets).eval()
    df = document_frequencies(path, ids)
    path.set_idf(df, ids.shape[0], min_df=2)
    w = rng.normal(size=(n_ids + n_buckets, 4)).astype(np.float32)
    with torch.no_grad():
        path.scores.weight.copy_(torch.from_numpy(w))
        want = path(ids).numpy()
    got = decision(tfidf_csr(path, ids), w, np.zeros(4, np.float32))
    np.testing.assert_allclose(got, want, atol=1e-5)
