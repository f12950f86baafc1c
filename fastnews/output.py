"""Prediction rows out: JSONL, CSV or Parquet. One row per input document, in input order.

    JSONL    {"id", "label", "score"} (+ "top_k" with k > 1), or {"id", "error"}
    CSV      id,label,score,error; with k > 1, labels and scores joined by "|"
    Parquet  id, label, score, error (nulls where they do not apply), and labels/scores
             lists with k > 1; needs pyarrow
"""

from __future__ import annotations

import json

from fastnews.infer import Row


class OutputError(ValueError):
    """An output that cannot be written as asked; the message is one line for the user."""


class TextWriter:
    """JSONL or CSV rows to an open text file."""

    def __init__(self, fh, fmt: str, k: int):
        self.fh, self.fmt, self.k = fh, fmt, k
        if fmt == "csv":
            import csv
            self.csv = csv.writer(fh)
            self.csv.writerow(["id", "label", "score", "error"])

    def write(self, row: Row) -> None:
        if self.fmt == "csv":
            self.csv.writerow([row.id, "|".join(row.labels or []),
                               "|".join(f"{s:.6f}" for s in row.scores or []), row.error or ""])
            return
        if row.error is not None:
            obj = {"id": row.id, "error": row.error}
        else:
            obj = {"id": row.id, "label": row.labels[0], "score": round(row.scores[0], 6)}
            if self.k > 1:
                obj["top_k"] = [{"label": l, "score": round(s, 6)} for l, s in zip(row.labels, row.scores)]
        self.fh.write(json.dumps(obj, ensure_ascii=False) + "\n")

    def close(self) -> None:
        pass  # the caller owns the file


class ParquetWriter:
    """Rows to a Parquet file at path, a row group per 65,536 rows."""
    GROUP = 65536

    def __init__(self, path, k: int):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise OutputError('Parquet output needs pyarrow: pip install pyarrow (or "fastnews[ray]")') from None
        self.pa, self.k, self.rows = pa, k, []
        fields = [("id", pa.string()), ("label", pa.string()), ("score", pa.float64()), ("error", pa.string())]
        if k > 1:
            fields += [("labels", pa.list_(pa.string())), ("scores", pa.list_(pa.float64()))]
        self.schema = pa.schema(fields)
        self.out = pq.ParquetWriter(str(path), self.schema)

    def write(self, row: Row) -> None:
        ok = row.error is None
        rec = {"id": row.id, "label": row.labels[0] if ok else None, "score": row.scores[0] if ok else None,
               "error": row.error}
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
