"""The sparse path (fastnews/sparse.py) against its pure-Python twin (tests/naive.py)."""

import numpy as np
import pytest
import torch

import naive
from fastnews.sparse import SparseNgrams, document_frequencies


def _docs(n_ids, rng):
    """Rows of ids, 0-padded after their words: empty, one word, repeats, and random."""
    docs = [[], [5], [3, 3, 3, 7, 3], [1, 1, 1], [4, 9, 4, 9, 4, 9]]
    docs += [list(rng.integers(1, n_ids, size=rng.integers(2, 60))) for _ in range(20)]
    width = max(len(d) for d in docs) + 3
    ids = np.zeros((len(docs), width), np.int64)
    for i, d in enumerate(docs):
        ids[i, :len(d)] = d
    return docs, torch.from_numpy(ids)


@pytest.mark.parametrize("n_buckets", [0, 37])
def test_scores_match_the_twin(n_buckets):
    rng = np.random.default_rng(0)
    n_ids = 12
    path = SparseNgrams(n_ids, 3, n_buckets).eval()
    with torch.no_grad():
        torch.nn.init.normal_(path.scores.weight)
        path.scores.weight[0] = 0
        idf = torch.rand(n_ids + n_buckets) * 3
        idf[2] = 0.0  # a feature below min_df counts for nothing
        idf[0] = 0.0
        path.idf.copy_(idf)
    docs, ids = _docs(n_ids, rng)
    with torch.no_grad():
        got = path(ids).numpy()
    table = path.scores.weight.tolist()
    for i, d in enumerate(docs):
        want = naive.tfidf_scores(d, n_ids, n_buckets, idf.tolist(), table)
        np.testing.assert_allclose(got[i], want, atol=1e-5, err_msg=str(d))


@pytest.mark.parametrize("n_buckets", [0, 37])
def test_document_frequencies_and_idf_match_the_twin(n_buckets):
    rng = np.random.default_rng(1)
    n_ids = 12
    path = SparseNgrams(n_ids, 3, n_buckets)
    docs, ids = _docs(n_ids, rng)
    df = document_frequencies(path, ids, batch_size=4).numpy()
    want = np.zeros(n_ids + n_buckets, np.int64)
    for d in docs:
        for f in set(naive.ngram_features(d, n_ids, n_buckets)):
            want[f] += 1
    want[0] = df[0]  # padding: counted or not, it weighs nothing
    np.testing.assert_array_equal(df, want)
    df[3], df[4] = 1, 0  # one feature seen in a single document, one never seen
    path.set_idf(torch.from_numpy(df), len(docs), min_df=2)
    idf = path.idf.numpy()
    assert idf[0] == 0 and idf[3] == 0 and idf[4] == 0
    assert all(idf[f] == 0 for f in range(1, len(df)) if df[f] < 2)
    f = int(np.argmax(df[1:])) + 1
    assert idf[f] == pytest.approx(np.log((1 + len(docs)) / (1 + df[f])) + 1)


def test_feature_dropout_only_in_training():
    path = SparseNgrams(12, 3, 0, dropout=0.5)
    with torch.no_grad():
        torch.nn.init.normal_(path.scores.weight)
    ids = torch.randint(1, 12, (4, 30))
    path.eval()
    assert torch.equal(path(ids), path(ids))
    path.train()
    torch.manual_seed(0)
    assert not torch.allclose(path(ids), path.eval()(ids))


def test_scores_do_not_depend_on_padding():
    """A row's scores are bit-identical at any padded width, also when its features fill
    several of forward's float32 blocks: what makes predict's output rows the same for
    any batch."""
    rng = np.random.default_rng(2)
    n_ids, n_buckets = 500, 4096
    path = SparseNgrams(n_ids, 20, n_buckets).eval()
    with torch.no_grad():
        torch.nn.init.normal_(path.scores.weight)
        path.scores.weight[0] = 0
        path.idf.copy_(torch.rand(n_ids + n_buckets) * 5)
        path.idf[0] = 0.0
    words = torch.from_numpy(rng.integers(1, n_ids, size=300))
    outs = []
    for width in (300, 301, 347, 640):
        ids = torch.zeros((1, width), dtype=torch.int64)
        ids[0, :300] = words
        with torch.no_grad():
            outs.append(path(ids))
    assert all(torch.equal(outs[0], out) for out in outs[1:])
