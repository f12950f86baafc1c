"""Reading documents: corpora for training (texts + labels + splits) and inputs for prediction.

Accepted corpus layouts (``load_corpus``):

* a directory with one subfolder per class, one document per file;
* the same under split folders whose names contain ``train`` / ``test``
  (``20news-bydate-train/<class>/<file>``);
* a ``.tar.gz`` / ``.tgz`` / ``.tar`` / ``.zip`` archive of either, read in memory,
  never extracted to disk;
* a ``.csv``, ``.tsv`` or ``.jsonl`` table with ``text`` and ``label`` (or ``labels``)
  fields (and optionally ``split``), or a fastText-format file, read by tables.py.

A corpus is multi-label when a document has several labels or its labels come as lists
(label_mode "auto"); "single" or "multi" force it. A multi-label Corpus holds its labels
as multi-hot rows.

Bytes become text as UTF-8, falling back to latin-1 per document. A leading RFC 822
header block is dropped unless ``keep_headers`` is set. This module imports no torch:
prediction reads its inputs through ``iter_documents`` too.
"""

from __future__ import annotations

import os
import re
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from fastnews.errors import CorpusError
from fastnews.labels import classes_present, is_multi_label, label_array, label_counts
from fastnews.progress import counted
from fastnews.splitting import split_indices
from fastnews.tables import LABEL_PREFIX, TABLE_SUFFIXES, is_fasttext, read_table

NEWS20_URL = "https://ndownloader.figshare.com/files/5975967"
NEWS20_SHA256 = "8f1b2514ca22a5ade8fbb9cfa5727df95fa587f4c87b786e15c759fa66d95610"
NEWS20_FILE = "20news-bydate.tar.gz"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


def fastnews_home() -> Path:
    return Path(os.environ.get("FASTNEWS_HOME", Path.home() / ".cache" / "fastnews"))


# ---------------------------------------------------------------------------
# Text cleaning, shared by training and prediction.

_HEADER_LINE = re.compile(r"^[!-9;-~]+:")  # RFC 822 field name, then a colon


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def strip_headers(text: str) -> str:
    """Drop the lines up to the first blank line when they look like ``Key: value`` headers
    (continuation lines, which start with whitespace, are part of a header). Line ends
    are "\n" or "\r\n"; textgraph.py writes the same rule as RE2 patterns."""
    text_n = text.replace("\r\n", "\n") if "\r" in text else text
    head, sep, body = text_n.partition("\n\n")
    if not sep or not _HEADER_LINE.match(head):
        return text
    for line in head.split("\n"):
        if not (_HEADER_LINE.match(line) or line[:1] in (" ", "\t")):
            return text
    return body


def clean(data: bytes, keep_headers: bool = False) -> str:
    text = decode(data)
    return text if keep_headers else strip_headers(text)


# ---------------------------------------------------------------------------
# Walking directories and archives. Each item is (relative path, bytes).


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _hidden(rel: str) -> bool:
    """Dot-files and macOS archive litter; '..' is not hidden but unsafe (see _member)."""
    return any((part.startswith(".") and part not in (".", "..")) or part == "__MACOSX" for part in rel.split("/"))


def read_file(path: str | os.PathLike, max_bytes: int | None = None) -> bytes:
    """A file's bytes, or its first max_bytes: a huge file never has to fit in memory."""
    with open(path, "rb") as fh:
        return fh.read(-1 if max_bytes is None else max_bytes)


@dataclass(frozen=True)
class FileRef:
    """A document still on disk, to be read where it is classified (a Ray worker, say)."""
    path: str

    def read(self, max_bytes: int | None = None) -> bytes | Exception:
        try:
            return read_file(self.path, max_bytes)
        except Exception as exc:  # one unreadable file becomes one error row
            return exc


def iter_archive(path: Path, max_bytes: int | None = None) -> Iterator[tuple[str, bytes | Exception]]:
    """Members of a tar or zip archive, in archive order, read in memory.

    Member names are reported, never used as paths on disk, so a ``../`` name cannot
    write anywhere; such names are flagged as errors all the same."""
    if path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir() or _hidden(info.filename):
                    continue
                yield _member(info.filename, lambda info=info: _read_zip(zf, info, max_bytes))
    else:
        with tarfile.open(path, "r:*") as tf:
            for member in tf:
                if not member.isfile() or _hidden(member.name):
                    continue
                yield _member(member.name, lambda member=member: tf.extractfile(member).read(max_bytes))


