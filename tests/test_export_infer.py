"""Export a small trained run, check parity and metadata, and classify with onnxruntime."""

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest

import torch

from fastnews.artifact import corpus_options
from fastnews.corpus import load_corpus
from fastnews.errors import ModelFileError, ParityError
from fastnews.export import export, parity_check, to_onnx
from fastnews.infer import Classifier
from conftest import WORDS
from fastnews.checkpoint import load_run, run_logits

@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_export_parity_and_metadata(small_run, tmp_path, exporter):
    out = tmp_path / f"m-{exporter}.onnx"
    result = export(small_run / "run", out, exporter=exporter, log=lambda *a: None)
    # Every shape was checked, the shortest and the longest inputs among them.
    assert result.parity["rows"] == 1 + 2 + 7 + 16 + 256
    assert [16, 32] in result.parity["shapes"] and min(seq for _, seq in result.parity["shapes"]) == 5
    assert 0 < result.parity["max_abs_diff"] <= result.parity["atol"] == 1e-5
    model = onnx.load(out)
    onnx.checker.check_model(model, full_check=True)
    assert any(o.version == 18 for o in model.opset_import if o.domain in ("", "ai.onnx"))
    meta = {p.key: json.loads(p.value) for p in model.metadata_props}
    run = load_run(small_run / "run")
    assert meta["fastnews.labels"] == ["food", "space", "sport"] == run.labels
    assert meta["fastnews.vocab"] == run.tokenizer.vocab
    assert meta["fastnews.tokenizer"]["min_len"] == 5 and meta["fastnews.tokenizer"]["max_len"] == 32
    assert not list(tmp_path.glob(".*fastnews-tmp"))  # no temporary file left behind

    texts = ["nasa launch the rocket to the moon", "team score goal", "", "zzz qqq", "bread " * 100]
    clf = Classifier.load(out)
    np.testing.assert_allclose(clf.logits(texts), run_logits(run, texts), atol=1e-5)
    labels, probs = clf.predict(texts, k=2)
    assert labels[0][0] == "space" and labels[1][0] == "sport" and labels[4][0] == "food"
    assert probs.shape == (5, 2) and np.all(probs[:, 0] >= probs[:, 1])
    for bs in (1, 2, 7, 256):  # batch composition does not change results
        np.testing.assert_allclose(Classifier.load(out, batch_size=bs).logits(texts), clf.logits(texts), atol=1e-6)


def test_parity_check_catches_a_graph_that_differs(small_run):
    """A graph that differs from the model by 1e-4 in one logit fails the check, naming
    the difference; the same graph against its own model passes."""
    run = load_run(small_run / "run")
    graph = to_onnx(run).SerializeToString()
    assert parity_check(run, graph)["max_abs_diff"] <= 1e-5
    with torch.no_grad():
        run.model.out.bias[1] += 1e-4
    with pytest.raises(ParityError, match=r"max \|logit or probability difference\| 0.0001"):
        parity_check(run, graph)


def test_onnx_without_metadata_is_refused(small_run, tmp_path):
    out = tmp_path / "m.onnx"
    export(small_run / "run", out, log=lambda *a: None)
    model = onnx.load(out)
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, bare)
    with pytest.raises(ModelFileError, match="no fastnews metadata"):
        Classifier.load(bare)
    (tmp_path / "trunc.onnx").write_bytes(out.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match="not a loadable ONNX model"):
        Classifier.load(tmp_path / "trunc.onnx")


def test_inference_imports_no_torch(small_run, tmp_path):
    out = tmp_path / "m.onnx"
    export(small_run / "run", out, log=lambda *a: None)
    code = ("import sys; from fastnews import Classifier; "
            f"c = Classifier.load({str(out)!r}); print(c.predict('nasa rocket')[0][0]); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "space"


def test_int8_export_records_its_figures(small_run, tmp_path):
    # Calibrated and scored on a harder corpus of the same classes (the run's own scores
    # 1.0 on every figure, so a wrong figure could not show): each document mixes its
    # class's words with the other classes'.
    rng = np.random.default_rng(1)
    for label in WORDS:
        (tmp_path / "mixed" / label).mkdir(parents=True)
        others = " ".join(w for name, ws in WORDS.items() if name != label for w in ws.split()).split()
        for i in range(60):
            words = list(rng.choice(WORDS[label].split(), 3)) + list(rng.choice(others, 4))
            (tmp_path / "mixed" / label / f"{i}.txt").write_text(" ".join(rng.permutation(words)))
    result = export(small_run / "run", tmp_path / "m.onnx", quantize="int8", data=str(tmp_path / "mixed"),
                    log=lambda *a: None)
    q = result.int8
    assert q["path"] == str(tmp_path / "m.int8.onnx")
    # The figures, recomputed here from the two files on that corpus's test split.
    run = load_run(small_run / "run")
    test = load_corpus(tmp_path / "mixed", **corpus_options(run.checkpoint["train_config"])).test
    assert 0.4 < q["fp32"]["accuracy"] < 0.95
    fp32_pred = Classifier.load(tmp_path / "m.onnx").logits(test.texts).argmax(1)
    int8_pred = Classifier.load(q["path"]).logits(test.texts).argmax(1)
    assert q["n_test"] == len(test.texts) > 0
    assert q["fp32"]["accuracy"] == float((fp32_pred == test.labels).mean())
    assert q["int8"]["accuracy"] == float((int8_pred == test.labels).mean())
    assert q["argmax_agreement"] == float((int8_pred == fp32_pred).mean())
    assert q["fp32"]["size_bytes"] == (tmp_path / "m.onnx").stat().st_size  # (tiny model: QDQ nodes outweigh savings)
    model = onnx.load(q["path"])
    meta = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert meta["fastnews.quantization"]["argmax_agreement"] == q["argmax_agreement"]
    assert meta["fastnews.quantization"]["int8"]["size_bytes"] == (tmp_path / "m.int8.onnx").stat().st_size
    clf = Classifier.load(q["path"])
    assert clf.predict("nasa rocket launch orbit")[0][0] == "space"
