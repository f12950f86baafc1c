"""Scores a user can act on: the top-label map that calibrates them, and the measures of
calibration (ECE, Brier, accuracy at a coverage). numpy only.

The map (Platt scaling of the top label; Gupta and Ramdas, 2022): with p1 the softmax's
largest probability, its log-odds L = log(p1 / (1 - p1)) become a * L + b, and the other
classes share the rest in their old proportions (model.calibrated_probabilities). Two numbers, fitted by the log-loss of
"the top label is right" on held-out documents (the ones the combination is fitted on,
members.py). One temperature could not do this on 20news: its top scores are too high
above 0.9 and too low below 0.6 at once (bench/RESULTS.md), and a temperature moves both
the same way. The map never changes the argmax (model.calibrated_probabilities).
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 15
COVERAGES = (0.5, 0.8, 0.9, 1.0)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def top_log_odds(logits: np.ndarray) -> np.ndarray:
    """log(p1 / (1 - p1)) of each row's softmax, from the logits: exact where p1 rounds to 1."""
    z = np.asarray(logits, np.float64)
    top = z.max(axis=1)
    others = np.where(np.arange(z.shape[1]) == z.argmax(axis=1)[:, None], -np.inf, z)
    m = others.max(axis=1)
    return top - (m + np.log(np.exp(others - m[:, None]).sum(axis=1)))


def fit_top_label_map(logits: np.ndarray, labels: np.ndarray, iterations: int = 50) -> tuple[float, float]:
    """(a, b) minimising the log-loss of sigmoid(a * L + b) against "argmax is right":
    Newton's method on a two-parameter logistic regression, with a small ridge towards
    the identity map (1, 0) so that a held-out set where every top label is right (or
    none is) gives a finite answer."""
    x = top_log_odds(logits)
    y = (np.asarray(logits).argmax(axis=1) == np.asarray(labels)).astype(np.float64)
    theta, ridge = np.array([1.0, 0.0]), 1e-3 * len(y)
    design = np.stack([x, np.ones_like(x)], axis=1)                    # (n, 2)
    for _ in range(iterations):
        q = 1.0 / (1.0 + np.exp(-(design @ theta)))
        grad = design.T @ (q - y) + ridge * (theta - [1.0, 0.0])
        hess = (design * (q * (1 - q))[:, None]).T @ design + ridge * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(theta[0]), float(theta[1])


def expected_calibration_error(confidence: np.ndarray, right: np.ndarray, bins: int = ECE_BINS) -> float:
    """sum over equal-width bins of the top score: share of documents x |accuracy - mean score|."""
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    gap = np.bincount(which, weights=right.astype(np.float64), minlength=bins) - \
        np.bincount(which, weights=confidence, minlength=bins)
    return float(np.abs(gap).sum() / max(1, len(confidence)))


def reliability_bins(confidence: np.ndarray, right: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per non-empty bin: its range, documents, mean top score and accuracy."""
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    return [{"low": i / bins, "high": (i + 1) / bins, "n": int((which == i).sum()),
             "score": float(confidence[which == i].mean()), "accuracy": float(right[which == i].mean())}
            for i in range(bins) if (which == i).any()]


def accuracy_at_coverage(confidence: np.ndarray, right: np.ndarray, coverages=COVERAGES) -> dict[str, float]:
    """Accuracy on the most confident share c of the documents, for each c."""
    order = np.argsort(-confidence, kind="stable")
    out = {}
    for c in coverages:
        keep = order[:max(1, int(round(c * len(order))))]
        out[f"{c:g}"] = float(right[keep].mean()) if len(order) else 0.0
    return out


def coverage_curve(confidence: np.ndarray, right: np.ndarray, points: int = 50) -> list[tuple[float, float]]:
    """(coverage, accuracy on the most confident share) at `points` coverages up to 1."""
    order = np.argsort(-confidence, kind="stable")
    cumulative = np.cumsum(right[order])
    n = len(order)
    return [(k / n, float(cumulative[k - 1] / k)) for k in np.unique(np.linspace(1, n, points).round().astype(int))
            if n]


def calibration_report(probs: np.ndarray, labels: np.ndarray, min_score: float | None = None) -> dict:
    """ECE, Brier score, accuracy at fixed coverages and the reliability bins of probs
    (float [n, k]) against labels; with min_score, the share of documents whose top score
    reaches it (coverage) and the accuracy on that share."""
    labels = np.asarray(labels)
    confidence, right = probs.max(axis=1), probs.argmax(axis=1) == labels
    onehot = np.zeros_like(probs, dtype=np.float64)
    onehot[np.arange(len(labels)), labels] = 1.0
    rep = {"ece": expected_calibration_error(confidence, right),
           "brier": float(((probs - onehot) ** 2).sum(axis=1).mean()) if len(labels) else 0.0,
           "mean_score": float(confidence.mean()) if len(labels) else 0.0,
           "accuracy_at_coverage": accuracy_at_coverage(confidence, right),
           "coverage_curve": coverage_curve(confidence, right),
           "reliability": reliability_bins(confidence, right)}
    if min_score is not None:
        covered = confidence >= min_score
        rep["min_score"] = {"threshold": min_score, "coverage": float(covered.mean()) if len(labels) else 0.0,
                            "accuracy": float(right[covered].mean()) if covered.any() else 0.0}
    return rep