def _read_zip(zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int | None) -> bytes:
    with zf.open(info) as fh:
        return fh.read(-1 if max_bytes is None else max_bytes)


def _member(name: str, read) -> tuple[str, bytes | Exception]:
    if name.startswith("/") or ".." in name.split("/"):
        return name, CorpusError(f"unsafe archive member name: {name}")
    try:
        return name, read()
    except Exception as exc:  # a corrupt member must not stop the others
        return name, exc


def iter_tree(root: Path, max_bytes: int | None = None, lazy: bool = False
              ) -> Iterator[tuple[str, bytes | Exception | FileRef]]:
    """Files under root, recursively, in sorted order; symlink loops are not followed.
    lazy: yield a FileRef for each file instead of reading it.
    (os.path strings, not pathlib: this loop runs once per document.)"""
    root = os.fspath(root)
    skip = len(root.rstrip(os.sep)) + 1
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = os.path.join(dirpath, name)
            rel = full[skip:].replace(os.sep, "/")
            ref = FileRef(full)
            yield rel, ref if lazy else ref.read(max_bytes)


def iter_documents(inputs: list[str], stdin=None, max_bytes: int | None = None, lazy: bool = False
                   ) -> Iterator[tuple[str, bytes | Exception | FileRef]]:
    """Every document named by inputs, in order: files, directories (recursive),
    archives (their members), or ``-`` for one document per line of stdin.
    Yields (id, bytes) or (id, exception) for a document that cannot be read.
    Reads at most max_bytes of each document. lazy: plain files (also in folders) come
    as FileRefs, unread; archive members and stdin lines are read here all the same."""
    for item in inputs:
        if item == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            for i, line in enumerate(stream, start=1):
                yield f"stdin:{i}", line.rstrip(b"\r\n")[:max_bytes]
            continue
        path = Path(item)
        if path.is_dir():
            prefix = os.path.join(item, "")
            for rel, data in iter_tree(path, max_bytes, lazy):
                yield prefix + rel, data
        elif path.is_file() and is_archive(path):
            try:
                for rel, data in iter_archive(path, max_bytes):
                    yield f"{path}!{rel}", data
            except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
                yield str(path), CorpusError(f"cannot read archive: {exc}")
        else:
            ref = FileRef(str(path))
            yield str(path), ref if lazy else ref.read(max_bytes)


# ---------------------------------------------------------------------------
# Labelled corpora.


@dataclass
class Corpus:
    texts: list[str]
    labels: np.ndarray       # int64 [n], indices into label_names; multi-label: uint8 [n, n_labels], 1 = has it
    label_names: list[str]
    ids: list[str]           # where each document came from

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def multi_label(self) -> bool:
        return self.labels.ndim == 2

    def label_lists(self) -> list[list[str]]:
        """Each document's label names."""
        if not self.multi_label:
            return [[self.label_names[c]] for c in self.labels]
        return [[self.label_names[c] for c in np.flatnonzero(row)] for row in self.labels]

    def subset(self, index: np.ndarray) -> "Corpus":
        return Corpus([self.texts[i] for i in index], self.labels[index], self.label_names,
                      [self.ids[i] for i in index])


@dataclass
class Splits:
    train: Corpus
    test: Corpus
    source: str
    test_from: str  # "split folder" | "split column" | "held out <fraction>"
    skipped: list = field(default_factory=list)  # (id, reason) of unreadable files, with skip_unreadable
    notes: list = field(default_factory=list)    # one-line warnings for the user
    val_index: np.ndarray | None = None          # train's documents from a val file, if one was given


def _split_of(parts: list[str]) -> str | None:
    for part in parts:
        low = part.lower()
        if "train" in low:
            return "train"
        if "test" in low:
            return "test"
    return None


