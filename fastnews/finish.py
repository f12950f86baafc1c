"""The end of a training run, on rank 0: the linear members, the final model's figures on
the test split, and what the run directory keeps of them (metrics.json, model.pt, plots).

Single-label runs report accuracy, macro-F1 and the scores' calibration; multi-label runs
micro-, macro- and samples-F1, subset accuracy, P@1, P@k and Hamming loss of the label
sets that the model's thresholds choose (multilabel.py).
"""

from __future__ import annotations

import json

import numpy as np
import torch

from fastnews import __version__, crossfit, multilabel
from fastnews.atomic import write_text
from fastnews.calibration import calibration_report, softmax
from fastnews.checkpoint import predict_logits, save
from fastnews.corpus import Splits
from fastnews.metrics import plot_confusion, plot_curves, report
from fastnews.model import TextCNN, calibrated_probabilities


def finish(s, state, splits: Splits, glove, fit_fold) -> dict:
    """Add the linear members (crossfit.py; fit_fold trains the extra networks), score the
    final model on test, write metrics.json, model.pt and the plots of train.py's session
    s and progress state -> the metrics."""
    combo = crossfit.add_members(s, state, splits, glove, fit_fold)
    test_logits = predict_logits(s.model, s.data["test"])
    if s.model.config.multi_label:
        figures, rep = _multilabel_figures(s.model, test_logits, splits)
    else:
        figures, rep = _single_label_figures(s.model, test_logits, splits, combo)
    history, best = state.history, state.best
    train_seconds = sum(h["seconds"] for h in history) + combo["seconds"]
    metrics = {
        "fastnews_version": __version__, "device": str(s.device), "torch": str(torch.__version__),
        "threads": torch.get_num_threads(), "processes": s.world.size, "corpus": splits.source,
        "test_from": splits.test_from, "n_train": len(s.data["train"]), "n_val": len(s.data["val"]),
        "n_test": len(splits.test), "vocab_size": len(s.tok.vocab), "n_found_in_glove": s.n_found,
        "glove": glove.meta.get("package") or glove.meta.get("source"),
        "epochs_run": len(history), "best_epoch": best["epoch"], "best_val_accuracy": best["val_accuracy"],
        "train_seconds": train_seconds, "docs_per_s": sum(h["docs_per_s"] for h in history) / max(1, len(history)),
        **figures, "combination": combo, "history": history, "test_per_class": rep["per_class"],
    }
    write_text(s.run_dir / "metrics.json", json.dumps(metrics, indent=1))
    save({**s.header(), "state_dict": state.best_state, "epoch": best["epoch"], "metrics": _summary(metrics)},
         s.run_dir / "model.pt")
    plot_curves(history, s.run_dir / "curves.png")
    if s.model.config.multi_label:
        multilabel.plot_label_f1(rep, splits.train.labels, s.run_dir / "labels.png")
        s.log(f"test micro-F1 {rep['micro_f1']:.4f}  macro-F1 {rep['macro_f1']:.4f}  samples-F1 "
              f"{rep['samples_f1']:.4f}  subset accuracy {rep['subset_accuracy']:.4f}  P@1 {rep['p_at_1']:.4f}  "
              f"(best epoch {best['epoch']}, {train_seconds:.0f}s of training)")
    else:
        plot_confusion(rep["confusion"], s.names, s.run_dir / "confusion.png",
                       title=f"test accuracy {rep['accuracy']:.3f}")
        s.log(f"test accuracy {rep['accuracy']:.4f}  macro-F1 {rep['macro_f1']:.4f}  ECE {figures['test_ece']:.4f} "
              f"(softmax {figures['test_ece_softmax']:.4f}, top-label map {figures['test_ece_top_label']:.4f})  "
              f"(best epoch {best['epoch']}, {train_seconds:.0f}s of training)")
    s.world.broadcast(metrics)
    return metrics


def _single_label_figures(model: TextCNN, logits: np.ndarray, splits: Splits, combo: dict) -> tuple[dict, dict]:
    """metrics.json's test figures, and metrics.report's."""
    truth = splits.test.labels
    rep = report(truth, logits.argmax(1), splits.test.label_names)
    shipped = calibration_report(model.probabilities(torch.from_numpy(logits)).numpy(), truth)
    mapped = calibrated_probabilities(torch.from_numpy(logits), *combo["top_label_map"]).numpy()
    return {"test_accuracy": rep["accuracy"], "test_macro_f1": rep["macro_f1"], "test_ece": shipped["ece"],
            "test_brier": shipped["brier"], "test_ece_softmax": calibration_report(softmax(logits), truth)["ece"],
            "test_ece_top_label": calibration_report(mapped, truth)["ece"]}, rep


def _multilabel_figures(model: TextCNN, logits: np.ndarray, splits: Splits) -> tuple[dict, dict]:
    """metrics.json's test figures, and multilabel.report's."""
    with torch.no_grad():
        chosen = model.chosen(torch.from_numpy(logits)).numpy()
        probs = model.probabilities(torch.from_numpy(logits)).numpy()
    rep = multilabel.report(splits.test.labels, chosen, probs, splits.test.label_names)
    keys = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "p_at_1", "p_at_k", "hamming_loss",
            "labels_per_document")
    return {"multi_label": True, **{f"test_{k}": rep[k] for k in keys}}, rep


def _summary(metrics: dict) -> dict:
    """The scalar metrics, for the model file and the ONNX metadata."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}
