"""The whole product on the real corpus, through the CLI, as a new user runs it:
train briefly -> export (parity checked) -> predict a folder -> evaluate both backends."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

# Accuracy floor for the short CI run below (2 epochs of the default recipe on
# 20news-bydate, headers dropped): measured 0.8392 on 2026-12-07 (the network with its SVM and
# Complement NB members, weights fitted on validation); the full default reaches 0.8435 (mean
# of 3 seeds, bench/suite.py). Without a linear member the same run scored 0.8226 (2026-12-06),
# so losing the members, or a drop below the floor, is a real regression.
E2E_FLOOR = 0.83


def fastnews(*args, stdin=None, check=True):
    done = subprocess.run([sys.executable, "-m", "fastnews", *map(str, args)], capture_output=True, text=True,
                          input=stdin, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if check and done.returncode != 0:
        raise AssertionError(f"fastnews {' '.join(map(str, args))} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done


@pytest.fixture(scope="module")
def trained(tmp_path_factory, news20_path):
    out = tmp_path_factory.mktemp("e2e")
    fastnews("train", "--data", news20_path, "--epochs", 2, "--out", out / "run", "--quiet")
    return out


def test_train_writes_a_complete_run(trained):
    run = trained / "run"
    for name in ("model.pt", "checkpoint.pt", "metrics.json", "config.json", "confusion.png", "curves.png"):
        assert (run / name).stat().st_size > 0, name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_test"] == 7532 and metrics["epochs_run"] == 2
    assert metrics["test_accuracy"] >= E2E_FLOOR, metrics["test_accuracy"]
    assert 0 < metrics["test_macro_f1"] <= 1 and metrics["docs_per_s"] > 0
    combo = metrics["combination"]
    assert combo["chunks"] == 1 and combo["n_heldout"] == metrics["n_val"]  # 1,131 val documents: no cross-fitting
    assert combo["heldout_accuracy"] >= max(combo["member_accuracy"].values())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]


@pytest.fixture(scope="module")
def exported(trained):
    onnx_path = trained / "model.onnx"
    done = fastnews("export", trained / "run", "--output", onnx_path)
    return onnx_path, done.stderr


def test_export_predict_evaluate(trained, exported, news20_path, tmp_path):
    onnx_path, export_log = exported
    assert "parity vs PyTorch" in export_log and f"fastnews predict {onnx_path}" in export_log

    # evaluate: onnxruntime and PyTorch agree on every one of the 7,532 test documents
    onnx_eval = json.loads(fastnews("evaluate", onnx_path, "--data", news20_path, "--json", "--min-score", 0.9,
                                    "--plot", tmp_path / "calibration.png").stdout)
    torch_eval = json.loads(fastnews("evaluate", trained / "run", "--data", news20_path, "--json").stdout)
    assert onnx_eval["n"] == torch_eval["n"] == 7532
    assert onnx_eval["accuracy"] == torch_eval["accuracy"]
    assert onnx_eval["per_class"] == torch_eval["per_class"]
    metrics = json.loads((trained / "run" / "metrics.json").read_text())
    assert abs(onnx_eval["accuracy"] - metrics["test_accuracy"]) < 1e-12
    # the scores: the graph's ECE is PyTorch's and the one training measured (the softmax, by default)
    assert abs(onnx_eval["ece"] - torch_eval["ece"]) < 1e-4 and abs(onnx_eval["ece"] - metrics["test_ece"]) < 1e-4
    assert abs(metrics["test_ece"] - metrics["test_ece_softmax"]) < 1e-6 and metrics["test_ece"] < 0.05
    m = onnx_eval["min_score"]
    assert 0.5 < m["coverage"] < 1 and m["accuracy"] > onnx_eval["accuracy"]
    assert (tmp_path / "calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # logits: max |difference| <= 1e-5 and the same argmax on every test document, at batch 256
    from fastnews.corpus import load_corpus
    from fastnews.infer import Classifier
    from fastnews.checkpoint import load_run, run_logits
    # The Classifier takes the messages whole and drops the header block itself, as the
    # model was trained; PyTorch's run_logits takes the corpus as training read it.
    raw, test_texts = load_corpus(news20_path, keep_headers=True).test.texts, load_corpus(news20_path).test.texts
    got = Classifier.load(onnx_path, batch_size=256).logits(raw)
    ref = run_logits(load_run(trained / "run"), test_texts, batch_size=256)
    assert got.shape == ref.shape == (7532, 20)
    assert float(abs(got - ref).max()) <= 1e-5
    assert (got.argmax(1) == ref.argmax(1)).all()
    # ... and bit for bit the same logits in other batches, on one core
    assert np.array_equal(Classifier.load(onnx_path, batch_size=7, threads=1).logits(raw[:1000]), got[:1000])

    # predict: a folder of real messages, plus stdin
    with tarfile.open(news20_path) as tf:
        members = [m for m in tf.getmembers() if m.isfile() and "/sci.space/" in m.name and "test" in m.name][:50]
        tf.extractall(tmp_path / "docs", members=members, filter="data")
    out = tmp_path / "pred.jsonl"
    done = fastnews("predict", onnx_path, tmp_path / "docs", "--output", out, "--top-k", 3, check=False)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 50 and all(r["id"].startswith(str(tmp_path / "docs")) for r in rows)
    assert sum(r["label"] == "sci.space" for r in rows) >= 35
    assert all(len(r["top_k"]) == 3 and r["score"] == r["top_k"][0]["score"] for r in rows)

    done = fastnews("predict", onnx_path, "-", stdin="the shuttle launch was delayed by nasa\n\n", check=False)
    assert done.returncode == 3  # one blank line: an error row, and the exit code says so
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert rows[0]["label"] == "sci.space" and rows[1] == {"id": "stdin:2", "error": "empty document"}


@pytest.fixture(scope="module")
def local_predictions(exported, news20_path, tmp_path_factory):
    """The 7,532 test files as a folder, and `fastnews predict --top-k 2` of them with the ids graph."""
    root = tmp_path_factory.mktemp("test_split")
    with tarfile.open(news20_path) as tf:
        members = [m for m in tf.getmembers() if m.name.startswith("20news-bydate-test/")]
        tf.extractall(root, members=members, filter="data")
    test_dir = root / "20news-bydate-test"
    fastnews("predict", exported[0], test_dir, "--output", root / "local.jsonl", "--top-k", 2, "--quiet")
    return test_dir, root / "local.jsonl"


def test_ray_engine_writes_what_the_local_engine_writes(exported, local_predictions, tmp_path):
    """The whole real test split through `--engine ray` (a local Ray runtime on this
    machine's cores) and the local engine: the same JSONL, byte for byte."""
    test_dir, local_path = local_predictions
    fastnews("predict", exported[0], test_dir, "--output", tmp_path / "ray.jsonl", "--top-k", 2, "--quiet",
             "--engine", "ray")
    local = local_path.read_bytes()
    assert local.count(b"\n") == 7532
    assert (tmp_path / "ray.jsonl").read_bytes() == local


def test_text_graph_matches_the_ids_graph_on_the_test_split(exported, news20_path):
    """The .text.onnx and the ids graph, both fed the raw test documents (headers and all)
    through Classifier.logits: logits within 1e-5, the same labels on all 7,532."""
    from fastnews.corpus import load_corpus
    from fastnews.infer import Classifier
    text_path = exported[0].with_name(exported[0].stem + ".text.onnx")
    raw = load_corpus(news20_path, keep_headers=True).test.texts
    text_clf, ids_clf = Classifier.load(text_path), Classifier.load(exported[0])
    assert text_clf.text_input and not ids_clf.text_input
    got, want = text_clf.logits(raw), ids_clf.logits(raw)
    assert got.shape == want.shape == (7532, 20)
    assert float(np.abs(got - want).max()) <= 1e-5
    assert (got.argmax(1) == want.argmax(1)).all()
    labels = text_clf.session.run(["label"], {"text": np.array(raw[:300], dtype=object)})[0]
    assert labels.tolist() == [text_clf.labels[c] for c in want[:300].argmax(1)]


def test_python_verbs_give_what_fastnews_predict_gives(exported, local_predictions, tmp_path):
    """fastnews.predict writes the CLI's bytes, and Classifier.predict on each file's raw
    text (headers and all) gives the CLI's labels through either graph."""
    from fastnews import Classifier, predict
    from fastnews.corpus import decode
    test_dir, local_path = local_predictions
    counts = predict(exported[0], [test_dir], tmp_path / "lib.jsonl", top_k=2)
    assert (counts.documents, counts.errors) == (7532, 0)
    assert (tmp_path / "lib.jsonl").read_bytes() == local_path.read_bytes()
    rows = [json.loads(line) for line in local_path.read_text().splitlines()]
    raw = [decode(Path(r["id"]).read_bytes()) for r in rows]
    for graph in (exported[0], exported[0].with_name(exported[0].stem + ".text.onnx")):
        labels, _ = Classifier.load(graph).predict(raw)
        assert [ls[0] for ls in labels] == [r["label"] for r in rows], graph.name


def test_node_client_gives_the_labels_fastnews_predict_gives(exported, local_predictions, node_client):
    """clients/node, with onnxruntime-node from npm, reads the 7,532 test files itself and
    classifies them with the .text.onnx: exactly the labels of `fastnews predict`."""
    test_dir, local_path = local_predictions
    text_path = exported[0].with_name(exported[0].stem + ".text.onnx")
    done = subprocess.run(["node", node_client, text_path, test_dir], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    node_rows = [json.loads(line) for line in done.stdout.splitlines()]
    local_rows = [json.loads(line) for line in local_path.read_text().splitlines()]
    assert len(node_rows) == len(local_rows) == 7532
    assert [r["id"] for r in node_rows] == [r["id"] for r in local_rows]
    assert [r["label"] for r in node_rows] == [r["label"] for r in local_rows]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(node_rows, local_rows)) < 1e-5
