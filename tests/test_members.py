"""The final classifier (fastnews/members.py): Complement NB against its plain twin, the
choice of the combination, and the combination folded into the graph. The real-corpus
check (cr.jsonl) is in test_suite_corpus.py."""

import numpy as np
import torch

import naive
from fastnews.checkpoint import Split, load_run, predict_logits, save
from fastnews.linear_svm import Csr
from fastnews.members import Combination, Heldout, LinearFeatures, apply, choose, fit_cnb, fit_weights
from fastnews.model import ModelConfig, TextCNN


def test_cnb_matches_the_plain_twin():
    rng = np.random.default_rng(0)
    rows = [{}, {3: 0.5}] + [{int(f): float(rng.uniform(0.1, 1)) for f in rng.integers(1, 12, 5)} for _ in range(20)]
    labels = rng.integers(0, 3, len(rows))
    indptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    x = Csr(indptr, np.array([f for r in rows for f in r], np.int64), np.array([v for r in rows for v in r.values()]),
            14)
    live = np.ones(14, bool)
    live[[0, 13]] = False  # padding, and a feature below min_df
    got = fit_cnb(x, labels, 3, 0.3, live)
    want = np.array(naive.complement_nb(rows, labels, 14, 3, 0.3, live))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert not got[~live].any()


def _heldout(rng, n=600, k=3):
    """Held-out scores where the svm member is informative, net is weaker and cnb is noise."""
    y = rng.integers(0, k, n)
    onehot = np.eye(k)[y]
    held = Heldout()
    held.add(y, {"net": onehot * 1.0 + rng.normal(0, 1.0, (n, k)),
                 ("svm", 1.0): onehot * 2.0 + rng.normal(0, 1.0, (n, k)),
                 ("svm", 0.1): onehot * 0.5 + rng.normal(0, 1.0, (n, k)),
                 ("cnb", 0.3): rng.normal(0, 1.0, (n, k))})
    return held, y


def test_choice_is_never_below_a_member_alone():
    """Held-out cross-entropy, the choice's measure, is no worse than any member's alone;
    the better C is taken, and the noise member weighs least."""
    held, y = _heldout(np.random.default_rng(1))
    combo = choose(held, ("svm", "cnb"))
    assert combo.params["svm"] == 1.0
    assert combo.heldout_nll <= min(combo.member_nll.values()) + 1e-9
    assert combo.heldout_accuracy >= max(combo.member_accuracy.values())  # here, with 600 documents, also accuracy
    assert combo.member_accuracy["svm"] > combo.member_accuracy["net"] > combo.member_accuracy["cnb"]
    assert combo.weights["svm"] > combo.weights["net"] > combo.weights["cnb"]


def test_a_lone_member_wins_when_mixing_only_hurts():
    """Heavy-tailed noise members beside a clean one: they get next to no weight, and the
    combination is as good as the clean member alone."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    clean = np.eye(2)[y] * 2.0 + rng.normal(0, 1.0, (300, 2))
    held = Heldout()
    held.add(y, {"net": rng.standard_cauchy((300, 2)), ("svm", 1.0): clean, ("cnb", 1.0): rng.standard_cauchy((300, 2))})
    combo = choose(held, ("svm", "cnb"))
    assert combo.heldout_nll <= combo.member_nll["svm"] + 1e-9
    assert combo.heldout_accuracy >= combo.member_accuracy["svm"] - 0.01  # a wild tail may still tip 2 of 300
    assert max(combo.weights["net"], combo.weights["cnb"]) < 0.02 * combo.weights["svm"]


def test_fitted_weights_recover_a_known_scale():
    """Labels drawn from softmax(2 * s): the fitted weight comes back near 2."""
    rng = np.random.default_rng(3)
    s = rng.normal(0, 1.0, (4000, 3))
    p = np.exp(2 * s) / np.exp(2 * s).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    a, nll = fit_weights([s], y)
    assert abs(a[0] - 2.0) < 0.15
    assert nll < float(-np.log(p[np.arange(4000), y]).mean()) + 0.01


def test_combination_folds_into_the_model(tmp_path):
    """model(ids) after apply == a_net * model(ids) before + sum of a_m * member scores,
    and the saved run reloads with the member."""
    torch.manual_seed(0)
    rng = np.random.default_rng(4)
    model = TextCNN(ModelConfig(n_ids=30, n_classes=3, embed_dim=6, n_filters=4, bow=True)).eval()
    labels = rng.integers(0, 3, 60)
    ids = torch.zeros(60, 10, dtype=torch.int64)
    for i in range(60):  # each class has its own words, plus noise
        ids[i] = torch.from_numpy(np.concatenate([rng.integers(2 + 9 * labels[i], 11 + 9 * labels[i], 6),
                                                  rng.integers(2, 30, 4)]))
    split = Split.of(ids.to(torch.int32).reshape(-1).numpy(), np.full(60, 10), labels, 10, "cpu")
    before = predict_logits(model, split)
    features = LinearFeatures.fit(ids, labels, 30, 3, n_buckets=11, min_df=1)
    combo = Combination({"net": 0.5, "svm": 2.0, "cnb": 0.25}, {"svm": 1.0, "cnb": 0.3}, 1.0, 0.1, {}, {}, 60)
    want = (0.5 * before + 2.0 * features.scores(ids, *features.member("svm", 1.0))
            + 0.25 * features.scores(ids, *features.member("cnb", 0.3)))
    network_config = model.config
    model = apply(model, combo, features, n_buckets=11)
    assert model.config.svm_buckets == 11 and network_config.svm_buckets is None  # a new model, built whole
    np.testing.assert_allclose(predict_logits(model, split), want, atol=1e-4)
    save({"format": "fastnews-run", "model_config": model.config.to_dict(), "state_dict": model.state_dict(),
          "vocab": [f"w{i}" for i in range(28)], "tokenizer": {}, "labels": ["a", "b", "c"]}, tmp_path / "model.pt")
    loaded = load_run(tmp_path / "model.pt")
    np.testing.assert_allclose(predict_logits(loaded.model, split), predict_logits(model, split), atol=1e-6)
