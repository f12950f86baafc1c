"""Multi-label classification in numpy (no torch): label sets from scores, the thresholds
that choose them, and the measures of how good the sets are.

A multi-label model scores every label on its own (one-vs-rest: a logit per label, its
probability the sigmoid). A document's label set is every label whose logit reaches that
label's threshold, and its top label always, so no document goes without an answer:

    mask = chosen_mask(logits, thresholds)            # bool (n, k)
    thresholds = choose_thresholds(heldout_logits, heldout_truth)

Thresholds are chosen on held-out documents, label by label, for the best F1 of that label
(SCut; Yang, 2001). A label with fewer than MIN_POSITIVES held-out documents would have its
threshold chosen by one or two documents, so the rare labels share one threshold instead,
chosen for their mean F1. (Chosen for the micro-F1 of all labels, it sat where the frequent
labels want it, and held-out macro-F1 on Reuters was 0.664 against 0.690: bench/RESULTS.md.)
"""

from __future__ import annotations

import time

import numpy as np

from fastnews.errors import CorpusError

MIN_POSITIVES = 5
P_AT_K = 3  # evaluate's P@k


def chosen_mask(logits: np.ndarray, thresholds=None) -> np.ndarray:
    """bool (n, k): logit >= its label's threshold (0 without: probability 0.5), and the
    top label of each row (model.TextCNN.chosen is the torch twin, in the graph)."""
    logits = np.asarray(logits, np.float32)
    t = np.zeros(logits.shape[1], np.float32) if thresholds is None else np.asarray(thresholds, np.float32)
    return (logits >= t) | (logits == logits.max(axis=1, keepdims=True))


def _best_cut(scores: np.ndarray, positive: np.ndarray) -> float:
    """The threshold of the cut of scores (n,) that gives the best F1 against positive
    (bool (n,)): halfway between the last score kept and the next."""
    order = np.argsort(-scores, kind="stable")
    s, pos = scores[order], positive[order]
    tp = np.cumsum(pos)
    kept = np.arange(1, len(s) + 1)
    f1 = 2 * tp / (kept + pos.sum())
    f1[:-1][s[:-1] == s[1:]] = -1  # a cut between equal scores cannot be made
    i = int(np.argmax(f1))
    nxt = s[i + 1] if i + 1 < len(s) else s[i] - 1.0
    return float((s[i] + nxt) / 2)


def shared_threshold(logits: np.ndarray, truth: np.ndarray, labels: np.ndarray, candidates: int = 200) -> float:
    """The one threshold, over quantiles of the logits, with the best mean F1 of the label
    columns `labels` (each label counts once, as in macro-F1; the label sets include each
    document's top label). A label that no document has and none is given counts 0 only
    when the threshold gives it documents."""
    grid = np.unique(np.quantile(logits, np.linspace(0.5, 1.0, candidates)))
    t_cols = truth[:, labels]
    best, best_f1 = 0.0, -1.0
    for t in np.concatenate([[0.0], grid]):
        mask = chosen_mask(logits, np.full(logits.shape[1], t))[:, labels]
        tp, both = (mask & t_cols).sum(0), mask.sum(0) + t_cols.sum(0)
        f1 = float((2 * tp[both > 0] / both[both > 0]).mean()) if (both > 0).any() else 0.0
        if f1 > best_f1:
            best, best_f1 = float(t), f1
    return best


def choose_thresholds(logits: np.ndarray, truth: np.ndarray, min_positives: int = MIN_POSITIVES) -> np.ndarray:
    """float32 (k,) logit thresholds chosen on held-out logits (n, k) and multi-hot truth:
    each label's best-F1 cut where it has min_positives held-out documents, else the shared
    threshold of those other labels."""
    logits, truth = np.asarray(logits, np.float64), np.asarray(truth) > 0
    common = truth.sum(axis=0) >= min_positives
    out = np.zeros(logits.shape[1])
    if not common.all():
        out[:] = shared_threshold(logits, truth, np.flatnonzero(~common))
    for j in np.flatnonzero(common):
        out[j] = _best_cut(logits[:, j], truth[:, j])
    return out.astype(np.float32)


def micro_f1(truth: np.ndarray, mask: np.ndarray) -> float:
    truth, mask = np.asarray(truth) > 0, np.asarray(mask)
    tp = (truth & mask).sum()
    return float(2 * tp / max(1, truth.sum() + mask.sum()))


