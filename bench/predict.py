"""Batch classification against the scikit-learn peer, in one run: fresh process, warm, one file, onnxruntime alone.

The 7,532 20news-bydate test messages are extracted to --workdir, one file each. The peer is
TF-IDF (1,2) (sublinear tf, min_df 2, max_df 0.5) + LinearSVC, fitted on the header-dropped train
split and pickled. Both sides read the files the same way (fastnews.corpus.iter_documents, then
decoding and the header rule) and write the same JSONL rows.

  fresh     a new process per run: start-up, loading the model (the peer: unpickling), reading,
            classifying, writing JSONL; median of 5 after a warm-up run
  warm      in process, after a warm-up pass: reading and classifying, best of 3
  one file  `fastnews predict MODEL FILE --output x.jsonl`, median of 5, and where its time goes
  ort       onnxruntime alone on the pre-tokenized test split, as a fraction of this machine's fp32
            GEMM rate (numpy, 2048^3) measured in the same run; then one single-threaded pass
            under onnxruntime's profiler: the convolution nodes' share of the time and their own
            rate against a single-threaded onnxruntime MatMul

    python bench/predict.py --model exports/news20.onnx [--int8 exports/news20.int8.onnx]

Prints a table, then one JSON line (fresh_ratio, warm_ratio, one_file_s, ort_gemm_fraction, ...).
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    sys.path.pop(0)  # bench/tokenize.py must not shadow the standard library's tokenize

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pickle  # noqa: E402
import statistics  # noqa: E402
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


def read_texts(inputs: list[str]) -> tuple[list[str], list[str]]:
    """(ids, texts) as fastnews predict reads them: files, decoded, header block dropped."""
    from fastnews.corpus import clean, iter_documents
    ids, texts = [], []
    for doc_id, data in iter_documents(inputs):
        ids.append(doc_id)
        texts.append(clean(data) if isinstance(data, bytes) else "")
    return ids, texts


# -- the peer ---------------------------------------------------------------------

def fit_peer(data: str, path: Path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    from fastnews.corpus import load_corpus
    train = load_corpus(data).train
    vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_df=0.5, dtype=np.float32)
    svc = LinearSVC().fit(vec.fit_transform(train.texts), train.labels)
    path.write_bytes(pickle.dumps({"vectorizer": vec, "svc": svc, "labels": train.label_names}))


def peer_predict(peer: dict, inputs: list[str], out=None) -> list[str]:
    ids, texts = read_texts(inputs)
    pred = peer["svc"].predict(peer["vectorizer"].transform(texts))
    labels = [peer["labels"][c] for c in pred]
    if out is not None:
        out.write("".join(json.dumps({"id": i, "label": label}) + "\n" for i, label in zip(ids, labels)))
    return labels


def peer_main(pickle_path: str, inputs: list[str], output: str) -> None:
    """A fresh peer process, as a user runs one: unpickle, read, classify, write JSONL."""
    peer = pickle.loads(Path(pickle_path).read_bytes())
    with open(output, "w") as out:
        peer_predict(peer, inputs, out)


# -- timing -----------------------------------------------------------------------

def median_wall(cmd: list[str], runs: int = 5) -> float:
    subprocess.run(cmd, check=True, capture_output=True)  # warm-up: page cache, numba cache
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        if done.returncode not in (0, 3):
            sys.exit(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    return statistics.median(walls)


def best_of(fn, runs: int = 3) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


ONE_FILE_PHASES = """
import sys, time
t0 = time.perf_counter()
import numpy, onnxruntime
from fastnews.corpus import iter_documents
from fastnews.infer import Classifier
from fastnews.output import write_rows
t1 = time.perf_counter()
clf = Classifier.load(sys.argv[1])
t2 = time.perf_counter()
write_rows(clf.classify(iter_documents([sys.argv[2]])), sys.argv[3], "jsonl", 1)
t3 = time.perf_counter()
print(f"{t1 - t0:.4f} {t2 - t1:.4f} {t3 - t2:.4f}")
"""


def one_file(model: str, path: Path, out: Path) -> dict:
    wall = median_wall([sys.executable, "-m", "fastnews", "predict", model, str(path), "--output", str(out),
                        "--quiet"])
    phases = [subprocess.run([sys.executable, "-c", ONE_FILE_PHASES, model, str(path), str(out)], check=True,
                             capture_output=True, text=True).stdout.split() for _ in range(5)]
    imports, load, classify = (statistics.median(float(p[i]) for p in phases) for i in range(3))
    bare = median_wall([sys.executable, "-c", "pass"])
    return {"one_file_s": wall, "one_file_python_start_s": bare, "one_file_imports_s": imports,
            "one_file_load_s": load, "one_file_classify_write_s": classify}


def ort_fraction(model: str, texts: list[str], work: Path) -> dict:
    """The conv FLOPs over the real (clipped) lengths, onnxruntime's time for them alone, and
    this machine's fp32 GEMM rate now; then where onnxruntime's time goes (conv_profile)."""
    from fastnews.infer import Classifier
    clf = Classifier.load(model)
    cfg, tok = clf.meta["model_config"], clf.token_config
    enc = clf.tokenizer.encode(texts)
    words = int(np.clip(enc.lengths, tok.min_len, tok.max_len).sum())
    flop_per_word = 2 * cfg["embed_dim"] * cfg["n_filters"] * sum(cfg["kernel_sizes"])  # multiply + add
    ort_s = best_of(lambda: clf.logits_from_ids(enc.ids, enc.lengths))
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    gemm = 2 * 2048 ** 3 / best_of(lambda: a @ a) / 1e9
    achieved = words * flop_per_word / ort_s / 1e9
    return {"mflop_per_doc": words * flop_per_word / len(texts) / 1e6, "ort_s": ort_s, "ort_gflop_s": achieved,
            "gemm_gflop_s": gemm, "ort_gemm_fraction": achieved / gemm,
            **conv_profile(model, enc, words * flop_per_word, work)}


def conv_profile(model: str, enc, conv_flop: int, work: Path) -> dict:
    """One single-threaded pass under onnxruntime's profiler: the convolution nodes' share of
    the graph's time, and their own rate against a single-threaded onnxruntime MatMul of
    2048^3 (the rest of the graph, the sparse paths' sorts and gathers, has no FLOPs to count)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from fastnews.infer import Classifier, read_metadata

    def session(source, profile=False):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.log_severity_level = 1, 3
        if profile:
            opts.enable_profiling, opts.profile_file_prefix = True, str(work / "ort_profile")
        return ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])

    profiled = session(model, profile=True)
    Classifier(profiled, read_metadata(profiled)).logits_from_ids(enc.ids, enc.lengths)
    trace = Path(profiled.end_profiling())
    nodes = [e for e in json.loads(trace.read_text()) if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    trace.unlink()
    total = sum(e["dur"] for e in nodes) / 1e6
    conv = sum(e["dur"] for e in nodes if e["args"]["op_name"] in ("Conv", "FusedConv")) / 1e6
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "a"], ["y"])], "gemm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2048, 2048])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2048, 2048])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    proto.ir_version = 9
    matmul, a = session(proto.SerializeToString()), np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    gemm_1 = 2 * 2048 ** 3 / best_of(lambda: matmul.run(None, {"a": a})) / 1e9
    return {"ort_1thread_s": total, "ort_conv_share": conv / total, "conv_op_gflop_s": conv_flop / conv / 1e9,
            "gemm_1thread_gflop_s": gemm_1, "conv_op_gemm_fraction": conv_flop / conv / 1e9 / gemm_1}


