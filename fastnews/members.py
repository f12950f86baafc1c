"""The final classifier: the network and linear members, combined as held-out scores say.

Members, each a set of class scores (n, k):
    net   the trained TextCNN with its joint sparse path (model.py);
    svm   a squared-hinge linear SVM (linear_svm.py), C from SVM_CS;
    cnb   Complement Naive Bayes (Rennie et al., 2003), alpha from CNB_ALPHAS.
Both linear members read one sparse path's features: TF-IDF words and hashed bigrams,
weighted as sparse.py weighs them in the graph. A linear member is a table
(n_features, k) and an intercept (k,), so any weighted sum of them is one table too.

The combination is logits = sum_m a_m * scores_m (a_m >= 0), fitted by cross-entropy on
held-out scores: documents that no member saw in training. Small corpora are cross-fitted
(crossfit.py): several held-out chunks of train, each scored by members fitted on the
rest, so that the choice rests on thousands of documents, not on a few hundred. The
linear members' parameters are chosen with the weights, by the same cross-entropy: a
proper score, far less noisy than held-out accuracy, which on 20news's 1,131 validation
documents preferred the SVM alone to every mixture that beat it by 1.2-1.5 points on test
(bench/RESULTS.md). A weight can go to 0, so the combination is never worse than a member
alone on held-out cross-entropy; and the fitted scale calibrates the scores.

In the graph, the network's output layer and joint path are scaled by a_net, the
linear members' weighted sum becomes model.svm's table, and their intercepts go into the
output bias.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from itertools import product

import numba as nb
import numpy as np
import torch

from fastnews import multilabel
from fastnews.calibration import fit_top_label_map
from fastnews.splitting import class_weights
from fastnews.linear_svm import Csr, decision, fit_svm, tfidf_csr
from fastnews.model import TextCNN
from fastnews.progress import progress_bar
from fastnews.sparse import SparseNgrams, document_frequencies

SVM_CS = (0.1, 0.3, 1.0, 3.0)
CNB_ALPHAS = (0.1, 0.3, 1.0)
# Multi-label: a fit is one binary SVM per label (90 on Reuters), so its tolerance is
# LIBLINEAR's default for this solver: at 1e-2 a Reuters fit took 33 s, at 0.1 6 s (bench/RESULTS.md).
MULTI_LABEL_SVM_TOL = 0.1
PARAM = {"svm": "C", "cnb": "alpha"}


def fit_cnb(x: Csr, labels: np.ndarray, n_classes: int, alpha: float, live: np.ndarray) -> np.ndarray:
    """Complement Naive Bayes weights W float32 (n_features, n_classes), as scikit-learn's
    ComplementNB(alpha, norm=False) over the live features (bool (n_features,): those with an
    idf; a vectorizer's vocabulary): W[f, c] = -log of feature f's smoothed share of the
    weight mass of every class but c; 0 for the other features. Scores are x @ W, no intercept.
    Each row is centred across the classes: that shifts all of a document's scores by one
    constant, which no softmax or argmax sees, and keeps the entries near 0, so that the
    graph's float32 sums stay as close to PyTorch's as the SVM's do (uncentred, parity on
    20news drifted to 1.5e-5)."""
    # (n_features, n_classes) float64 arrays are the largest things here: one at a time, in place.
    mass = _class_mass(x.indptr, x.indices, x.data, labels, x.n_features, n_classes)[live]
    complement = mass.sum(axis=1, keepdims=True) - mass
    del mass
    complement += alpha
    complement /= complement.sum(axis=0)
    weights = np.negative(np.log(complement, out=complement), out=complement)
    weights -= weights.mean(axis=1, keepdims=True)
    table = np.zeros((x.n_features, n_classes), np.float32)
    table[live] = weights
    return table


@nb.njit(cache=True, nogil=True)
def _class_mass(indptr, indices, data, labels, n_features, n_classes):
    """float64 (n_features, n_classes): each feature's weights summed over each class's rows,
    in entry order, as np.bincount over cells did, without its arrays of every entry (the
    class, the cell and its int64 copy: 24 bytes an entry at once)."""
    mass = np.zeros((n_features, n_classes))
    for i in range(indptr.shape[0] - 1):
        for j in range(indptr[i], indptr[i + 1]):
            mass[indices[j], labels[i]] += data[j]
    return mass


@dataclass
class LinearFeatures:
    """One sparse path (idf from the documents its members are fitted on) and their CSR rows;
    labels are class indices (n,) or multi-hot rows (n, k); class_weight
    (splitting.class_weights) weighs the SVM member's documents."""
    path: SparseNgrams
    x: Csr
    labels: np.ndarray
    class_weight: np.ndarray | None = None

    @classmethod
    def fit(cls, ids, labels: np.ndarray, n_ids: int, n_classes: int, n_buckets: int,
            min_df: int, class_weight: str = "none") -> "LinearFeatures":
        path = SparseNgrams(n_ids, n_classes, n_buckets)
        path.set_idf(document_frequencies(path, ids), len(ids), min_df)
        labels = np.asarray(labels, np.int64 if np.ndim(labels) == 1 else np.uint8)
        return cls(path, tfidf_csr(path, ids), labels, class_weights(labels, n_classes, class_weight))

    def member(self, name: str, param: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(table float32 (n_features, k), intercept float32 (k,)) of one linear member."""
        k = self.path.scores.weight.shape[1]
        if name == "svm":
            tol = MULTI_LABEL_SVM_TOL if self.labels.ndim == 2 else 1e-2
            return fit_svm(self.x, self.labels, k, C=param, tol=tol, seed=seed, class_weight=self.class_weight)
        return fit_cnb(self.x, self.labels, k, param, self.path.idf.numpy() > 0), np.zeros(k, np.float32)

    def scores(self, ids, table: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        return decision(tfidf_csr(self.path, ids), table, intercept)


def grid(name: str, fixed: float) -> tuple[float, ...]:
    """The values a member's parameter is chosen from: the one given, or its grid."""
    return (fixed,) if fixed else (SVM_CS if name == "svm" else CNB_ALPHAS)


def linear_heldout(features: LinearFeatures, held_ids, params: dict[str, tuple[float, ...]],
                   seed: int = 0, log=None, progress: bool = False) -> dict[tuple[str, float], np.ndarray]:
    """{(member, param): held-out scores (n, k)} for every member and value of its parameter;
    log, if given, gets a line per fit (the SVM's take minutes on a large corpus), and
    progress counts them on a bar."""
    x_held = tfidf_csr(features.path, held_ids)
    out = {}
    with progress_bar(sum(map(len, params.values())), "linear members", progress, unit="fit") as bar:
        for name, values in params.items():
            for p in values:
                t0 = time.perf_counter()
                out[name, p] = decision(x_held, *features.member(name, p, seed))
                bar.update(1)
                if log is not None:
                    log(f"  {name} {PARAM[name]}={p:g}: {time.perf_counter() - t0:.1f}s")
    return out


@dataclass
class Heldout:
    """Held-out scores gathered over folds: each member's (n, k) per fold, and the labels."""
    labels: list[np.ndarray] = field(default_factory=list)
    scores: dict = field(default_factory=dict)  # "net" or (member, param) -> list of (n, k)

    def add(self, labels: np.ndarray, scores: dict) -> None:
        self.labels.append(np.asarray(labels))
        for key, s in scores.items():
            self.scores.setdefault(key, []).append(np.asarray(s, np.float64))

    def stacked(self, key) -> np.ndarray:
        return np.concatenate(self.scores[key])

    @property
    def y(self) -> np.ndarray:
        return np.concatenate(self.labels)


@dataclass
class Combination:
    weights: dict[str, float]    # member -> a_m
    params: dict[str, float]     # linear member -> its chosen C or alpha
    heldout_accuracy: float      # multi-label: micro-F1 of the label sets at the chosen thresholds
    heldout_nll: float
    member_accuracy: dict[str, float]  # each member alone, as it stands, on the same documents
    member_nll: dict[str, float]       # each member alone, its scale fitted, on the same documents
    n_heldout: int
    top_label_map: tuple[float, float] = (1.0, 0.0)  # calibration.py's (a, b), fitted on the same documents
    thresholds: tuple[float, ...] | None = None      # multi-label: multilabel.choose_thresholds's, the same documents


def _accuracy(logits: np.ndarray, y: np.ndarray, thresholds=None) -> float:
    """Accuracy; for multi-hot y, the micro-F1 of the label sets."""
    if y.ndim == 2:
        return multilabel.micro_f1(y, multilabel.chosen_mask(logits, thresholds))
    return float((logits.argmax(1) == y).mean())


def _loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy: of the softmax for class indices, of each label's sigmoid
    (one-vs-rest) for multi-hot rows."""
    if target.dim() == 2:
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    return torch.nn.functional.cross_entropy(logits, target)


def fit_weights(scores: list[np.ndarray], y: np.ndarray, max_iter: int = 200) -> tuple[np.ndarray, float]:
    """(a >= 0 per member, mean cross-entropy) minimising the cross-entropy of
    sum_m a_m * scores_m on labels y. Each member's scores are divided by their spread
    first, so that one starting point suits them all. No per-class bias: fitted on a few
    hundred held-out documents it chased their class mix (20news: +0.7 points on validation,
    -1.5 on test; bench/RESULTS.md)."""
    s = torch.from_numpy(np.stack(scores))                                  # (m, n, k) float64
    spread = (s - s.mean(dim=2, keepdim=True)).std(dim=(1, 2)).clamp(min=1e-12)
    target = torch.from_numpy(y.astype(np.float64) if y.ndim == 2 else y)
    log_a = torch.zeros(s.shape[0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_a], max_iter=max_iter, line_search_fn="strong_wolfe")
    scaled = s / spread[:, None, None]

    def loss():
        return _loss((log_a.exp()[:, None, None] * scaled).sum(0), target)

    def closure():
        opt.zero_grad()
        value = loss()
        value.backward()
        return value
    opt.step(closure)
    with torch.no_grad():
        nll = float(loss())
    return (log_a.exp() / spread).detach().numpy(), nll


def choose(heldout: Heldout, members: tuple[str, ...]) -> Combination:
    """Every member with its weight, and each linear member's parameter, fitted for the lowest
    held-out cross-entropy. A weight can shrink towards 0, so the fit is never worse than
    any member alone (or any subset) on that measure."""
    y, net = heldout.y, heldout.stacked("net")
    values = [sorted(p for name, p in (k for k in heldout.scores if k != "net") if name == m) for m in members]
    fits = []  # (nll, weights, params)
    for params in product(*values):
        a, nll = fit_weights([net] + [heldout.stacked(key) for key in zip(members, params)], y)
        fits.append((nll, dict(zip(("net",) + members, map(float, a))), dict(zip(members, params))))
    nll, weights, params = min(fits, key=lambda f: f[0])
    scores = {"net": net, **{m: heldout.stacked((m, params[m])) for m in members}}
    logits = sum(weights[m] * s for m, s in scores.items())
    multi = y.ndim == 2  # one-vs-rest: thresholds choose the label sets; no top-label map
    thresholds = tuple(map(float, multilabel.choose_thresholds(logits, y))) if multi else None
    return Combination(weights, params, _accuracy(logits, y, thresholds), nll,
                       {m: _accuracy(s, y) for m, s in scores.items()},
                       {m: fit_weights([s], y)[1] for m, s in scores.items()}, len(y),
                       (1.0, 0.0) if multi else fit_top_label_map(logits, y), thresholds)


@torch.no_grad()
def apply(network: TextCNN, combo: Combination, features: LinearFeatures, n_buckets: int, seed: int = 0,
          calibrate: bool = False) -> TextCNN:
    """The final model, built from its whole config: the network's weights with its output
    layer and joint path scaled by a_net, and, when a linear member is used, the members
    (fitted on features' documents) summed into one sparse path, model.svm; with calibrate,
    its scores go through the combination's top-label map."""
    linear = [m for m in combo.weights if m != "net"]
    model = TextCNN(replace(network.config, svm_buckets=n_buckets if linear else None,
                            top_label_map=combo.top_label_map if calibrate else None, thresholds=combo.thresholds))
    missing, unexpected = model.load_state_dict(network.state_dict(), strict=False)
    if unexpected or any(not k.startswith("svm.") for k in missing):  # all but the members' path, or a bug
        raise RuntimeError(f"the final model's weights do not fit: missing {missing}, unexpected {unexpected}")
    model.to(network.out.bias.device).eval()
    a_net = combo.weights.get("net", 0.0)
    model.out.weight.mul_(a_net)
    model.out.bias.mul_(a_net)
    if model.bow is not None:
        model.bow.scores.weight.mul_(a_net)
    if linear:
        table, intercept = 0.0, 0.0
        for m in linear:
            t, b = features.member(m, combo.params[m], seed)
            table, intercept = table + combo.weights[m] * t, intercept + combo.weights[m] * b
        features.path.scores.weight.copy_(torch.from_numpy(np.asarray(table, np.float32)))
        model.svm.load_state_dict(features.path.state_dict())
        model.out.bias.add_(torch.from_numpy(np.asarray(intercept, np.float32)).to(model.out.bias))
    return model
