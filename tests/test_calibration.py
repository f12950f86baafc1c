"""Calibrated scores (fastnews/calibration.py, model.calibrated_probabilities): the map
against its plain twin, the measures against plain loops, and a fit on a real corpus
that lowers the ECE on documents it did not see without moving any argmax."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import naive
from conftest import SHARED
from fastnews.calibration import (accuracy_at_coverage, calibration_report, expected_calibration_error,
                                  fit_top_label_map, softmax)
from fastnews.model import calibrated_probabilities


def random_logits(rng, n, k, sharpness):
    return rng.normal(size=(n, k)) * sharpness


@pytest.mark.parametrize("a, b", [(1.0, 0.0), (0.6, 0.3), (1.8, -0.4), (0.2, 2.0), (3.0, -3.0)])
def test_the_map_equals_its_twin_and_keeps_the_argmax(a, b):
    rng = np.random.default_rng(0)
    many = np.concatenate([random_logits(rng, 200, 20, 3.0), random_logits(rng, 50, 20, 30.0)])  # p1 ~ 1 too
    for z in (many, random_logits(rng, 100, 2, 2.0)):
        got = calibrated_probabilities(torch.from_numpy(z), a, b).numpy()
        np.testing.assert_allclose(got, np.array(naive.calibrated_probabilities(z, a, b)), atol=1e-12)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-12)
        assert (got.argmax(axis=1) == z.argmax(axis=1)).all() and (got >= 0).all()
        if (a, b) == (1.0, 0.0):  # the identity map is the softmax, but where the margin lifts a near-tie
            top2 = np.sort(z, axis=1)[:, -2:]
            clear = top2[:, 1] - top2[:, 0] > 2e-3
            assert clear.mean() > 0.9
            np.testing.assert_allclose(got[clear], softmax(z)[clear], atol=1e-12)


def test_measures_equal_plain_loops():
    rng = np.random.default_rng(1)
    probs = softmax(random_logits(rng, 3000, 5, 2.0))
    labels = rng.integers(0, 5, 3000)
    conf, right = probs.max(1), probs.argmax(1) == labels
    assert expected_calibration_error(conf, right) == pytest.approx(naive.expected_calibration_error(conf, right),
                                                                    abs=1e-12)
    order = sorted(range(3000), key=lambda i: -conf[i])
    cov = accuracy_at_coverage(conf, right, (0.5, 1.0))
    assert cov["0.5"] == pytest.approx(np.mean([right[i] for i in order[:1500]]))
    assert cov["1"] == pytest.approx(right.mean())
    rep = calibration_report(probs, labels, min_score=0.5)
    brier = np.mean([sum((probs[i, j] - (j == labels[i])) ** 2 for j in range(5)) for i in range(3000)])
    assert rep["brier"] == pytest.approx(brier)
    assert rep["min_score"]["coverage"] == pytest.approx((conf >= 0.5).mean())
    assert rep["min_score"]["accuracy"] == pytest.approx(right[conf >= 0.5].mean())
    assert sum(b["n"] for b in rep["reliability"]) == 3000


def test_fit_on_a_real_corpus_lowers_the_ece_and_keeps_every_argmax():
    """Complement NB on TREC's words (whose softmax scores are far from calibrated), the
    map fitted on a validation part of train, measured on the test split."""
    from fastnews.members import LinearFeatures
    from fastnews.tokenize import Tokenizer, TokenizerConfig
    rows = [json.loads(line) for line in (SHARED / "trec.jsonl").read_text().splitlines()]
    names = sorted({r["label"] for r in rows})
    train = [r for r in rows if r["split"] == "train"]
    test = [r for r in rows if r["split"] == "test"]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(train))
    fit_part, val_part = [train[i] for i in order[1000:]], [train[i] for i in order[:1000]]
    tok, enc = Tokenizer.fit_encode([r["text"] for r in fit_part], 100_000, TokenizerConfig(max_len=64, min_len=1))
    y = lambda part: np.array([names.index(r["label"]) for r in part])  # noqa: E731
    features = LinearFeatures.fit(torch.from_numpy(enc.ids.astype(np.int64)), y(fit_part), tok.n_ids, len(names),
                                  2 ** 16, 1)
    table, intercept = features.member("cnb", 1.0)

    def logits_of(part):
        ids = torch.from_numpy(tok.encode([r["text"] for r in part]).ids.astype(np.int64))
        return features.scores(ids, table, intercept).astype(np.float64)
    val, tst = logits_of(val_part), logits_of(test)
    a, b = fit_top_label_map(val, y(val_part))
    after = calibrated_probabilities(torch.from_numpy(tst), a, b).numpy()
    before_ece = calibration_report(softmax(tst), y(test))["ece"]
    after_ece = calibration_report(after, y(test))["ece"]
    assert (after.argmax(1) == tst.argmax(1)).all()
    assert after_ece < 0.6 * before_ece, (before_ece, after_ece, a, b)
    assert after_ece < 0.1


def test_a_run_with_the_map_exports_it_and_reports_both_figures(small_run, tmp_path):
    """--calibration top-label: the map is in the model config, the exported graph's
    probabilities are the mapped ones (parity checked at export, and here through the
    Classifier), and metrics.json gives the test ECE with and without it."""
    from fastnews.checkpoint import load_run, run_outputs
    from fastnews.config import TrainConfig
    from fastnews.export import export
    from fastnews.infer import Classifier
    from fastnews.train import train
    root = Path(small_run)
    cfg = TrainConfig(data=str(root / "corpus"), glove=str(root / "glove.txt"), epochs=2, n_filters=8, batch_size=8,
                      max_len=32, out=str(tmp_path / "run"), bow_dropout=0.0, calibration="top-label")
    metrics = train(cfg, progress=False, log=lambda *a: None).metrics
    a, b = metrics["combination"]["top_label_map"]
    run = load_run(tmp_path / "run")
    assert run.model.config.top_label_map == (a, b) != (1.0, 0.0)
    assert metrics["test_ece"] == metrics["test_ece_top_label"] and 0 <= metrics["test_ece_softmax"] <= 1
    export(tmp_path / "run", tmp_path / "m.onnx", log=lambda *a: None)
    texts = ["orbit rocket", "goal team match", "bread", "soup goal orbit"]
    logits, probs = run_outputs(run, texts)
    np.testing.assert_allclose(probs, calibrated_probabilities(torch.from_numpy(logits), a, b).numpy(), atol=1e-6)
    for graph in ("m.onnx", "m.text.onnx"):
        np.testing.assert_allclose(Classifier.load(tmp_path / graph).predict_proba(texts), probs, atol=1e-5)
