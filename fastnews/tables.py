"""Corpora as one file: CSV, TSV or JSONL rows of text, label and (optionally) split, or
fastText's format, one document per line after its label.

    text,label,split          {"text": "...", "label": "sci.space", "split": "train"}
    __label__sci.space the shuttle launch slipped a week

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
               notes: list[str] | None = None) -> list[tuple[str | None, str, str, str]]:
    """(split, label, id, text) per row; id is "file:line". notes gets one line per
    thing worth telling the user (labels merged by trimming)."""
    if path.suffix.lower() in (".csv", ".tsv"):
        rows = _read_delimited(path, "\t" if path.suffix.lower() == ".tsv" else ",", text_column, label_column)
    elif path.suffix.lower() in TABLE_SUFFIXES:
        rows = _read_jsonl(path, text_column, label_column)
    else:
        rows = _read_fasttext(path)
    written: dict[str, set[str]] = {}
    out = []
    for split, label, where, text in rows:
        trimmed = label.strip()
        if not trimmed:
            raise TableError(f"{where}: empty label")
        written.setdefault(trimmed, set()).add(label)
        out.append((split.strip() or None if isinstance(split, str) else split, trimmed, where, text))
    merged = {k: v for k, v in written.items() if len(v) > 1}
    if merged and notes is not None:
        label, forms = next(iter(merged.items()))
        notes.append(f"{path}: {len(merged)} labels differ only in surrounding whitespace and were merged, e.g. "
                     + " and ".join(repr(f) for f in sorted(forms)[:2]) + f" -> {label!r}")
    return out


@contextmanager
def _cells_of_any_size():
    """csv's field size limit raised for a read (it is process-wide: restored after)."""
    old = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 2 ** 31 - 1))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _read_delimited(path: Path, delimiter: str, text_column: str, label_column: str):
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
            yield row.get("split"), row[label_column] or "", f"{path}:{reader.line_num}", row[text_column] or ""


def _read_jsonl(path: Path, text_column: str, label_column: str):
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TableError(f"{path}:{i}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict) or text_column not in obj or label_column not in obj:
                raise TableError(f"{path}:{i}: JSONL record needs {text_column!r} and {label_column!r} fields")
            text, label = obj[text_column], obj[label_column]
            if not isinstance(text, str):
                raise TableError(f"{path}:{i}: {text_column!r} is {_json_kind(text)}, not a string")
            if isinstance(label, bool) or not isinstance(label, (str, int)):
                raise TableError(f"{path}:{i}: {label_column!r} is {_json_kind(label)}; a label is a string or an "
                                 "integer")
            yield obj.get("split"), str(label), f"{path}:{i}", text


def _read_fasttext(path: Path, prefix: str = LABEL_PREFIX):
    """fastText's supervised format: each line's leading prefix-tokens are its labels, the
    rest its text. One label per line (a line with several is a multi-label corpus, which
    fastnews does not train yet: an error naming the line); blank lines are skipped."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for i, line in enumerate(fh, start=1):
            tokens = line.split()
            if not tokens:
                continue
            n = next((j for j, t in enumerate(tokens) if not t.startswith(prefix)), len(tokens))
            if n == 0:
                raise TableError(f"{path}:{i}: no {prefix} label at the start of the line")
            if n > 1:
                raise TableError(f"{path}:{i}: {n} labels; fastnews trains one label per document")
            yield None, tokens[0][len(prefix):], f"{path}:{i}", " ".join(tokens[n:])


def _json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {int: "an integer", float: "a number", list: "a list", dict: "an object"}.get(type(value), "a string")
