"""Multi-label: corpora with label lists (JSONL, CSV with a separator, fastText lines), the
label sets, thresholds and measures against plain twins, and a trained model's rows."""

import json

import numpy as np
import pytest
import torch

import naive
from conftest import WORDS
from fastnews import multilabel
from fastnews.config import ModelConfig
from fastnews.corpus import load_corpus
from fastnews.errors import CorpusError, TableError
from fastnews.model import TextCNN
from test_bad_input import run

SETS = [("space",), ("sport",), ("food",), ("space", "food"), ("sport", "food"), ("space", "sport")]


def _docs(n=48, seed=0):
    """(labels, text, split): texts mixing the words of each of their labels."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        labels = SETS[i % len(SETS)]
        words = [w for label in labels for w in WORDS[label].split()]
        out.append((labels, " ".join(rng.choice(words, size=12)), "test" if i % 4 == 0 else "train"))
    return out


def _write(path, docs, fmt):
    if fmt == "jsonl":
        path.write_text("".join(json.dumps({"text": t, "labels": list(ls), "split": s}) + "\n" for ls, t, s in docs))
    elif fmt == "csv":
        path.write_text("text,tags,split\n" + "".join(f'"{t}",{"|".join(ls)},{s}\n' for ls, t, s in docs))
    else:
        path.write_text("".join(" ".join(f"__label__{x}" for x in ls) + f" {t}\n" for ls, t, _ in docs))
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "fasttext"])
def test_label_lists_are_read_from_every_format(tmp_path, fmt):
    docs = _docs()
    path = _write(tmp_path / {"jsonl": "c.jsonl", "csv": "c.csv", "fasttext": "c.txt"}[fmt], docs, fmt)
    kw = {"label_column": "tags", "label_separator": "|"} if fmt == "csv" else {}
    splits = load_corpus(path, **kw)
    assert splits.train.multi_label and splits.train.label_names == ["food", "space", "sport"]
    got = splits.train.label_lists() + splits.test.label_lists()
    want = [sorted(ls) for ls, _, s in docs if s == "train" or fmt == "fasttext"]
    if fmt != "fasttext":  # a fastText file has no split column: the test split is held out
        want += [sorted(ls) for ls, _, s in docs if s == "test"]
        assert got == want
    else:
        assert sorted(map(tuple, got)) == sorted(tuple(w) for w in want)


def test_one_label_per_document_is_single_label_unless_asked(tmp_path):
    docs = [(ls[:1], t, s) for ls, t, s in _docs()]
    path = _write(tmp_path / "c.txt", docs, "fasttext")
    assert not load_corpus(path).train.multi_label
    assert load_corpus(path, label_mode="multi").train.labels.shape[1] == 3
    assert load_corpus(_write(tmp_path / "c.jsonl", docs, "jsonl")).train.multi_label  # lists: multi-label
    with pytest.raises(CorpusError, match=r"d\.txt:4: 2 labels, but the label mode is single"):
        load_corpus(_write(tmp_path / "d.txt", _docs(), "fasttext"), label_mode="single")


@pytest.mark.parametrize("line, message", [
    ({"text": "moon", "labels": []}, r"c\.jsonl:2: empty label list"),
    ({"text": "moon", "labels": ["space", None]}, r"c\.jsonl:2: 'labels' holds null"),
    ({"text": "moon", "labels": ["a|b"]}, r"c\.jsonl:2: label 'a\|b' holds the label separator"),
])
def test_bad_label_lists_name_their_line(tmp_path, line, message):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"text": "orbit", "labels": ["space"]}) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(TableError, match=message):
        load_corpus(path, label_separator="|" if "|" in message else None)


def test_a_label_only_in_test_is_dropped_with_a_warning(tmp_path):
    docs = _docs() + [(("space", "weather"), "orbit rain", "test"), (("weather",), "rain", "test")]
    splits = load_corpus(_write(tmp_path / "c.jsonl", docs, "jsonl"))
    assert splits.test.label_names == ["food", "space", "sport"]
    assert any("1 labels appear only in test (2 test documents have one) and are dropped: weather" in n
               for n in splits.notes)


def test_chosen_mask_matches_its_twins():
    """numpy, torch (the graph's) and the plain loop give the same sets, ties included."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 7)).astype(np.float32)
    logits[::10] = -5.0  # all tied at the top: every label is the top label
    thresholds = rng.normal(size=7).astype(np.float32)
    model = TextCNN(ModelConfig(10, 7, 4, kernel_sizes=(1,), multi_label=True, thresholds=tuple(thresholds)))
    mask = multilabel.chosen_mask(logits, thresholds)
    assert np.array_equal(mask, model.chosen(torch.from_numpy(logits)).numpy())
    assert [list(np.flatnonzero(r)) for r in mask] == naive.chosen_sets(logits.tolist(), thresholds.tolist())
    assert mask.sum(1).min() >= 1 and mask[0].all()


def test_report_matches_the_definitions():
    rng = np.random.default_rng(1)
    truth = (rng.random((300, 6)) < 0.25).astype(np.uint8)
    truth[np.arange(300), rng.integers(0, 6, 300)] = 1
    scores = rng.normal(size=(300, 6)) + 1.5 * truth
    mask = multilabel.chosen_mask(scores, np.full(6, 0.8))
    rep = multilabel.report(truth, mask, scores, list("abcdef"))
    want = naive.multilabel_figures([np.flatnonzero(r) for r in truth], [np.flatnonzero(r) for r in mask], 6)
    for key, value in want.items():
        assert rep[key] == pytest.approx(value), key
    top = scores.argmax(1)
    assert rep["p_at_1"] == pytest.approx(truth[np.arange(300), top].mean())


def test_thresholds_are_each_labels_best_f1_cut():
    """Every label with enough held-out positives gets a cut no other cut beats (all cuts
    tried by brute force); the rare one gets the shared threshold, chosen for its F1."""
    rng = np.random.default_rng(2)
    truth = (rng.random((400, 4)) < [0.3, 0.1, 0.5, 0.005]).astype(np.uint8)
    logits = rng.normal(size=(400, 4)) + 2.0 * truth
    t = multilabel.choose_thresholds(logits, truth)

    def f1(j, cut):
        pred, pos = logits[:, j] >= cut, truth[:, j] > 0
        return 2 * (pred & pos).sum() / (pred.sum() + pos.sum())
    for j in range(3):
        best = max(f1(j, c) for c in logits[:, j])
        assert f1(j, t[j]) == pytest.approx(best), j
    assert 0 < truth[:, 3].sum() < multilabel.MIN_POSITIVES

    def f1_with_top(cut):  # label 3's F1 when every label takes this cut; top labels always in
        pred = multilabel.chosen_mask(logits, np.full(4, cut))[:, 3]
        return 2 * (pred & (truth[:, 3] > 0)).sum() / (pred.sum() + truth[:, 3].sum())
    candidates = np.concatenate([[0.0], np.quantile(logits, np.linspace(0.5, 1.0, 200))])
    assert f1_with_top(t[3]) == pytest.approx(max(f1_with_top(c) for c in candidates))


def test_a_fasttext_multilabel_corpus_trains_exports_and_predicts(tmp_path, capsys, small_run):
    """Through the CLI: train on a fastText-format file with label sets, export (the label
    sets parity checked), then rows in JSONL, CSV and Parquet, and --threshold."""
    path = _write(tmp_path / "train.txt", _docs(96), "fasttext")
    code, _, err = run(capsys, "train", "--data", path, "--glove", small_run / "glove.txt", "--epochs", "3",
                       "--filters", "4", "--max-len", "16", "--batch-size", "8", "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    assert "3 labels (1.47 per document: multi-label, one-vs-rest)" in err and "test micro-F1" in err
    code, _, err = run(capsys, "export", tmp_path / "run", "-o", tmp_path / "m.onnx")
    assert code == 0, err
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("orbit rocket launch bread cheese soup")
    (docs / "b.txt").write_text("")
    for model in ("m.onnx", "m.text.onnx"):
        code, out, _ = run(capsys, "predict", tmp_path / model, docs, "--quiet")
        rows = [json.loads(line) for line in out.splitlines()]
        assert code == 3 and rows[1] == {"id": str(docs / "b.txt"), "error": "empty document"}
        assert set(rows[0]) == {"id", "labels", "scores"} and rows[0]["labels"]
        assert rows[0]["scores"] == sorted(rows[0]["scores"], reverse=True)
    code, out, _ = run(capsys, "predict", tmp_path / "m.onnx", docs, "--quiet", "--threshold", "0.001")
    assert json.loads(out.splitlines()[0])["labels"] and len(json.loads(out.splitlines()[0])["labels"]) == 3
    code, out, _ = run(capsys, "predict", tmp_path / "m.onnx", docs, "--quiet", "--format", "csv", "--top-k", "1")
    assert out.splitlines()[0] == "id,labels,scores,error" and "|" not in out.splitlines()[1].split(",")[1]
    code, _, _ = run(capsys, "predict", tmp_path / "m.onnx", docs, "-o", tmp_path / "o.parquet", "--quiet")
    import pyarrow.parquet as pq
    table = pq.read_table(tmp_path / "o.parquet").to_pydict()
    assert table["labels"][0] and table["labels"][1] is None and table["error"][1] == "empty document"
    code, _, err = run(capsys, "predict", tmp_path / "m.onnx", docs, "--min-score", "0.5")
    assert code == 2 and "--min-score is for single-label models" in err
