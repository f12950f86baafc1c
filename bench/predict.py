"""Batch classification end to end: a folder of files -> `fastnews predict` -> JSONL, against peers, in one run.

The 7,532 20news-bydate test messages are extracted to --workdir as one file each. fastnews is
timed as a user runs it (a fresh `fastnews predict` process: start-up, reading, decoding,
tokenizing, onnxruntime, writing). In the same run:
  - TF-IDF (sublinear tf) + LinearSVC, fitted on the train split, timed on predict (vectorize + decide);
  - the seed network in PyTorch eager at fixed length 1000, batch 256 (weights do not change its speed).

    python bench/predict.py --model exports/news20.onnx [--workdir /tmp/fastnews-bench]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    sys.path.pop(0)  # bench/tokenize.py must not shadow the standard library's tokenize

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tarfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def extract_test(archive: Path, dest: Path) -> Path:
    target = dest / "20news-bydate-test"
    if not target.exists():
        with tarfile.open(archive) as tf:
            members = [m for m in tf.getmembers() if m.name.startswith("20news-bydate-test/")]
            tf.extractall(dest, members=members, filter="data")
    return target


def tfidf_svm(splits):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC
    vec = TfidfVectorizer(sublinear_tf=True)
    clf = LinearSVC().fit(vec.fit_transform(splits.train.texts), splits.train.labels)
    t0 = time.perf_counter()
    pred = clf.predict(vec.transform(splits.test.texts))
    seconds = time.perf_counter() - t0
    return len(splits.test) / seconds, float((pred == splits.test.labels).mean())


def seed_torch(n_docs=1024, batch=256):
    import torch
    spec = importlib.util.spec_from_file_location("bench_train", ROOT / "bench" / "train.py")
    bench_train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_train)
    model = bench_train.SeedNet(np.random.default_rng(0).normal(size=(20002, 50)).astype(np.float32), 20).eval()
    ids = torch.randint(1, 20002, (batch, 1000))
    with torch.no_grad():
        model(ids)
        t0 = time.perf_counter()
        for _ in range(n_docs // batch):
            model(ids)
    return n_docs / (time.perf_counter() - t0)


def ceiling(model: str, texts: list[str]) -> dict:
    """The model's conv FLOPs over the real (truncated) lengths of the texts, the time onnxruntime
    alone takes for them, and this machine's fp32 GEMM rate measured now (numpy, 2048^3)."""
    from fastnews.infer import Classifier
    clf = Classifier.load(model)
    cfg, tok = clf.meta["model_config"], clf.tokenizer.config
    enc = clf.tokenizer.encode(texts)
    words = int(np.clip(enc.lengths, tok.min_len, tok.max_len).sum())
    flop_per_word = 2 * cfg["embed_dim"] * cfg["n_filters"] * sum(cfg["kernel_sizes"])  # multiply + add
    clf.logits_from_ids(enc.ids[:256], enc.lengths[:256])
    ort_s = min(_timed(lambda: clf.logits_from_ids(enc.ids, enc.lengths)) for _ in range(3))
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    gemm_s = min(_timed(lambda: a @ a) for _ in range(3))
    gemm = 2 * 2048 ** 3 / gemm_s / 1e9
    achieved = words * flop_per_word / ort_s / 1e9
    return {"words": words, "mflop_per_doc": words * flop_per_word / len(texts) / 1e6, "onnxruntime_s": ort_s,
            "onnxruntime_gflop_s": achieved, "gemm_gflop_s": gemm, "ceiling_fraction": achieved / gemm}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="an exported .onnx model")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "20news-bydate.tar.gz"))
    ap.add_argument("--workdir", default="/tmp/fastnews-bench")
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    work = Path(args.workdir)
    folder = extract_test(Path(args.data), work)
    n_files = sum(1 for p in folder.rglob("*") if p.is_file())
    out = work / "predictions.jsonl"

    cmd = [sys.executable, "-m", "fastnews", "predict", args.model, str(folder), "--output", str(out),
           "--batch-size", str(args.batch_size)]
    subprocess.run(cmd, check=False, capture_output=True)  # warm the OS file cache and the JIT cache
    t0 = time.perf_counter()
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode not in (0, 3):
        sys.exit(f"fastnews predict failed: {done.stderr[-2000:]}")
    rows = out.read_text().count("\n")
    fn_dps = rows / wall

    from fastnews.corpus import load_corpus
    splits = load_corpus(args.data)
    rows_table = [("fastnews predict (fresh process, files -> JSONL)", fn_dps)]
    fig = {"bench": "predict", "docs": rows, "files": n_files, "fastnews_wall_s": round(wall, 3),
           "fastnews_docs_s": round(fn_dps, 1), "cores": os.cpu_count()}
    try:
        svm_dps, svm_acc = tfidf_svm(splits)
        rows_table.append(("TF-IDF + LinearSVC predict (in process)", svm_dps))
        fig.update(svm_docs_s=round(svm_dps, 1), svm_accuracy=round(svm_acc, 4), ratio_vs_svm=round(fn_dps / svm_dps, 2))
    except ImportError:
        print("scikit-learn not installed: TF-IDF + LinearSVC skipped")
    try:
        seed_dps = seed_torch()
        rows_table.append(("seed network, PyTorch eager, fixed 1000 (in process)", seed_dps))
        fig.update(seed_torch_docs_s=round(seed_dps, 1), ratio_vs_seed_torch=round(fn_dps / seed_dps, 2))
    except ImportError:
        print("torch not installed: the seed network is skipped")

    fig.update(ceiling(args.model, splits.test.texts))

    print(f"{rows} documents from {n_files} files; {os.cpu_count()} cores\n")
    print(f"{'classifier':56s} {'docs/s':>8s}")
    for name, dps in rows_table:
        print(f"{name:56s} {dps:8.0f}")
    print(f"\nfastnews's own summary: {done.stderr.strip().splitlines()[-1]}")
    print(f"compute: {fig['words']:,} words ({fig['mflop_per_doc']:.1f} MFLOP per document) in "
          f"{fig['onnxruntime_s']:.2f}s of onnxruntime = {fig['onnxruntime_gflop_s']:.0f} GFLOP/s; an fp32 "
          f"2048^3 GEMM runs {fig['gemm_gflop_s']:.0f} GFLOP/s here: {fig['ceiling_fraction']:.0%} of it")
    print(json.dumps(fig))


if __name__ == "__main__":
    main()
