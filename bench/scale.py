"""How training cost grows with the corpus: time and peak memory at N training documents.

    python bench/scale.py --shared ../shared --sizes 25000 100000 250000 1000000

Corpora: paragraphs of 20 Newsgroups (headers dropped) and of single-label Reuters-21578
documents, each labelled with its source document's class (a newsgroup, or "reuters.<topic>").
Train holds N paragraphs of the sources' train splits: each distinct paragraph once, then
copies with their words shuffled until there are N. Test is the same 10,000 paragraphs of the
sources' test splits for every N. Each corpus is written once, as JSONL, under --workdir.

Every system trains in a fresh process, which reports its own peak resident set (VmHWM):
    fastnews   `fastnews train --epochs 1`, the default recipe otherwise; its steps are timed,
               with the resident set after each;
    tfidf-svm  scikit-learn TF-IDF (1,2) sublinear, min_df 2, max_df 0.5, + LinearSVC C=1;
    fasttext   fastText supervised, 5 epochs, bigrams (if fasttext is installed).
Prints a table, and a JSON line last: seconds and peak GB per system and N.
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    sys.path.pop(0)  # bench/tokenize.py must not shadow the standard library's tokenize

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

N_TEST = 10_000
MIN_WORDS = 8  # shorter paragraphs (signatures, quote lines) are left out
SYSTEMS = ("fastnews", "tfidf-svm", "fasttext")


def peak_gb() -> tuple[float, float]:
    """(resident, peak resident) GB of this process."""
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(fields["VmRSS"].split()[0]) / 1e6, int(fields["VmHWM"].split()[0]) / 1e6


# ---------------------------------------------------------------------------
# The corpora.


def paragraphs(shared: Path) -> dict[str, list[tuple[str, str]]]:
    """{"train"|"test": [(text, label)]} from 20news-bydate and single-label Reuters."""
    from fastnews.corpus import load_corpus
    out = {"train": [], "test": []}
    news = load_corpus(shared / "data" / "20news-bydate.tar.gz")
    for split, part in (("train", news.train), ("test", news.test)):
        for text, label in zip(part.texts, part.labels):
            out[split] += [(p, news.train.label_names[label]) for p in re.split(r"\n\s*\n", text)]
    with open(shared / "data" / "reuters21578-modapte.jsonl") as fh:
        for line in fh:
            doc = json.loads(line)
            if len(doc["labels"]) == 1:
                out[doc["split"]] += [(p, f"reuters.{doc['labels'][0]}") for p in re.split(r"\n\s*\n", doc["text"])]
    for split in out:
        out[split] = [(" ".join(p.split()), label) for p, label in out[split] if len(p.split()) >= MIN_WORDS]
    return out


def build_corpus(shared: Path, n: int, path: Path, distinct: int | None = None) -> None:
    """N training paragraphs and N_TEST test ones, as JSONL with a split column (written once).
    distinct: at most this many distinct training paragraphs, the rest copies (a test compares
    runs of one vocabulary)."""
    if path.exists():
        return
    paras = paragraphs(shared)
    rng = np.random.default_rng(0)
    counts: dict[str, int] = {}
    for _, label in paras["train"]:
        counts[label] = counts.get(label, 0) + 1
    train = [paras["train"][i] for i in rng.permutation(len(paras["train"])) if counts[paras["train"][i][1]] >= 10]
    train = train[:distinct]
    present = {label for _, label in train[:n]}  # a small N may miss a rare class: so does its test
    test = [p for p in paras["test"] if p[1] in present]
    test = [test[i] for i in rng.permutation(len(test))[:N_TEST]]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        for i in range(n):
            text, label = train[i % len(train)]
            if i >= len(train):
                words = text.split()
                rng.shuffle(words)
                text = " ".join(words)
            fh.write(json.dumps({"text": text, "label": label, "split": "train"}) + "\n")
        for text, label in test:
            fh.write(json.dumps({"text": text, "label": label, "split": "test"}) + "\n")
    os.replace(tmp, path)


def read_jsonl(path: Path) -> dict[str, tuple[list[str], list[str]]]:
    out = {"train": ([], []), "test": ([], [])}
    with open(path) as fh:
        for line in fh:
            doc = json.loads(line)
            out[doc["split"]][0].append(doc["text"])
            out[doc["split"]][1].append(doc["label"])
    return out


# ---------------------------------------------------------------------------
# One system, in this (fresh) process.


def child_fastnews(corpus: Path, out: Path) -> dict:
    """Train with the default recipe, --epochs 1, timing each step of train.py and recording
    the resident set after it."""
    import fastnews.crossfit as crossfit
    import fastnews.train as train
    from fastnews.config import TrainConfig
    steps, t0 = [], time.perf_counter()

    def timed(module, name):
        inner = getattr(module, name)

        def step(*args, **kwargs):
            start = time.perf_counter()
            result = inner(*args, **kwargs)
            rss, peak = peak_gb()
            steps.append({"step": name, "seconds": round(time.perf_counter() - start, 2), "rss_gb": round(rss, 3),
                          "peak_gb": round(peak, 3)})
            return result
        setattr(module, name, step)
    for module, name in ((train, "prepare_data"), (train, "tokenize_splits"), (train, "build_model"),
                         (train, "run_epochs"), (crossfit, "add_members"), (train, "finish")):
        timed(module, name)
    result = train.train(TrainConfig(data=str(corpus), epochs=1, out=str(out)), progress=False,
                         log=lambda *a, **k: None)
    m = result.metrics
    return {"seconds": time.perf_counter() - t0, "test_accuracy": m["test_accuracy"], "steps": steps,
            "epoch_docs_per_s": m["history"][0]["docs_per_s"]}


def child_tfidf_svm(corpus: Path) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC
    t0 = time.perf_counter()
    data = read_jsonl(corpus)
    vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_df=0.5)
    svm = LinearSVC(C=1.0).fit(vec.fit_transform(data["train"][0]), data["train"][1])
    predicted = svm.predict(vec.transform(data["test"][0]))
    return {"seconds": time.perf_counter() - t0, "test_accuracy": float(np.mean(predicted == np.array(data["test"][1])))}


def child_fasttext(corpus: Path, out: Path) -> dict:
    import fasttext
    t0 = time.perf_counter()
    data = read_jsonl(corpus)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "train.txt", "w") as fh:
        for text, label in zip(*data["train"]):
            fh.write(f"__label__{label} {text.lower()}\n")
    model = fasttext.train_supervised(str(out / "train.txt"), epoch=5, wordNgrams=2, verbose=0, seed=0,
                                      thread=os.cpu_count())
    labels, _ = model.predict([t.lower() for t in data["test"][0]], k=1)
    right = np.mean([lab[0].removeprefix("__label__") == y for lab, y in zip(labels, data["test"][1])])
    return {"seconds": time.perf_counter() - t0, "test_accuracy": float(right)}


def run_child(system: str, corpus: Path, out: Path) -> dict:
    """The system's figures, from a fresh interpreter, with its own peak resident set."""
    shutil.rmtree(out, ignore_errors=True)  # a run directory from an earlier run of the bench
    cmd = [sys.executable, __file__, "--child", system, str(corpus), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"exit {done.returncode}: {tail}"}
    return json.loads(lines[-1])