def _records_from_files(items, skipped: list | None = None) -> list[tuple[str | None, str, str, bytes]]:
    """(split, label, id, bytes) for each file; the label is the parent folder's name.
    A file that cannot be read raises, or with a skipped list is noted there as (id, reason)."""
    records = []
    for rel, data in items:
        if isinstance(data, Exception):
            if skipped is None:
                raise CorpusError(f"cannot read {rel}: {data}")
            skipped.append((rel, str(data)))
            continue
        parts = rel.split("/")
        if len(parts) < 2:
            continue  # a file outside any class folder (a README, say)
        records.append((_split_of(parts[:-2]), (parts[-2],), rel, data))
    return records



def load_corpus(path: str | os.PathLike, keep_headers: bool = False, test_fraction: float = 0.2,
                seed: int = 0, skip_unreadable: bool = False, text_column: str = "text",
                label_column: str = "label", test: str | os.PathLike | None = None,
                val: str | os.PathLike | None = None, label_mode: str = "auto",
                label_separator: str | None = None, label_prefix: str = LABEL_PREFIX, progress: bool = False) -> Splits:
    """Read a labelled corpus and split it into train and test: by its own train/test
    folders or split column, by a test file (test; in any corpus format), or by holding out
    a stratified test_fraction. val, a file too, is the validation split: its documents
    join train, and Splits.val_index says where. An unreadable file is an error, or with
    skip_unreadable it is left out and listed in Splits.skipped (evaluate). Splits.notes
    has one-line warnings for the user: rare classes, texts in both splits, labels only in
    test. label_mode, label_separator and label_prefix: see the module's docstring and tables.py.
    progress: count the documents read on a bar (on a terminal)."""
    path, notes, skipped = Path(path), [], [] if skip_unreadable else None
    if label_mode not in ("auto", "single", "multi"):
        raise CorpusError(f"label mode must be auto, single or multi, not {label_mode!r}")
    read = dict(keep_headers=keep_headers, skipped=skipped, text_column=text_column, label_column=label_column,
                notes=notes, label_separator=label_separator, label_prefix=label_prefix, progress=progress)
    records, texts, listed = _read_records(path, **read)
    if (test or val) and any(r[0] is not None for r in records):
        raise CorpusError(f"{path}: has its own train/test split; --test and --val files go with a corpus that has none")
    for extra, split in ((val, "val"), (test, "test")):
        if extra is None:
            continue
        more, more_texts, more_listed = _read_records(Path(extra), **read)
        records = [(r[0] or "train", *r[1:]) for r in records] + [(split, *r[1:]) for r in more]
        texts, listed = texts + more_texts, listed or more_listed
    names = sorted({label for r in records for label in r[1]})
    if len(names) < 2:
        raise CorpusError(f"{path}: found only one class ({names[0]!r}); a classifier needs at least two")
    full = Corpus(texts, label_array(records, names, is_multi_label(records, listed, label_mode)), names,
                  [r[2] for r in records])
    how = "test file" if test else "split column" if path.name.lower().endswith(TABLE_SUFFIXES) else "split folder"
    train_idx, test_idx, how = split_indices(path, [r[0] for r in records], full.labels, names, test_fraction, seed,
                                             how)
    val_index = None
    if val is not None:
        val_index = np.flatnonzero(np.array([records[i][0] == "val" for i in train_idx]))
    splits = Splits(full.subset(train_idx), full.subset(test_idx), str(path), how, skipped or [], notes, val_index)
    if full.multi_label:
        _drop_unseen_labels(splits)
    notes.extend(_warnings(splits))
    return splits


def _drop_unseen_labels(splits: Splits) -> None:
    """A multi-label corpus's labels that no training document has are dropped (a warning
    counts them): no model can learn them."""
    present = classes_present(splits.train.labels)
    if len(present) == len(splits.train.label_names):
        return
    seen = sorted(present)
    gone = [n for i, n in enumerate(splits.train.label_names) if i not in present]
    hit = int((splits.test.labels.sum(axis=1) > splits.test.labels[:, seen].sum(axis=1)).sum())
    names = [splits.train.label_names[i] for i in seen]
    for part in (splits.train, splits.test):
        part.labels, part.label_names = np.ascontiguousarray(part.labels[:, seen]), names
    splits.notes.append(f"{len(gone)} labels appear only in test ({hit} test documents have one) and are "
                        f"dropped: {', '.join(gone[:5])}")


