"""Corpora as one file: CSV, TSV or JSONL rows of text, label(s) and (optionally) split, or
fastText's format, one document per line after its labels.

    text,label,split          {"text": "...", "label": "sci.space", "split": "train"}
                              {"text": "...", "labels": ["grain", "wheat"]}
    __label__sci.space the shuttle launch slipped a week
    __label__grain __label__wheat wheat exports rose

Every reader gives each document a tuple of labels: one, or several for a multi-label
corpus (a JSONL `labels` list, a CSV cell split at label_separator, several fastText label
tokens). An empty list, or a label with the separator inside it, is an error that names
its line.

What spreadsheets and everyday tools write is read as they write it: a UTF-8 byte-order
mark, CRLF line ends and quoted fields with newlines; ``.tsv`` is tab-separated. The
columns are named by text_column and label_column (and "split"). A label is used as
written, less surrounding whitespace; an empty one is an error that names its row. A CSV
cell may be as long as a document is (Python's csv module stops at 131,072 characters by
default). In JSONL, a text must be a string and a label a string or an integer ("1" and 1
are one class; 1.0, true, null, lists and objects are errors that name their line).
"""

from __future__ import annotations

import csv
import json
import sys
from contextlib import contextmanager
from pathlib import Path

from fastnews.errors import TableError
from fastnews.progress import counted

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")
LABEL_PREFIX = "__label__"  # fastText's default -label


def is_fasttext(path: Path, prefix: str = LABEL_PREFIX) -> bool:
    """Whether path's first non-blank line starts with a label token."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            if line.strip():
                return line.lstrip().startswith(prefix)
    return False


def read_table(path: Path, text_column: str = "text", label_column: str = "label",
               notes: list[str] | None = None, label_separator: str | None = None,
               label_prefix: str = LABEL_PREFIX, progress: bool = False
               ) -> tuple[list[tuple[str | None, tuple[str, ...], str, str]], bool]:
    """([(split, labels, id, text) per row], listed); id is "file:line"; listed says the
    labels came as lists (JSONL `labels`, a label_separator), which makes a corpus
    multi-label. notes gets one line per thing worth telling the user (labels merged by
    trimming). progress: count the rows on a bar (on a terminal)."""
    if path.suffix.lower() in (".csv", ".tsv"):
        rows = _read_delimited(path, "\t" if path.suffix.lower() == ".tsv" else ",", text_column, label_column,
                               label_separator)
    elif path.suffix.lower() in TABLE_SUFFIXES:
        rows = _read_jsonl(path, text_column, label_column)
    else:
        rows = _read_fasttext(path, label_prefix)
    written: dict[str, set[str]] = {}
    out, listed = [], label_separator is not None
    for split, labels, where, text in counted(rows, "reading", progress):
        listed = listed or isinstance(labels, list)  # the readers give a list only where the file had one
        if not labels:
            raise TableError(f"{where}: empty label list")
        trimmed = tuple(dict.fromkeys(label.strip() for label in labels))  # in order, once each
        for label in labels:
            if not label.strip():
                raise TableError(f"{where}: empty label")
            if label_separator and label_separator in label:
                raise TableError(f"{where}: label {label!r} holds the label separator {label_separator!r}")
            written.setdefault(label.strip(), set()).add(label)
        out.append((split.strip() or None if isinstance(split, str) else split, trimmed, where, text))
    merged = {k: v for k, v in written.items() if len(v) > 1}
    if merged and notes is not None:
        label, forms = next(iter(merged.items()))
        notes.append(f"{path}: {len(merged)} labels differ only in surrounding whitespace and were merged, e.g. "
                     + " and ".join(repr(f) for f in sorted(forms)[:2]) + f" -> {label!r}")
    return out, listed


@contextmanager
def _cells_of_any_size():
    """csv's field size limit raised for a read (it is process-wide: restored after)."""
    old = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 2 ** 31 - 1))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _read_delimited(path: Path, delimiter: str, text_column: str, label_column: str, separator: str | None):
    with _cells_of_any_size(), open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        # utf-8-sig: a BOM is not a column name
        reader = csv.DictReader(fh, delimiter=delimiter)
        fields = reader.fieldnames or []
        missing = [f for f in (text_column, label_column) if f not in fields]
        if missing:
            kind = "TSV" if delimiter == "\t" else "CSV"
            raise TableError(f"{path}: {kind} has no {' or '.join(repr(m) for m in missing)} column "
                             f"(found: {', '.join(fields) or 'none'}; name others with --text-column/--label-column)")
        # reader.line_num is the physical line the row ended on (quoted fields may span lines).
        for row in reader:
            cell = row[label_column] or ""
            labels = tuple(part for part in cell.split(separator) if part.strip()) if separator else (cell,)
            yield row.get("split"), labels, f"{path}:{reader.line_num}", row[text_column] or ""


def _read_jsonl(path: Path, text_column: str, label_column: str):
    """Rows of a JSONL file; a record's labels are its label_column or, failing that, its
    "labels" field: a list when the record gave one, else a tuple of one."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TableError(f"{path}:{i}: not valid JSON ({exc.msg})") from None
            field = label_column if isinstance(obj, dict) and label_column in obj else "labels"
            if not isinstance(obj, dict) or text_column not in obj or field not in obj:
                raise TableError(f"{path}:{i}: JSONL record needs {text_column!r} and {label_column!r} (or a "
                                 "'labels' list) fields")
            text, label = obj[text_column], obj[field]
            if not isinstance(text, str):
                raise TableError(f"{path}:{i}: {text_column!r} is {_json_kind(text)}, not a string")
            labels = label if isinstance(label, list) else (label,)
            for one in labels:
                if isinstance(one, bool) or not isinstance(one, (str, int)):
                    raise TableError(f"{path}:{i}: {field!r} holds {_json_kind(one)}; a label is a string or an "
                                     "integer (or a list of those)")
            yield obj.get("split"), type(labels)(str(one) for one in labels), f"{path}:{i}", text


def _read_fasttext(path: Path, prefix: str = LABEL_PREFIX):
    """fastText's supervised format: each line's leading prefix-tokens are its labels, the
    rest its text; blank lines are skipped."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for i, line in enumerate(fh, start=1):
            tokens = line.split()
            if not tokens:
                continue
            n = next((j for j, t in enumerate(tokens) if not t.startswith(prefix)), len(tokens))
            if n == 0:
                raise TableError(f"{path}:{i}: no {prefix} label at the start of the line")
            yield None, tuple(t[len(prefix):] for t in tokens[:n]), f"{path}:{i}", " ".join(tokens[n:])


def _json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {int: "an integer", float: "a number", list: "a list", dict: "an object"}.get(type(value), "a string")
