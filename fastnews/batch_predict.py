"""The predict verb: classify files, folders, archives or stdin with an .onnx model and
write one row per document, in input order. `fastnews predict` is this function.

    from fastnews import predict
    counts = predict("exports/a.onnx", ["docs/", "mail.tar.gz"], output="out.jsonl", top_k=3)
    counts.documents, counts.classified, counts.errors

A row is {"id", "label", "score"} (with top_k > 1 also "top_k"), for a multi-label model
{"id", "labels": [...], "scores": [...]}, or {"id", "error"} for a document that could
not be read, was empty or was binary: every
input gets a row. Output goes to stdout or, atomically, to a file (JSONL, CSV or Parquet).
Imports numpy, numba and onnxruntime; never torch.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

from fastnews.corpus import iter_documents
from fastnews.errors import OutputError, UsageError
from fastnews.infer import BATCH_SIZE, Classifier, Row
from fastnews.output import output_format, write_rows

MAX_BYTES = 10_000_000


@dataclass
class PredictCounts:
    documents: int        # rows in the output, error rows included
    errors: int           # error rows
    seconds: float
    resumed: int = 0      # of documents, those an interrupted run had done (resume)

    @property
    def classified(self) -> int:
        return self.documents - self.errors


def predict(model: str | os.PathLike, inputs: list[str], output: str | os.PathLike | None = None, *,
            format: str | None = None, top_k: int | None = None, batch_size: int = BATCH_SIZE, threads: int = 0,
            max_bytes: int | None = MAX_BYTES, engine: str = "local", address: str | None = None,
            workers: int = 0, resume: bool = False, min_score: float | None = None, threshold: float | None = None,
            progress: bool = False, stdin=None, log=None) -> PredictCounts:
    """Classify every document of inputs (paths of files, folders, .tar.gz/.zip archives,
    or "-" for one document per stdin line) and write the rows to output (None: stdout).

    format: jsonl, csv or parquet (default: output's suffix, else jsonl). top_k: labels
    per row (default 1; a multi-label model's set, at most top_k: default all). threshold:
    a multi-label model's sets at this probability, in place of its own thresholds.
    threads: cores each Classifier uses, one batch on each (0: all of this
    machine's cores locally; 1 per actor under Ray, which runs an actor per CPU).
    engine: "local" or "ray" (address, workers: the Ray cluster and its actor pool).
    resume: continue a killed run into the same output (JSONL or CSV, local engine).
    min_score: a document whose top (calibrated) score is below it abstains: its row has no
    label, "abstained": true and its best label as "guess" (output.py).
    progress: a progress bar on a terminal; log: where a resumed run says where it
    starts (a function of one string). Raises UsageError for options that do not
    go together, ModelFileError for a model fastnews cannot use."""
    output = None if output is None else str(output)
    fmt = _checked_options(output, format, top_k, batch_size, engine, address, workers, resume, min_score)
    if engine == "ray":
        threads = threads or 1
    clf = Classifier.load(model, threads=threads, batch_size=batch_size, threshold=threshold)  # the one load
    if clf.multi_label and min_score is not None:
        raise UsageError("--min-score is for single-label models; a multi-label model's sets take --threshold")
    k = min(top_k or (len(clf.labels) if clf.multi_label else 1), len(clf.labels))
    t0 = time.perf_counter()
    if resume:
        return _predict_resumable(clf, model, inputs, output, fmt, k, max_bytes, min_score, progress, stdin, log)
    if engine == "ray":
        from fastnews.ray_engine import classify_with_ray
        rows = classify_with_ray(clf, inputs, k=k, max_bytes=max_bytes, address=address, workers=workers,
                                 stdin=stdin, threshold=threshold)
    else:
        rows = clf.classify(iter_documents(inputs, stdin=stdin, max_bytes=max_bytes), k=k)
    rows = _with_progress(_with_abstention(rows, min_score), progress)
    n, n_err = write_rows(rows, output, fmt, k, abstain=min_score is not None, multi_label=clf.multi_label)
    return PredictCounts(n, n_err, time.perf_counter() - t0)


def _checked_options(output, fmt, top_k, batch_size, engine, address, workers, resume, min_score) -> str:
    """The output format, once the options are known to go together."""
    if (top_k is not None and top_k < 1) or batch_size < 1:
        raise UsageError("--top-k and --batch-size must be at least 1")
    if min_score is not None and not 0 <= min_score <= 1:
        raise UsageError("--min-score is a probability, from 0 to 1")
    if engine not in ("local", "ray"):
        raise UsageError(f"unknown engine {engine!r}; use local or ray")
    if engine != "ray" and (address or workers):
        raise UsageError("--address and --workers are for --engine ray")
    try:
        fmt = output_format(output, fmt)
    except OutputError as exc:
        raise UsageError(str(exc)) from None
    if resume and (not output or fmt == "parquet" or engine == "ray"):
        raise UsageError("--resume needs --output as JSONL or CSV, and the local engine")
    return fmt


def _predict_resumable(clf: Classifier, model, inputs, output: str, fmt: str, k: int, max_bytes, min_score,
                       progress: bool, stdin, log) -> PredictCounts:
    from fastnews.resume import ResumableOutput, fingerprint
    t0 = time.perf_counter()
    options = {"format": fmt, "k": k, "max_bytes": max_bytes} | ({"min_score": min_score} if min_score is not None else {})
    if clf.multi_label:
        options["thresholds"] = clf.thresholds.tolist()
    out = ResumableOutput(output, fingerprint(model, inputs, options))
    done = out.rows
    if done and log is not None:
        log(f"resuming {output}: {done} documents were done")
    docs = out.skip_done(iter_documents(inputs, stdin=stdin, max_bytes=max_bytes, lazy=True), max_bytes)
    rows = _with_progress(_with_abstention(clf.classify(docs, k=k), min_score), progress, done)
    n, n_err = out.write(rows, fmt, k, abstain=min_score is not None, multi_label=clf.multi_label)
    return PredictCounts(n, n_err, time.perf_counter() - t0, resumed=done)


def _with_abstention(rows: Iterable[Row], min_score: float | None) -> Iterator[Row]:
    """rows, each marked abstained when its top score is below min_score."""
    for row in rows:
        if min_score is not None and row.error is None:
            row.abstained = row.scores[0] < min_score
        yield row


def _with_progress(rows: Iterable[Row], progress: bool, done: int = 0) -> Iterator[Row]:
    """rows, counted on a tqdm bar when progress is asked for and stderr is a terminal
    (tqdm costs 50 ms to import: only then)."""
    if not (progress and sys.stderr.isatty()):
        yield from rows
        return
    from tqdm import tqdm
    with tqdm(initial=done, unit="doc", unit_scale=True, file=sys.stderr, dynamic_ncols=True) as bar:
        for row in rows:
            yield row
            bar.update(1)
