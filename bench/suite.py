"""The default recipe against linear models and fastText on every single-label corpus at hand.

    pip install -e ".[bench]"
    python bench/suite.py [--shared ../shared] [--only cr trec] [--seeds 0 1 2] [EXTRA.jsonl ...]

Corpora: 20news-bydate with headers dropped and kept, trec.jsonl, subj.jsonl and cr.jsonl
from SHARED/data, plus any corpus path given (anything `fastnews train --data` reads).
Every system sees the documents and the split that fastnews.corpus.load_corpus returns,
in one run:
  * fastnews, the default recipe: one run per seed (--seeds; one seed, the first, for
    corpora of 20,000 training documents or more), scored on test;
  * TF-IDF unigrams and (1,2)-grams (sublinear tf, min_df 2, max_df 0.5) into LinearSVC,
    SGD hinge and ComplementNB, each parameter chosen on the validation split that
    fastnews carves from train (10 %, seed 0), then refit on all of train;
  * fastText supervised: its defaults, and 25 epochs with bigrams, its learning rate chosen
    on the same validation split, each fitted once per seed and scored by the mean, as
    fastnews is (if fasttext is installed: `pip install fasttext-wheel`).
The margin of a corpus is fastnews's mean test accuracy minus the best peer's, in points:
the best peer is chosen on test, which favours the peers. Prints a table per corpus and,
last, one JSON line with `margins`, `min_margin`, `mean_margin` and each corpus's mean test
ECE (`ece`: the scores as shipped; `ece_top_label`: with the top-label map, calibration.py).
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    sys.path.pop(0)  # bench/tokenize.py must not shadow the standard library's tokenize

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from fastnews.config import TrainConfig  # noqa: E402
from fastnews.corpus import load_corpus  # noqa: E402
from fastnews.splitting import stratified_split  # noqa: E402
from fastnews.metrics import report  # noqa: E402

LARGE = 20_000  # training documents from which one seed is run
FASTTEXT_LRS = (0.1, 0.3, 1.0)


def linear_peers(splits, seed: int = 0, val_fraction: float = 0.1) -> dict:
    """{name: {"param", "test_accuracy", "test_macro_f1", "seconds"}}: each parameter chosen on
    validation carved from train, then refit on all of train and scored once on test."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.naive_bayes import ComplementNB
    from sklearn.svm import LinearSVC

    grids = {
        "LinearSVC": ("C", [0.1, 0.3, 1.0, 3.0], lambda v: LinearSVC(C=v)),
        "SGD hinge": ("alpha", [1e-5, 3e-5, 1e-4], lambda v: SGDClassifier(loss="hinge", alpha=v, random_state=seed)),
        "ComplementNB": ("alpha", [0.03, 0.1, 0.3, 1.0], lambda v: ComplementNB(alpha=v)),
    }
    texts, y = splits.train.texts, np.asarray(splits.train.labels)
    fit_idx, val_idx = stratified_split(y, val_fraction, seed)
    out = {}
    for ngrams in ((1, 1), (1, 2)):
        def vectorizer():
            return TfidfVectorizer(sublinear_tf=True, ngram_range=ngrams, min_df=2, max_df=0.5)
        t0 = time.perf_counter()
        vec = vectorizer()
        x_fit, x_val = vec.fit_transform([texts[i] for i in fit_idx]), vec.transform([texts[i] for i in val_idx])
        full = vectorizer()
        x_train = full.fit_transform(texts)
        x_test = full.transform(splits.test.texts)
        vectorize_s = time.perf_counter() - t0
        for name, (param, values, make) in grids.items():
            t0 = time.perf_counter()
            val_acc = {v: float((make(v).fit(x_fit, y[fit_idx]).predict(x_val) == y[val_idx]).mean()) for v in values}
            chosen = max(values, key=lambda v: val_acc[v])  # first of the best, in grid order
            rep = report(splits.test.labels, make(chosen).fit(x_train, y).predict(x_test), splits.train.label_names)
            out[f"TF-IDF {ngrams} {name}"] = {"param": f"{param}={chosen:g}", "test_accuracy": rep["accuracy"],
                                              "test_macro_f1": rep["macro_f1"],
                                              "seconds": vectorize_s + time.perf_counter() - t0}
    return out


