"""The Ray Data engine against the local engine, on the 7,532 20news-bydate test messages, in one run.

    python bench/ray_predict.py --model exports/news20.onnx [--workdir /tmp/fastnews-bench] [--repeat 4]

Measured, on the same files and model:
  - a fresh `fastnews predict` process per engine, as a user runs it (Ray's start-up included);
  - in one process, with a Ray runtime already up: the local engine (Classifier.classify) and
    classify_with_ray over the folder named --repeat times, so that the steady state shows.
Ray's runtime gets all of this machine's cores; the local engine's onnxruntime uses them too.

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
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _bench_predict():
    spec = importlib.util.spec_from_file_location("bench_predict", ROOT / "bench" / "predict.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cli_seconds(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fastnews", "predict", *args, "--quiet"], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "20news-bydate.tar.gz"))
    ap.add_argument("--workdir", default="/tmp/fastnews-bench")
    ap.add_argument("--repeat", type=int, default=4, help="times the folder is listed as input in the in-process runs")
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    folder = _bench_predict().extract_test(Path(args.data), work)
    n = sum(len(files) for _, _, files in os.walk(folder))

    local_cli = cli_seconds([args.model, str(folder), "-o", str(work / "local.jsonl")])
    ray_cli = cli_seconds([args.model, str(folder), "-o", str(work / "ray.jsonl"), "--engine", "ray"])
    same = (work / "local.jsonl").read_bytes() == (work / "ray.jsonl").read_bytes()

    import ray
    from fastnews.corpus import iter_documents
    from fastnews.infer import CHUNK, Classifier
    from fastnews.ray_engine import classify_with_ray
    inputs = [str(folder)] * args.repeat
    t0 = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray_start = time.perf_counter() - t0
    clf = Classifier.load(args.model, threads=1)
    list(classify_with_ray(clf, [str(folder)]))  # actors' first start, imports and JIT cache
    t0 = time.perf_counter()
    rows = sum(1 for _ in classify_with_ray(clf, inputs))
    ray_warm = time.perf_counter() - t0
    actors = min(int(ray.cluster_resources().get("CPU", 1)), -(-rows // CHUNK))  # as classify_with_ray sizes its pool
    clf = Classifier.load(args.model)
    t0 = time.perf_counter()
    local_rows = sum(1 for _ in clf.classify(iter_documents(inputs)))
    local_warm = time.perf_counter() - t0
    assert rows == local_rows == n * args.repeat
    ray.shutdown()

    figures = {
        "bench": "ray_predict", "docs": n, "cores": os.cpu_count(), "outputs_identical": same,
        "local_cli_s": local_cli, "ray_cli_s": ray_cli,
        "local_cli_docs_s": n / local_cli, "ray_cli_docs_s": n / ray_cli, "ray_cli_overhead_s": ray_cli - local_cli,
        "ray_init_s": ray_start, "actors": actors, "warm_docs": rows,
        "local_warm_docs_s": rows / local_warm, "ray_warm_docs_s": rows / ray_warm,
        "ray_warm_vs_local": local_warm / ray_warm,
    }
    print(f"{'':36s}{'seconds':>10s}{'docs/s':>10s}")
    print(f"{'local engine, fresh process':36s}{local_cli:10.2f}{n / local_cli:10.0f}")
    print(f"{'ray engine, fresh process':36s}{ray_cli:10.2f}{n / ray_cli:10.0f}   (outputs identical: {same})")
    print(f"{'ray.init() alone':36s}{ray_start:10.2f}")
    print(f"{f'local engine, warm, {rows} docs':36s}{local_warm:10.2f}{rows / local_warm:10.0f}")
    print(f"{f'ray engine, warm, {rows} docs, {actors} actors':36s}{ray_warm:10.2f}{rows / ray_warm:10.0f}"
          f"   ({local_warm / ray_warm:.2f}x the local engine)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