def fastnews_figures(model: str, folder: Path, work: Path, prefix: str = "") -> dict:
    from fastnews.corpus import iter_documents
    from fastnews.infer import Classifier
    fresh = median_wall([sys.executable, "-m", "fastnews", "predict", model, str(folder), "--output",
                         str(work / "fastnews.jsonl"), "--quiet"])
    clf = Classifier.load(model)
    warm = best_of(lambda: sum(1 for _ in clf.classify(iter_documents([str(folder)]))))
    return {prefix + "fresh_s": fresh, prefix + "warm_s": warm}


def main() -> None:
    if sys.argv[1:2] == ["--peer-run"]:
        return peer_main(sys.argv[2], sys.argv[3:-1], sys.argv[-1])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="an exported (ids) .onnx model")
    ap.add_argument("--int8", default=None, help="its int8 export, reported beside it")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "20news-bydate.tar.gz"))
    ap.add_argument("--workdir", default="/tmp/fastnews-bench")
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    folder = extract_test(Path(args.data), work)
    peer_pickle = work / "peer.pkl"
    fit_peer(args.data, peer_pickle)

    fig = {"bench": "predict", "cores": os.cpu_count(), "peer": "TF-IDF (1,2) + LinearSVC",
           "peer_pickle_mb": peer_pickle.stat().st_size / 1e6}
    fig.update(fastnews_figures(args.model, folder, work))
    fig["peer_fresh_s"] = median_wall([sys.executable, __file__, "--peer-run", str(peer_pickle), str(folder),
                                       str(work / "peer.jsonl")])
    peer = pickle.loads(peer_pickle.read_bytes())
    fig["peer_warm_s"] = best_of(lambda: peer_predict(peer, [str(folder)]))
    if args.int8:
        fig.update(fastnews_figures(args.int8, folder, work, prefix="int8_"))
    ids, texts = read_texts([str(folder)])
    fig.update(docs=len(ids), **one_file(args.model, Path(ids[0]), work / "one.jsonl"), **ort_fraction(args.model, texts, work))
    fig["fresh_ratio"] = fig["peer_fresh_s"] / fig["fresh_s"]
    fig["warm_ratio"] = fig["peer_warm_s"] / fig["warm_s"]

    n = len(ids)
    print(f"{n} files, {os.cpu_count()} cores; peer: {fig['peer']} ({fig['peer_pickle_mb']:.0f} MB pickle)\n")
    print(f"{'run':44s} {'fastnews':>14s} {'int8':>14s} {'peer':>14s} {'ratio':>6s}")
    for name, key in (("fresh process, files -> JSONL", "fresh"), ("warm, in process, reading included", "warm")):
        f, p, i8 = fig[key + "_s"], fig["peer_" + key + "_s"], fig.get("int8_" + key + "_s")
        cell = lambda s: f"{n / s:6.0f}/s {s:5.2f}s"  # noqa: E731
        print(f"{name:44s} {cell(f):>14s} {cell(i8) if i8 else '':>14s} {cell(p):>14s} {p / f:5.2f}x")
    print(f"\none file, fresh process: {fig['one_file_s']:.3f}s wall; python itself {fig['one_file_python_start_s']:.3f}s, "
          f"imports {fig['one_file_imports_s']:.3f}s, model load {fig['one_file_load_s']:.3f}s, "
          f"read + classify + write {fig['one_file_classify_write_s']:.3f}s")
    print(f"onnxruntime alone: {fig['ort_s']:.2f}s for {fig['mflop_per_doc']:.1f} MFLOP of convolutions per document = "
          f"{fig['ort_gflop_s']:.0f} GFLOP/s; fp32 GEMM here {fig['gemm_gflop_s']:.0f} GFLOP/s: {fig['ort_gemm_fraction']:.0%}")
    print(f"  on one thread, profiled: the convolution nodes take {fig['ort_conv_share']:.0%} of {fig['ort_1thread_s']:.2f}s and "
          f"run {fig['conv_op_gflop_s']:.0f} GFLOP/s, {fig['conv_op_gemm_fraction']:.0%} of a one-thread 2048^3 MatMul "
          f"({fig['gemm_1thread_gflop_s']:.0f} GFLOP/s); the rest is the sparse paths and the glue between nodes")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in fig.items()}))


if __name__ == "__main__":
    main()