def fasttext_peers(splits, seeds: list[int], val_fraction: float = 0.1) -> dict:
    """fastText supervised with its defaults, and with 25 epochs and bigrams, its learning rate
    chosen from FASTTEXT_LRS on the validation split (the default 0.1 barely moves on long
    documents: 20news 0.35), then refit on all of train once per seed, its test figures the
    mean: fastText trains on several threads in no fixed order, and its accuracy on TREC moved
    by 2 points between runs. Lines go in a shuffled order: in class order, as a folder corpus
    reads, fastText's SGD learns next to nothing. Its Python wheel breaks under numpy 2 for one
    text at a time, so it predicts lists."""
    try:
        import fasttext
    except ImportError:
        return {}
    texts, y = splits.train.texts, np.asarray(splits.train.labels)
    fit_idx, val_idx = stratified_split(y, val_fraction, seeds[0])

    def line(text: str) -> str:
        return " ".join(text.lower().split())

    def fit(index: np.ndarray, path: str, seed: int = seeds[0], **kw):
        with open(path, "w") as f:
            for i in np.random.default_rng(seed).permutation(index):
                f.write(f"__label__{y[i]} {line(texts[i])}\n")
        return fasttext.train_supervised(path, verbose=0, seed=seed, thread=os.cpu_count(), **kw)

    def predict(model, docs: list[str]) -> np.ndarray:
        labels, _ = model.predict([line(t) for t in docs], k=1)
        return np.array([int(lab[0].removeprefix("__label__")) for lab in labels])
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "train.txt")
        for name, kw, lrs in (("fastText", {}, None),
                              ("fastText 25 epochs, bigrams", {"epoch": 25, "wordNgrams": 2}, FASTTEXT_LRS)):
            t0, param = time.perf_counter(), ""
            if lrs:
                val = {lr: float((predict(fit(fit_idx, path, lr=lr, **kw), [texts[i] for i in val_idx])
                                  == y[val_idx]).mean()) for lr in lrs}
                kw = {**kw, "lr": max(lrs, key=lambda lr: val[lr])}
                param = f"lr={kw['lr']:g}"
            reps = [report(splits.test.labels, predict(fit(np.arange(len(texts)), path, seed, **kw), splits.test.texts),
                           splits.train.label_names) for seed in seeds]
            out[name] = {"param": f"{param} (mean of {len(seeds)})".strip(),
                         "test_accuracy": float(np.mean([r["accuracy"] for r in reps])),
                         "test_macro_f1": float(np.mean([r["macro_f1"] for r in reps])),
                         "seconds": (time.perf_counter() - t0) / len(seeds)}
    return out


def fastnews_run(data: str, keep_headers: bool, seed: int, out: Path) -> dict:
    from fastnews.train import train
    cfg = TrainConfig(data=data, keep_headers=keep_headers, seed=seed, out=str(out))
    t0 = time.perf_counter()
    m = train(cfg, progress=False, log=lambda *a: None).metrics
    return {"seed": seed, "test_accuracy": m["test_accuracy"], "test_macro_f1": m["test_macro_f1"],
            "heldout_accuracy": m["combination"]["heldout_accuracy"], "weights": m["combination"]["weights"],
            "member_accuracy": m["combination"]["member_accuracy"], "ece": m["test_ece"],
            "ece_top_label": m["test_ece_top_label"], "seconds": time.perf_counter() - t0}


def corpora(shared: Path, extra: list[str]) -> dict[str, tuple[str, bool]]:
    data = shared / "data"
    out = {"20news (headers dropped)": (str(data / "20news-bydate.tar.gz"), False),
           "20news (headers kept)": (str(data / "20news-bydate.tar.gz"), True)}
    out.update({name: (str(data / f"{name}.jsonl"), False) for name in ("trec", "subj", "cr")})
    out.update({Path(p).name: (p, False) for p in extra})
    return out


