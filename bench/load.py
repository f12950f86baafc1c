"""Memory under load: one process classifies the same folder many times, or a large generated corpus.

    python bench/load.py --model exports/news20.onnx [--passes 20]           # the 7,532 test files x 20
    python bench/load.py --model exports/news20.onnx --generate 150000       # 150,000 small generated files

Reports the resident set (VmRSS) and the peak (VmHWM) after the first and the last pass. Streaming
means memory is bounded by the chunk of documents in flight, not by the input size.
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    sys.path.pop(0)  # bench/tokenize.py must not shadow the standard library's tokenize

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def memory_mb() -> tuple[float, float]:
    """(current resident MB, peak resident MB) from /proc."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "20news-bydate.tar.gz"))
    ap.add_argument("--workdir", default="/tmp/fastnews-bench")
    ap.add_argument("--passes", type=int, default=20)
    ap.add_argument("--generate", type=int, default=0, help="classify this many generated files once instead")
    args = ap.parse_args()

    from fastnews.corpus import iter_documents
    from fastnews.infer import Classifier
    work = Path(args.workdir)
    if args.generate:
        folder = work / f"generated-{args.generate}"
        if not folder.exists():
            words = "the shuttle launch orbit team goal bread soup windows driver god bible".split()
            for i in range(args.generate):
                sub = folder / f"{i // 1000:04d}"
                sub.mkdir(parents=True, exist_ok=True)
                (sub / f"{i % 1000:03d}.txt").write_text(" ".join(words[(i + j) % len(words)] for j in range(30)))
        passes = 1
    else:
        import importlib.util
        spec = importlib.util.spec_from_file_location("bench_predict", ROOT / "bench" / "predict.py")
        bench_predict = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench_predict)
        folder = bench_predict.extract_test(Path(args.data), work)
        passes = args.passes

    clf = Classifier.load(args.model)
    report = []
    for p in range(1, passes + 1):
        t0 = time.perf_counter()
        n = sum(1 for _ in clf.classify(iter_documents([str(folder)])))
        seconds = time.perf_counter() - t0
        rss, peak = memory_mb()
        report.append({"pass": p, "docs": n, "seconds": round(seconds, 2), "docs_s": round(n / seconds),
                       "rss_mb": round(rss, 1), "peak_mb": round(peak, 1)})
        print(f"pass {p:3d}: {n} docs in {seconds:6.2f}s ({n / seconds:6.0f} docs/s)  rss {rss:7.1f} MB  peak {peak:7.1f} MB",
              flush=True)
    first, last = report[0], report[-1]
    print(json.dumps({"bench": "load", "passes": passes, "docs_per_pass": first["docs"],
                      "first_rss_mb": first["rss_mb"], "last_rss_mb": last["rss_mb"],
                      "first_peak_mb": first["peak_mb"], "last_peak_mb": last["peak_mb"]}))


if __name__ == "__main__":
    main()
