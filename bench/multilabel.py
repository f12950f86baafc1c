"""Multi-label: the default recipe against the two peers of issue #29, in one run.

    pip install -e ".[bench]"
    python bench/multilabel.py [--data ../shared/data/reuters21578-modapte.jsonl] [--seed 0]

Every system sees the documents and the split that fastnews.corpus.load_corpus returns
(Reuters-21578 ModApte: 7,723 train, 3,005 test, 90 topics) and predicts the labels above
its threshold, and at least its top label; all are scored by fastnews.multilabel.report:
  * fastnews, the default recipe (`fastnews train --data ...`): per-label thresholds chosen
    on held-out chunks of train;
  * TF-IDF (1,2)-grams, sublinear tf, into one-vs-rest LinearSVC (C=1), decision > 0;
  * fastText supervised, -loss ova, 25 epochs, bigrams, threshold 0.5 (if fasttext is
    installed); its wheel's predict breaks under numpy 2, so its per-label probabilities
    are read from the C++ predict call underneath.
Prints a table and, last, one JSON line: micro_f1, macro_f1, peer_micro_f1 and
peer_macro_f1 (the best peer by micro-F1) and the seconds of each system.
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

from fastnews import multilabel  # noqa: E402
from fastnews.corpus import load_corpus  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "reuters21578-modapte.jsonl"


def _with_top(scores: np.ndarray, threshold: float) -> np.ndarray:
    return (scores > threshold) | (scores == scores.max(axis=1, keepdims=True))


def tfidf_svm(splits) -> tuple[dict, float]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC
    t0 = time.perf_counter()
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = OneVsRestClassifier(LinearSVC(C=1.0)).fit(vec.fit_transform(splits.train.texts), splits.train.labels)
    seconds = time.perf_counter() - t0
    scores = model.decision_function(vec.transform(splits.test.texts))
    return multilabel.report(splits.test.labels, _with_top(scores, 0.0), scores, splits.test.label_names), seconds


def fasttext_ova(splits, seed: int) -> tuple[dict, float] | None:
    try:
        import fasttext
    except ImportError:
        return None
    names = splits.train.label_names

    def line(text: str) -> str:
        return " ".join(text.lower().split())
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "train.txt")
        with open(path, "w") as f:
            for i in np.random.default_rng(seed).permutation(len(splits.train)):
                tags = " ".join(f"__label__{names[c]}" for c in np.flatnonzero(splits.train.labels[i]))
                f.write(f"{tags} {line(splits.train.texts[i])}\n")
        t0 = time.perf_counter()
        model = fasttext.train_supervised(path, loss="ova", epoch=25, wordNgrams=2, verbose=0, seed=seed,
                                          thread=os.cpu_count())
        seconds = time.perf_counter() - t0
    index = {f"__label__{n}": j for j, n in enumerate(names)}
    scores = np.zeros(splits.test.labels.shape, np.float64)
    for i, text in enumerate(splits.test.texts):
        # The wrapper's own predict fails here under numpy 2 (one text: np.array(copy=False);
        # a list with k > 1: the top probability repeated), so its C++ call is read directly.
        for p, lab in model.f.predict(line(text) + "\n", -1, 0.0, "strict"):
            if lab in index:
                scores[i, index[lab]] = p
    return multilabel.report(splits.test.labels, _with_top(scores, 0.5), scores, names), seconds


def fastnews_run(data: str, seed: int, out: Path) -> tuple[dict, float]:
    from fastnews.config import TrainConfig
    from fastnews.train import train
    t0 = time.perf_counter()
    m = train(TrainConfig(data=data, seed=seed, out=str(out)), progress=False, log=lambda *a: None).metrics
    seconds = time.perf_counter() - t0
    keys = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "p_at_1", "hamming_loss")
    return {k: m[f"test_{k}"] for k in keys}, seconds


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None, help="where the fastnews run goes (default: a temporary folder)")
    args = ap.parse_args(argv)
    splits = load_corpus(args.data)
    print(f"{args.data}: {len(splits.train)} train, {len(splits.test)} test, {len(splits.train.label_names)} labels",
          flush=True)
    systems = {"TF-IDF (1,2) + one-vs-rest LinearSVC C=1": tfidf_svm(splits)}
    ft = fasttext_ova(splits, args.seed)
    if ft is not None:
        systems["fastText -loss ova, 25 epochs, bigrams, t=0.5"] = ft
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        systems["fastnews (default recipe)"] = fastnews_run(args.data, args.seed, work / f"reuters-{args.seed}")
    print(f"{'system':48s} {'micro-F1':>8s} {'macro-F1':>8s} {'samp-F1':>8s} {'subset':>7s} {'P@1':>6s} "
          f"{'fit s':>6s}")
    for name, (rep, seconds) in systems.items():
        print(f"{name:48s} {rep['micro_f1']:8.4f} {rep['macro_f1']:8.4f} {rep['samples_f1']:8.4f} "
              f"{rep['subset_accuracy']:7.4f} {rep['p_at_1']:6.4f} {seconds:6.1f}")
    ours, our_seconds = systems.pop("fastnews (default recipe)")
    best = max(systems, key=lambda k: systems[k][0]["micro_f1"])
    print(json.dumps({"micro_f1": ours["micro_f1"], "macro_f1": ours["macro_f1"],
                      "peer": best, "peer_micro_f1": systems[best][0]["micro_f1"],
                      "peer_macro_f1": systems[best][0]["macro_f1"],
                      "margin_micro_points": 100 * (ours["micro_f1"] - systems[best][0]["micro_f1"]),
                      "seconds": {"fastnews": our_seconds, **{k: v[1] for k, v in systems.items()}}}))


if __name__ == "__main__":
    main()