def run_corpus(name: str, path: str, keep: bool, seeds: list[int], work: Path) -> dict:
    splits = load_corpus(path, keep_headers=keep)
    seeds = seeds if len(splits.train) < LARGE else seeds[:1]
    peers = {**linear_peers(splits), **fasttext_peers(splits, seeds)}
    runs = [fastnews_run(path, keep, s, work / f"{name.split()[0]}-{'kept' if keep else 'dropped'}-seed{s}")
            for s in seeds]
    acc = float(np.mean([r["test_accuracy"] for r in runs]))
    best = max(peers, key=lambda k: peers[k]["test_accuracy"])
    margin = 100 * (acc - peers[best]["test_accuracy"])
    print(f"\n{name}: {len(splits.train)} train, {len(splits.test)} test, {len(splits.train.label_names)} classes")
    print(f"{'system':40s} {'test acc':>9s} {'macro-F1':>9s} {'seconds':>8s}")
    for r in runs:
        used = " + ".join(f"{w:.2g} {m}" for m, w in r["weights"].items())
        print(f"{'fastnews, seed ' + str(r['seed']):40s} {r['test_accuracy']:9.4f} {r['test_macro_f1']:9.4f} "
              f"{r['seconds']:8.1f}   held-out {r['heldout_accuracy']:.4f}: {used}; "
              f"ECE {r['ece']:.4f} (with the top-label map {r['ece_top_label']:.4f})")
    print(f"{'fastnews, mean':40s} {acc:9.4f} {np.mean([r['test_macro_f1'] for r in runs]):9.4f}")
    for peer, r in sorted(peers.items(), key=lambda kv: -kv[1]["test_accuracy"]):
        print(f"{(peer + ' ' + r['param']).strip():40s} {r['test_accuracy']:9.4f} {r['test_macro_f1']:9.4f} "
              f"{r['seconds']:8.1f}")
    print(f"margin over the best peer ({best}): {margin:+.2f} points")
    return {"fastnews": acc, "runs": runs, "best_peer": best, "best_peer_accuracy": peers[best]["test_accuracy"],
            "margin": margin, "peers": peers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("extra", nargs="*", help="further corpora (any format fastnews train reads)")
    ap.add_argument("--shared", default=os.environ.get("FASTNEWS_SHARED", "../shared"))
    ap.add_argument("--only", nargs="+", help="run only the corpora whose name starts with one of these")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workdir", default="/tmp/fastnews-bench/suite")
    args = ap.parse_args()
    work = Path(args.workdir) / time.strftime("%Y%m%d-%H%M%S")
    results = {}
    for name, (path, keep) in corpora(Path(args.shared), args.extra).items():
        if args.only and not any(name.startswith(o) for o in args.only):
            continue
        results[name] = run_corpus(name, path, keep, args.seeds, work)
    margins = {name: round(r["margin"], 2) for name, r in results.items()}
    print(json.dumps({"margins": margins, "min_margin": min(margins.values()),
                      "mean_margin": round(float(np.mean(list(margins.values()))), 2),
                      "fastnews": {n: round(r["fastnews"], 4) for n, r in results.items()},
                      "best_peer": {n: [r["best_peer"], round(r["best_peer_accuracy"], 4)] for n, r in results.items()},
                      "seconds": {n: round(float(np.mean([x["seconds"] for x in r["runs"]])), 1)
                                  for n, r in results.items()},
                      "ece": {n: round(float(np.mean([x["ece"] for x in r["runs"]])), 4) for n, r in results.items()},
                      "ece_top_label": {n: round(float(np.mean([x["ece_top_label"] for x in r["runs"]])), 4)
                                        for n, r in results.items()}}))


if __name__ == "__main__":
    main()
