"""Score a model on a labelled split: the `evaluate` verb, for an .onnx file or a run.

    from fastnews.evaluate import evaluate
    rep = evaluate("exports/news20.onnx")          # onnxruntime; no torch
    rep = evaluate("runs/news20", split="train")   # the same through PyTorch
    rep["accuracy"], rep["macro_f1"], rep["per_class"], rep["ece"], rep["skipped"]
    rep = evaluate("exports/reuters.onnx", "reuters.jsonl")  # multi-label: multilabel.report's figures
    rep["micro_f1"], rep["macro_f1"], rep["samples_f1"], rep["p_at_1"], rep["hamming_loss"]

The corpus is read as the model was trained: its header rule, test fraction and seed
come from the model's own metadata, so the split is the one it was scored on.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastnews import metrics, multilabel
from fastnews.artifact import corpus_options
from fastnews.corpus import default_corpus_path, load_corpus
from fastnews.errors import UsageError
from fastnews.metrics import plot_calibration, plot_confusion, score


def evaluate(model: str | os.PathLike, data: str | None = None, split: str = "test", batch_size: int = 64,
             threads: int = 0, min_score: float | None = None, confusion: str | None = None, plot: str | None = None,
             log=None) -> dict:
    """Accuracy, macro-F1, per-class figures, the confusion matrix and the scores'
    calibration (ECE, Brier, accuracy at coverages, reliability bins; with min_score, the
    coverage and accuracy of the documents scored at least that) of model (an .onnx file,
    a run directory or a model.pt) on the corpus's split ("test" or "train"). confusion and
    plot: PNG paths for the confusion matrix and the reliability and risk-coverage plots.
    Unreadable files are skipped, counted in "skipped" and passed to log."""
    if str(model).endswith(".onnx"):
        from fastnews.infer import Classifier
        clf = Classifier.load(model, threads=threads, batch_size=batch_size)
        # The documents whole: the Classifier applies the model's header rule itself.
        labels, outputs_of, thresholds = clf.labels, clf.outputs, clf.thresholds
        prep = {**clf.meta.get("preprocess", {}), "keep_headers": True}
    else:
        from fastnews.checkpoint import load_run, run_outputs
        run = load_run(model)
        labels, prep, thresholds = run.labels, run.checkpoint["train_config"], run.model.config.thresholds
        outputs_of = lambda texts: run_outputs(run, texts, batch_size)  # noqa: E731
    splits = load_corpus(data or default_corpus_path(), skip_unreadable=True, **corpus_options(prep))
    for doc_id, reason in splits.skipped:
        if log is not None:
            log(f"skipped {doc_id}: {reason}")
    part = splits.test if split == "test" else splits.train
    if part.multi_label:
        if confusion or min_score is not None:
            raise UsageError("--confusion and --min-score are for single-label models")
        rep = multilabel.score(outputs_of, labels, part.texts, part.label_lists(), thresholds)
        rep["skipped"] = len(splits.skipped)
        if plot:
            multilabel.plot_label_f1(rep, splits.train.labels, plot)
        return rep
    rep = score(outputs_of, labels, part.texts, [part.label_names[c] for c in part.labels], min_score)
    rep["skipped"] = len(splits.skipped)
    if confusion:
        plot_confusion(rep["confusion"], labels, confusion, title=f"{split} accuracy {rep['accuracy']:.3f}")
    if plot:
        plot_calibration(rep, plot, title=f"{Path(model).name}, {split} split: accuracy {rep['accuracy']:.3f}")
    return rep


def format_report(rep: dict) -> str:
    """evaluate's report as text: a multi-label one or a single-label one."""
    return multilabel.format_report(rep) if rep.get("multi_label") else metrics.format_report(rep)
