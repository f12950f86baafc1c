"""Classification metrics and plots, in numpy (no torch): used by training and evaluation."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from fastnews.calibration import calibration_report
from fastnews.errors import CorpusError


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """int64 [n_classes, n_classes]: rows are true classes, columns predictions."""
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def per_class(tp: np.ndarray, predicted: np.ndarray, support: np.ndarray, label_names: list[str]
              ) -> tuple[dict, float]:
    """({name: precision, recall, f1, support}, macro-F1) from each class's true positives,
    predictions and support. Macro-F1 follows scikit-learn's f1_score(average="macro"): the
    mean over the classes in the truth or the predictions, so a class the model predicts that
    the split lacks counts, with F1 0."""
    tp = np.asarray(tp, np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * tp, predicted + support, out=np.zeros_like(tp), where=(predicted + support) > 0)
    present = (support > 0) | (predicted > 0)
    table = {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                    "support": int(support[i])} for i, name in enumerate(label_names)}
    return table, float(f1[present].mean()) if present.any() else 0.0


def report(y_true, y_pred, label_names: list[str]) -> dict:
    """accuracy, macro_f1 (over the classes in y_true or y_pred, as scikit-learn's
    f1_score(average="macro")), n, and per-class precision/recall/f1/support."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    cm = confusion(y_true, y_pred, len(label_names))
    table, macro_f1 = per_class(np.diag(cm), cm.sum(0), cm.sum(1), label_names)
    return {"n": int(y_true.shape[0]), "accuracy": float((y_true == y_pred).mean()) if y_true.size else 0.0,
            "macro_f1": macro_f1, "per_class": table, "confusion": cm.tolist()}


def score(outputs_of, labels: list[str], texts: list[str], truth: list[str], min_score: float | None = None) -> dict:
    """report() of the argmax of outputs_of(texts) (logits, probabilities) against the label
    names truth, with the probabilities' calibration (calibration.calibration_report) and the
    time the classifying took. Raises CorpusError for a class the model does not know."""
    index = {name: i for i, name in enumerate(labels)}
    missing = sorted(set(truth) - set(index))
    if missing:
        raise CorpusError(f"corpus classes unknown to the model: {', '.join(missing[:5])}")
    t0 = time.perf_counter()
    logits, probs = outputs_of(texts)
    seconds = time.perf_counter() - t0
    y = np.array([index[name] for name in truth], np.int64)
    rep = report(y, logits.argmax(1), labels)
    rep.update(calibration_report(np.asarray(probs, np.float64), y, min_score))
    rep["seconds"] = seconds
    rep["docs_per_s"] = len(texts) / max(seconds, 1e-9)
    return rep


def format_report(rep: dict) -> str:
    lines = [f"accuracy {rep['accuracy']:.4f}   macro-F1 {rep['macro_f1']:.4f}   n {rep['n']}"]
    if "ece" in rep:
        coverage = "  ".join(f"{float(c):.0%} {a:.4f}" for c, a in rep["accuracy_at_coverage"].items())
        lines += [f"ECE {rep['ece']:.4f}   Brier {rep['brier']:.4f}   mean top score {rep['mean_score']:.4f}",
                  f"accuracy of the most confident: {coverage}"]
    if "min_score" in rep:
        m = rep["min_score"]
        lines.append(f"top score >= {m['threshold']:g}: {m['coverage']:.1%} of documents, accuracy {m['accuracy']:.4f}")
    lines += ["",
             f"{'class':32s} {'prec':>6s} {'recall':>6s} {'f1':>6s} {'n':>6s}"]
    for name, m in rep["per_class"].items():
        lines.append(f"{name[:32]:32s} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['support']:6d}")
    if rep.get("skipped"):
        lines.append(f"skipped {rep['skipped']} unreadable files")
    return "\n".join(lines)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_confusion(cm, label_names: list[str], path: str | Path, title: str = "") -> None:
    from fastnews.atomic import atomic_path
    plt = _pyplot()
    cm = np.asarray(cm, np.float64)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    size = max(6, 0.45 * len(label_names))
    fig, ax = plt.subplots(figsize=(size + 2, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(label_names)), label_names, rotation=90, fontsize=8)
    ax.set_yticks(range(len(label_names)), label_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix (row-normalised)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def plot_calibration(rep: dict, path: str | Path, title: str = "") -> None:
    """A reliability diagram (accuracy against mean top score, per bin) and a risk-coverage
    curve (accuracy of the most confident share), side by side, from calibration_report."""
    from fastnews.atomic import atomic_path
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.2))
    bins = rep["reliability"]
    a.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
    a.bar([(x["low"] + x["high"]) / 2 for x in bins], [x["accuracy"] for x in bins], width=1 / 15, alpha=0.35,
          edgecolor="C0")
    a.plot([x["score"] for x in bins], [x["accuracy"] for x in bins], marker="o", color="C0")
    a.set_xlabel("mean top score in bin")
    a.set_ylabel("accuracy in bin")
    a.set_title(f"reliability: ECE {rep['ece']:.3f}")
    cov = rep["coverage_curve"]
    b.plot([c for c, _ in cov], [acc for _, acc in cov], color="C1")
    b.set_xlabel("coverage (most confident share kept)")
    b.set_ylabel("accuracy on that share")
    b.set_title("risk-coverage")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def plot_curves(history: list[dict], path: str | Path) -> None:
    from fastnews.atomic import atomic_path
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(epochs, [h["train_loss"] for h in history], marker="o")
    a.set_xlabel("epoch")
    a.set_ylabel("train loss")
    b.plot(epochs, [h["val_accuracy"] for h in history], marker="o", color="C1")
    b.set_xlabel("epoch")
    b.set_ylabel("validation accuracy")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