def child_main(system: str, corpus: Path, out: Path) -> None:
    figures = {"fastnews": lambda: child_fastnews(corpus, out), "tfidf-svm": lambda: child_tfidf_svm(corpus),
               "fasttext": lambda: child_fasttext(corpus, out)}[system]()
    figures["peak_gb"] = peak_gb()[1]
    print(json.dumps(figures))


# ---------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--sizes", type=int, nargs="+", default=[25_000, 100_000, 250_000, 1_000_000])
    ap.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    ap.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "fastnews" / "scale")
    ap.add_argument("--child", nargs=3, metavar=("SYSTEM", "CORPUS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child_main(args.child[0], Path(args.child[1]), Path(args.child[2]))
    args.workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[int, dict]] = {s: {} for s in args.systems}
    print(f"{'system':10s} {'N':>9s} {'seconds':>8s} {'us/doc':>7s} {'peak GB':>8s} {'accuracy':>8s}  steps (s, peak GB)")
    for n in args.sizes:
        corpus = args.workdir / f"paragraphs-{n}.jsonl"
        build_corpus(args.shared, n, corpus)
        for system in args.systems:
            r = results[system][n] = run_child(system, corpus, args.workdir / f"{system}-{n}")
            if "error" in r:
                print(f"{system:10s} {n:9d}  failed: {r['error']}", flush=True)
                continue
            steps = "  ".join(f"{s['step']} {s['seconds']:.0f} ({s['peak_gb']:.2f})" for s in r.get("steps", []))
            print(f"{system:10s} {n:9d} {r['seconds']:8.1f} {1e6 * r['seconds'] / n:7.0f} {r['peak_gb']:8.2f} "
                  f"{r['test_accuracy']:8.4f}  {steps}", flush=True)
    print(json.dumps({s: {str(n): {"seconds": round(r["seconds"], 1), "peak_gb": round(r["peak_gb"], 3)}
                          for n, r in per_n.items() if "error" not in r} for s, per_n in results.items()}))


if __name__ == "__main__":
    main()