def report(truth: np.ndarray, mask: np.ndarray, scores: np.ndarray, label_names: list[str], k: int = P_AT_K) -> dict:
    """micro_f1, macro_f1 (over the labels in truth or mask, as scikit-learn's), samples_f1,
    subset_accuracy, p_at_1, p_at_k (k of them, best scores first), hamming_loss, n and
    per_class precision/recall/f1/support, of the label sets mask (bool (n, K)) against the
    multi-hot truth."""
    from fastnews.metrics import per_class
    truth, mask = np.asarray(truth) > 0, np.asarray(mask, bool)
    table, macro_f1 = per_class((truth & mask).sum(0), mask.sum(0), truth.sum(0), label_names)
    per_doc = np.divide(2 * (truth & mask).sum(1), truth.sum(1) + mask.sum(1),
                        out=np.ones(len(truth)), where=(truth.sum(1) + mask.sum(1)) > 0)
    top = np.argsort(-np.asarray(scores), axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(truth, top, axis=1)
    n = max(1, len(truth))
    return {
        "n": int(len(truth)), "micro_f1": micro_f1(truth, mask),
        "macro_f1": macro_f1,
        "samples_f1": float(per_doc.mean()) if len(truth) else 0.0,
        "subset_accuracy": float((truth == mask).all(1).sum() / n),
        "p_at_1": float(hits[:, 0].sum() / n), "p_at_k": float(hits.mean()) if hits.size else 0.0, "k": k,
        "hamming_loss": float((truth != mask).mean()) if truth.size else 0.0,
        "labels_per_document": float(mask.sum() / n),
        "per_class": table,
    }


def truth_matrix(truth: list[list[str]], labels: list[str]) -> np.ndarray:
    """Multi-hot uint8 (n, len(labels)) of label-name lists; CorpusError for a label the
    model does not know."""
    index = {name: i for i, name in enumerate(labels)}
    missing = sorted({name for names in truth for name in names} - set(index))
    if missing:
        raise CorpusError(f"corpus labels unknown to the model: {', '.join(missing[:5])}")
    out = np.zeros((len(truth), len(labels)), np.uint8)
    for i, names in enumerate(truth):
        out[i, [index[name] for name in names]] = 1
    return out


def score(outputs_of, labels: list[str], texts: list[str], truth: list[list[str]], thresholds) -> dict:
    """report() of the label sets that outputs_of(texts) (logits, probabilities) and
    thresholds give, against the label-name lists truth, and the time the classifying took."""
    y = truth_matrix(truth, labels)
    t0 = time.perf_counter()
    logits, probs = outputs_of(texts)
    seconds = time.perf_counter() - t0
    rep = report(y, chosen_mask(logits, thresholds), probs, labels)
    rep.update(seconds=seconds, docs_per_s=len(texts) / max(seconds, 1e-9), multi_label=True)
    return rep


def format_report(rep: dict) -> str:
    lines = [f"micro-F1 {rep['micro_f1']:.4f}   macro-F1 {rep['macro_f1']:.4f}   samples-F1 {rep['samples_f1']:.4f}"
             f"   subset accuracy {rep['subset_accuracy']:.4f}",
             f"P@1 {rep['p_at_1']:.4f}   P@{rep['k']} {rep['p_at_k']:.4f}   Hamming loss {rep['hamming_loss']:.5f}"
             f"   labels per document {rep['labels_per_document']:.2f}   n {rep['n']}", "",
             f"{'label':32s} {'prec':>6s} {'recall':>6s} {'f1':>6s} {'n':>6s}"]
    for name, m in sorted(rep["per_class"].items(), key=lambda kv: -kv[1]["support"]):
        lines.append(f"{name[:32]:32s} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['support']:6d}")
    if rep.get("skipped"):
        lines.append(f"skipped {rep['skipped']} unreadable files")
    return "\n".join(lines)


def plot_label_f1(rep: dict, train_labels: np.ndarray, path, title: str = "") -> None:
    """Each label's F1 against its training documents (multi-hot train_labels; log scale):
    where rare labels fall."""
    from fastnews.atomic import atomic_path
    from fastnews.metrics import _pyplot
    plt = _pyplot()
    names = list(rep["per_class"])
    train_support = dict(zip(names, np.asarray(train_labels).sum(axis=0).tolist()))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter([max(1, train_support.get(n, 0)) for n in names], [rep["per_class"][n]["f1"] for n in names],
               s=[8 + 2 * rep["per_class"][n]["support"] ** 0.5 for n in names], alpha=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("training documents with the label")
    ax.set_ylabel("test F1")
    ax.set_title(title or f"per-label F1: micro {rep['micro_f1']:.3f}, macro {rep['macro_f1']:.3f}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
