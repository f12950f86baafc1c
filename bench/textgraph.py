"""The text-in graph's speed: Python onnxruntime and Node.js against `fastnews predict`, in one run.

The 7,532 20news-bydate test messages, one file each, extracted to --workdir. Timed, after one
warm-up run of each:
  - fresh processes, files -> JSONL: `fastnews predict MODEL.onnx` (numba tokenizer + ids graph),
    `fastnews predict MODEL.text.onnx` (everything in the graph) and `node clients/node/classify.mjs
    MODEL.text.onnx` (onnxruntime-node);
  - in process, texts already in memory (best of 3 after a warm-up): the text graph against the numba tokenizer + ids graph,
    and the text graph's prefix alone (text -> ids) against the numba tokenizer alone.

    python bench/textgraph.py --model exports/news20.onnx [--workdir /tmp/fastnews-bench]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    sys.path.pop(0)  # bench/tokenize.py must not shadow the standard library's tokenize

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def fresh(cmd: list[str], out: Path) -> float:
    """Seconds of one run of cmd writing to out, after a warm-up run."""
    for _ in range(2):
        t0 = time.perf_counter()
        with open(out, "wb") as sink:
            done = subprocess.run(cmd, stdout=sink, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - t0
        if done.returncode not in (0, 3):
            sys.exit(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    return seconds


def main() -> None:
    from fastnews.corpus import load_corpus, strip_headers
    from fastnews.infer import Classifier, make_session
    from fastnews.textgraph import text_to_ids_model
    sys.path.insert(0, str(ROOT / "bench"))
    from predict import best_of, extract_test  # noqa: E402  (bench/predict.py)
    sys.path.pop(0)

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="an exported ids .onnx; its .text.onnx must be beside it")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "20news-bydate.tar.gz"))
    ap.add_argument("--workdir", default="/tmp/fastnews-bench")
    args = ap.parse_args()
    ids_path = Path(args.model)
    text_path = ids_path.with_name(ids_path.stem + ".text.onnx")
    folder = extract_test(Path(args.data), Path(args.workdir))
    n = sum(1 for p in folder.rglob("*") if p.is_file())
    out = Path(args.workdir) / "textgraph.jsonl"
    predict = [sys.executable, "-m", "fastnews", "predict", "--quiet"]
    fig = {"bench": "textgraph", "docs": n,
           "predict_ids_s": fresh(predict + [str(ids_path), str(folder)], out),
           "predict_text_s": fresh(predict + [str(text_path), str(folder)], out)}
    if shutil.which("node") and (ROOT / "clients" / "node" / "node_modules").is_dir():
        fig["node_text_s"] = fresh(["node", str(ROOT / "clients" / "node" / "classify.mjs"), str(text_path),
                                    str(folder)], out)
    else:
        print("node or clients/node/node_modules missing (npm ci --ignore-scripts there): Node skipped")

    raw = load_corpus(args.data, keep_headers=True).test.texts
    ids_clf, text_clf = Classifier.load(ids_path), Classifier.load(text_path)
    dropped = [strip_headers(t) for t in raw]
    prefix = make_session(text_to_ids_model(ids_clf.tokenizer, ids_clf.keep_headers).SerializeToString())
    fig.update({
        "inproc_ids_s": best_of(lambda: ids_clf.logits(raw)),  # it drops the header block itself
        "inproc_text_s": best_of(lambda: text_clf.logits(raw)),
        "tokenize_numba_s": best_of(lambda: ids_clf.tokenizer.encode(dropped)),
        "tokenize_graph_s": best_of(lambda: [prefix.run(None, {"text": np.array(raw[i:i + 256], dtype=object)})
                                             for i in range(0, len(raw), 256)]),
    })
    rows = [("fastnews predict MODEL.onnx (numba + ids graph), fresh", "predict_ids_s"),
            ("fastnews predict MODEL.text.onnx, fresh", "predict_text_s"),
            ("node classify.mjs MODEL.text.onnx, fresh", "node_text_s"),
            ("in process: numba tokenizer + ids graph", "inproc_ids_s"),
            ("in process: text graph (Python onnxruntime)", "inproc_text_s"),
            ("tokenizing only: numba", "tokenize_numba_s"),
            ("tokenizing only: the graph's text -> ids prefix", "tokenize_graph_s")]
    print(f"{n} documents\n\n{'run':58s} {'seconds':>8s} {'docs/s':>8s}")
    for name, key in rows:
        if key in fig:
            fig[key] = round(fig[key], 3)
            fig[key[:-2] + "_docs_s"] = round(n / fig[key], 1)
            print(f"{name:58s} {fig[key]:8.2f} {n / fig[key]:8.0f}")
    fig["text_vs_ids_fresh"] = round(fig["predict_ids_s"] / fig["predict_text_s"], 3)
    if "node_text_s" in fig:
        fig["node_vs_ids_fresh"] = round(fig["predict_ids_s"] / fig["node_text_s"], 3)
    print(json.dumps(fig))


if __name__ == "__main__":
    main()