def _read_records(path: Path, keep_headers: bool, skipped: list | None, text_column: str, label_column: str,
                  notes: list[str], label_separator: str | None, label_prefix: str, progress: bool = False
                  ) -> tuple[list[tuple], list[str], bool]:
    """(split, labels, id, ...) per document of one corpus path, the texts as training reads
    them, and whether the labels came as lists (tables.read_table)."""
    listed = False
    if not path.exists():
        raise CorpusError(f"no such corpus: {path}")
    if path.is_dir():
        empty = sorted(str(d.relative_to(path)) for d in path.rglob("*")
                       if d.is_dir() and not d.name.startswith(".") and not any(d.iterdir()))
        if empty:
            raise CorpusError(f"{path}: class folder {empty[0]!r} has no documents")
        records = _records_from_files(counted(iter_tree(path), "reading", progress), skipped)
        texts = [clean(r[3], keep_headers) for r in records]
    elif is_archive(path):
        try:
            records = _records_from_files(counted(iter_archive(path), "reading", progress), skipped)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
            raise CorpusError(f"{path}: cannot read archive ({exc})") from None
        texts = [clean(r[3], keep_headers) for r in records]
    elif path.name.lower().endswith(TABLE_SUFFIXES) or is_fasttext(path, label_prefix):
        records, listed = read_table(path, text_column, label_column, notes, label_separator, label_prefix, progress)
        texts = [r[3] if keep_headers else strip_headers(r[3]) for r in records]
    else:
        raise CorpusError(f"{path}: not a directory, archive ({', '.join(ARCHIVE_SUFFIXES)}), .csv, .tsv, .jsonl "
                          f"or fastText file (lines that start with {LABEL_PREFIX})")
    if not records:
        raise CorpusError(f"{path}: no documents found (expected one folder per class)")
    return records, texts, listed


def _warnings(splits: Splits) -> list[str]:
    """Rare classes, and exact duplicates across train and test (a leak that inflates
    test accuracy; 20news-style corpora often have crossposts)."""
    out = []
    counts = label_counts(splits.train.labels, len(splits.train.label_names))
    rare = [f"{splits.train.label_names[c]} ({counts[c]})" for c in np.flatnonzero(counts < 5)]
    if rare:
        out.append(f"{len(rare)} classes have fewer than 5 training documents: {', '.join(rare[:5])}")
    train_texts = set(splits.train.texts)
    shared = sum(1 for t in splits.test.texts if t.strip() and t in train_texts)
    if shared:
        out.append(f"{shared} test documents also appear, word for word, in train")
    return out


# ---------------------------------------------------------------------------
# The default corpus: 20 Newsgroups, bydate split.


def default_corpus_path(download: bool = True) -> Path:
    """Where 20news-bydate is: $FASTNEWS_DATA, else the cache, else a checksummed download."""
    env = os.environ.get("FASTNEWS_DATA")
    if env:
        p = Path(env)
        if p.is_dir() and (p / NEWS20_FILE).exists():
            return p / NEWS20_FILE
        if p.exists():
            return p
        raise CorpusError(f"FASTNEWS_DATA={env} does not exist")
    cached = fastnews_home() / NEWS20_FILE
    if cached.exists():
        return cached
    if not download:
        raise CorpusError(f"20news-bydate not found in {cached.parent}; pass --data PATH")
    try:
        import pooch
    except ImportError:
        raise CorpusError("20news-bydate is not cached and pooch is not installed to download it; "
                          "pip install 'fastnews[train]' or pass --data PATH") from None
    try:
        got = pooch.retrieve(NEWS20_URL, known_hash=f"sha256:{NEWS20_SHA256}", fname=NEWS20_FILE,
                             path=cached.parent, progressbar=sys.stderr.isatty())
    except Exception as exc:
        raise CorpusError(f"could not download 20news-bydate ({type(exc).__name__}); "
                          f"pass --data PATH to a local copy, or set FASTNEWS_DATA") from None
    return Path(got)
