"""Test accuracy of the default recipe against tuned linear baselines, both header protocols.

    pip install -e ".[bench]"
    python bench/accuracy.py [--data 20news-bydate.tar.gz] [--seeds 0 1 2] [--workdir /tmp/fn/acc]

For each protocol (headers dropped, the default; and --keep-headers), on the splits
that fastnews.corpus.load_corpus returns:
  * fastnews, default recipe, one run per seed, and one with --epochs 2 (seed 0);
  * TF-IDF (1,2) + LinearSVC, C chosen on a validation split carved from train;
  * TF-IDF (1,2) + SGD hinge, alpha chosen the same way;
  * TF-IDF (1,2) + ComplementNB, alpha chosen the same way.
The TF-IDF settings are TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2),
min_df=2, max_df=0.5). Every choice is made on validation; a chosen baseline is then
refit on the whole train split and scored once on test. The "best linear" figure is
the best of the three on test, which favours the baselines.

Prints a table per protocol and, last, one JSON line.
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    sys.path.pop(0)  # bench/tokenize.py must not shadow the standard library's tokenize

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from fastnews.config import TrainConfig  # noqa: E402
from fastnews.corpus import default_corpus_path, load_corpus, stratified_split  # noqa: E402
from fastnews.metrics import report  # noqa: E402


def linear_baselines(splits, seed: int = 0, val_fraction: float = 0.1) -> dict:
    """{name: {"param", "val_accuracy", "test_accuracy", "test_macro_f1", "seconds"}}."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.naive_bayes import ComplementNB
    from sklearn.svm import LinearSVC

    def vectorizer():
        return TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_df=0.5)

    grids = {
        "tfidf_linearsvc": ("C", [0.1, 0.3, 1.0, 3.0], lambda v: LinearSVC(C=v)),
        "tfidf_sgd_hinge": ("alpha", [1e-5, 3e-5, 1e-4], lambda v: SGDClassifier(loss="hinge", alpha=v,
                                                                                   random_state=seed)),
        "tfidf_complementnb": ("alpha", [0.03, 0.1, 0.3, 1.0], lambda v: ComplementNB(alpha=v)),
    }
    train_texts, y = splits.train.texts, np.asarray(splits.train.labels)
    fit_idx, val_idx = stratified_split(y, val_fraction, seed)
    vec = vectorizer()
    x_fit = vec.fit_transform([train_texts[i] for i in fit_idx])
    x_val = vec.transform([train_texts[i] for i in val_idx])
    full = vectorizer()
    x_train, x_test = full.fit_transform(train_texts), None
    x_test = full.transform(splits.test.texts)
    out = {}
    for name, (param, values, make) in grids.items():
        t0 = time.perf_counter()
        val_acc = {v: float((make(v).fit(x_fit, y[fit_idx]).predict(x_val) == y[val_idx]).mean()) for v in values}
        chosen = max(values, key=lambda v: val_acc[v])  # first of the best, in grid order
        rep = report(splits.test.labels, make(chosen).fit(x_train, y).predict(x_test), splits.train.label_names)
        out[name] = {"param": f"{param}={chosen:g}", "val_accuracy": val_acc[chosen], "test_accuracy": rep["accuracy"],
                     "test_macro_f1": rep["macro_f1"], "seconds": time.perf_counter() - t0}
    return out


def fastnews_run(data: str, keep_headers: bool, seed: int, out: Path, **overrides) -> dict:
    from fastnews.train import train
    cfg = TrainConfig(data=data, keep_headers=keep_headers, seed=seed, out=str(out), **overrides)
    m = train(cfg, progress=False, log=lambda *a: None).metrics
    return {"seed": seed, "val_accuracy": m["best_val_accuracy"], "test_accuracy": m["test_accuracy"],
            "test_macro_f1": m["test_macro_f1"], "epochs_run": m["epochs_run"], "train_seconds": m["train_seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="20news-bydate archive (default: the cache or $FASTNEWS_DATA)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workdir", default="/tmp/fastnews-bench/accuracy")
    ap.add_argument("--protocols", nargs="+", default=["dropped", "kept"], choices=["dropped", "kept"])
    args = ap.parse_args()
    data = str(args.data or default_corpus_path())
    work = Path(args.workdir) / time.strftime("%Y%m%d-%H%M%S")
    result = {"data": data, "seeds": args.seeds}
    for protocol in args.protocols:
        keep = protocol == "kept"
        splits = load_corpus(data, keep_headers=keep)
        linear = linear_baselines(splits)
        runs = [fastnews_run(data, keep, s, work / f"{protocol}-seed{s}") for s in args.seeds]
        two = fastnews_run(data, keep, args.seeds[0], work / f"{protocol}-2ep", epochs=2)
        acc = float(np.mean([r["test_accuracy"] for r in runs]))
        f1 = float(np.mean([r["test_macro_f1"] for r in runs]))
        best_name = max(linear, key=lambda k: linear[k]["test_accuracy"])
        best = linear[best_name]["test_accuracy"]
        print(f"\nheaders {protocol}: {len(splits.train)} train, {len(splits.test)} test")
        print(f"{'model':34s} {'val acc':>8s} {'test acc':>9s} {'macro-F1':>9s} {'seconds':>8s}")
        for r in runs:
            print(f"{'fastnews default, seed ' + str(r['seed']):34s} {r['val_accuracy']:8.4f} {r['test_accuracy']:9.4f} "
                  f"{r['test_macro_f1']:9.4f} {r['train_seconds']:8.1f}")
        print(f"{'fastnews default, mean':34s} {'':8s} {acc:9.4f} {f1:9.4f}")
        print(f"{'fastnews --epochs 2':34s} {two['val_accuracy']:8.4f} {two['test_accuracy']:9.4f} "
              f"{two['test_macro_f1']:9.4f} {two['train_seconds']:8.1f}")
        for name, r in linear.items():
            print(f"{name + ' (' + r['param'] + ')':34s} {r['val_accuracy']:8.4f} {r['test_accuracy']:9.4f} "
                  f"{r['test_macro_f1']:9.4f} {r['seconds']:8.1f}")
        print(f"margin over the best linear ({best_name}): {100 * (acc - best):+.2f} points")
        result.update({f"fastnews_acc_{protocol}": acc, f"fastnews_macro_f1_{protocol}": f1,
                       f"fastnews_runs_{protocol}": runs, f"fastnews_acc_2ep_{protocol}": two["test_accuracy"],
                       f"best_linear_{protocol}": best, f"best_linear_name_{protocol}": best_name,
                       f"margin_{protocol}": acc - best, f"linear_{protocol}": linear})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
