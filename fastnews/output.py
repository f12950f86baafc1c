"""Prediction rows out: JSONL, CSV or Parquet. One row per input document, in input order.

    JSONL    {"id", "label", "score"} (+ "top_k" with k > 1), or {"id", "error"}
    CSV      id,label,score,error; with k > 1, labels and scores joined by "|"
    Parquet  id, label, score, error (nulls where they do not apply), and labels/scores
             lists with k > 1; needs pyarrow

A multi-label model's rows carry its label set, best first, and their scores:

    JSONL    {"id", "labels": [...], "scores": [...]}, or {"id", "error"}
    CSV      id,labels,scores,error, labels and scores joined by "|"
    Parquet  id, labels (list), scores (list), error

With a minimum score (predict --min-score), a document whose top score is below it
abstains: its label is empty (JSON null), "abstained" is true and "guess" holds the best
label; CSV and Parquet gain the columns abstained and guess.
"""

from __future__ import annotations

import json
import sys
from typing import Iterable

from fastnews.atomic import atomic_path
from fastnews.errors import OutputError
from fastnews.infer import Row

FORMATS = ("jsonl", "csv", "parquet")


class TextWriter:
    """JSONL or CSV rows to an open text file."""

    def __init__(self, fh, fmt: str, k: int, header: bool = True, abstain: bool = False, multi_label: bool = False):
        self.fh, self.fmt, self.k, self.abstain, self.multi_label = fh, fmt, k, abstain, multi_label
        if fmt == "csv":
            import csv
            self.csv = csv.writer(fh)
            if header:
                first = ["id", "labels", "scores"] if multi_label else ["id", "label", "score"]
                self.csv.writerow(first + ["error"] + (["abstained", "guess"] if abstain else []))

    def write(self, row: Row) -> None:
        if self.multi_label and self.fmt != "csv":
            obj = {"id": row.id, "error": row.error} if row.error is not None else {
                "id": row.id, "labels": row.labels, "scores": [round(s, 6) for s in row.scores]}
            self.fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
            return
        if self.fmt == "csv":
            labels = "" if row.abstained else "|".join(row.labels or [])
            cells = [row.id, labels, "|".join(f"{s:.6f}" for s in row.scores or []), row.error or ""]
            if self.abstain:
                cells += ["true" if row.abstained else "", row.labels[0] if row.abstained else ""]
            self.csv.writerow(cells)
            return
        if row.error is not None:
            obj = {"id": row.id, "error": row.error}
        else:
            obj = {"id": row.id, "label": None if row.abstained else row.labels[0], "score": round(row.scores[0], 6)}
            if row.abstained:
                obj.update(abstained=True, guess=row.labels[0])
            if self.k > 1:
                obj["top_k"] = [{"label": l, "score": round(s, 6)} for l, s in zip(row.labels, row.scores)]
        self.fh.write(json.dumps(obj, ensure_ascii=False) + "\n")

    def close(self) -> None:
        pass  # the caller owns the file


class ParquetWriter:
    """Rows to a Parquet file at path, a row group per 65,536 rows."""
    GROUP = 65536

    def __init__(self, path, k: int, abstain: bool = False, multi_label: bool = False):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise OutputError('Parquet output needs pyarrow: pip install pyarrow (or "fastnews[ray]")') from None
        self.pa, self.k, self.abstain, self.multi_label, self.rows = pa, k, abstain, multi_label, []
        lists = [("labels", pa.list_(pa.string())), ("scores", pa.list_(pa.float64()))]
        fields = [("id", pa.string())] + (lists if multi_label else [("label", pa.string()), ("score", pa.float64())])
        fields.append(("error", pa.string()))
        if abstain:
            fields += [("abstained", pa.bool_()), ("guess", pa.string())]
        if k > 1 and not multi_label:
            fields += lists
        self.schema = pa.schema(fields)
        self.out = pq.ParquetWriter(str(path), self.schema)

    def write(self, row: Row) -> None:
        ok = row.error is None
        if self.multi_label:
            self.rows.append({"id": row.id, "labels": row.labels, "scores": row.scores, "error": row.error})
            if len(self.rows) >= self.GROUP:
                self._flush()
            return
        rec = {"id": row.id, "label": row.labels[0] if ok and not row.abstained else None,
               "score": row.scores[0] if ok else None, "error": row.error}
        if self.abstain:
            rec["abstained"], rec["guess"] = row.abstained, row.labels[0] if row.abstained else None
        if self.k > 1:
            rec["labels"], rec["scores"] = row.labels, row.scores
        self.rows.append(rec)
        if len(self.rows) >= self.GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            self.out.write_table(self.pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def close(self) -> None:
        self._flush()
        self.out.close()


def output_format(output: str | None, fmt: str | None) -> str:
    """fmt, or the one output's suffix names (.csv, .parquet), else jsonl."""
    suffix = (output or "").lower()
    fmt = fmt or ("csv" if suffix.endswith(".csv") else "parquet" if suffix.endswith(".parquet") else "jsonl")
    if fmt not in FORMATS:
        raise OutputError(f"unknown output format {fmt!r}; use {', '.join(FORMATS)}")
    if fmt == "parquet" and not output:
        raise OutputError("parquet output is a file: give --output (an output path)")
    return fmt


def write_rows(rows: Iterable[Row], output: str | None, fmt: str, k: int, abstain: bool = False,
               multi_label: bool = False) -> tuple[int, int]:
    """Write rows to output (atomically: the file appears whole or not at all) or, with
    no output, to stdout -> (rows written, error rows)."""
    n = n_err = 0

    def emit(writer):
        nonlocal n, n_err
        for row in rows:
            writer.write(row)
            n += 1
            n_err += row.error is not None
        writer.close()

    if output is None:
        emit(TextWriter(sys.stdout, fmt, k, abstain=abstain, multi_label=multi_label))
        sys.stdout.flush()
    else:
        with atomic_path(output) as tmp:
            if fmt == "parquet":
                emit(ParquetWriter(tmp, k, abstain, multi_label))
            else:
                with open(tmp, "w", encoding="utf-8", newline="") as fh:
                    emit(TextWriter(fh, fmt, k, abstain=abstain, multi_label=multi_label))
    return n, n_err
