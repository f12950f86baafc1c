"""Corpus layouts, text cleaning and splits."""

import io
import json
import tarfile
import zipfile

import numpy as np
import pytest

from fastnews.corpus import (CorpusError, clean, default_corpus_path, iter_documents, load_corpus,
                             strip_headers)
from fastnews.splitting import stratified_split

MESSAGE = b"From: a@b.c\nSubject: hi\n  continued\n\nBody text here.\n"


def make_tree(root, split=False, n=6):
    for cls in ["alpha", "beta", "gamma"]:
        for i in range(n):
            sub = root / (("train" if i < n - 2 else "test") if split else "") / cls
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"{i}").write_bytes(b"From: x\n\n" + f"{cls} document {i}".encode())
    return root


def test_strip_headers_rules():
    assert clean(MESSAGE) == "Body text here.\n"
    assert clean(MESSAGE, keep_headers=True) == MESSAGE.decode()
    assert strip_headers("Not a header line\n\nbody") == "Not a header line\n\nbody"
    assert strip_headers("Key: v\nfree text\n\nbody") == "Key: v\nfree text\n\nbody"
    assert strip_headers("From: x\r\nSubject: y\r\n\r\nbody\r\n") == "body\n"
    assert strip_headers("no blank line at all") == "no blank line at all"


def test_decode_falls_back_to_latin1():
    assert clean("caf\u00e9".encode("utf-8")) == "caf\u00e9"
    assert clean("caf\u00e9".encode("latin-1")) == "caf\u00e9"


def test_folder_without_split_is_held_out_stratified(tmp_path):
    s = load_corpus(make_tree(tmp_path, n=10), test_fraction=0.2, seed=3)
    assert s.train.label_names == ["alpha", "beta", "gamma"]
    assert len(s.train) == 24 and len(s.test) == 6
    assert np.bincount(s.test.labels).tolist() == [2, 2, 2]
    assert s.test_from == "held out 0.2"
    again = load_corpus(tmp_path, test_fraction=0.2, seed=3)
    assert again.test.ids == s.test.ids
    assert not set(s.train.ids) & set(s.test.ids)


def test_split_folders_and_archives_agree(tmp_path):
    root = make_tree(tmp_path / "c", split=True)
    tgz, zp = tmp_path / "c.tar.gz", tmp_path / "c.zip"
    with tarfile.open(tgz, "w:gz") as tf:
        tf.add(root, arcname="corpus")
    with zipfile.ZipFile(zp, "w") as zf:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                zf.write(f, "corpus/" + f.relative_to(root).as_posix())
    results = [load_corpus(p) for p in (root, tgz, zp)]
    for s in results:
        assert s.test_from == "split folder"
        assert (len(s.train), len(s.test)) == (12, 6)
        assert sorted(s.train.texts) == sorted(results[0].train.texts)
        assert all(t.startswith(("alpha", "beta", "gamma")) for t in s.train.texts)  # headers dropped


def test_csv_and_jsonl(tmp_path):
    rows = [{"text": f"{lab} text {i}", "label": lab} for lab in "xyz" for i in range(5)]
    jl = tmp_path / "c.jsonl"
    jl.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    csvp = tmp_path / "c.csv"
    csvp.write_text("text,label\n" + "".join(f"\"{r['text']}\",{r['label']}\n" for r in rows))
    for p in (jl, csvp):
        s = load_corpus(p, test_fraction=0.2)
        assert s.train.label_names == ["x", "y", "z"] and len(s.train) + len(s.test) == 15


@pytest.mark.parametrize("setup,message", [
    (lambda p: (p / "only").mkdir() or (p / "only" / "a").write_text("x"), "only one class"),
    (lambda p: None, "no documents"),
    (lambda p: (p / "c.csv").write_text("text,category\nx,y\n"), "no 'label' column"),
])
def test_bad_corpora_fail_with_one_line(tmp_path, setup, message):
    setup(tmp_path)
    target = tmp_path / "c.csv" if (tmp_path / "c.csv").exists() else tmp_path
    with pytest.raises(CorpusError, match=message) as err:
        load_corpus(target)
    assert "\n" not in str(err.value)


def test_test_classes_must_be_in_train(tmp_path):
    root = make_tree(tmp_path, split=True)
    extra = root / "test" / "delta"
    extra.mkdir()
    (extra / "1").write_text("x")
    with pytest.raises(CorpusError, match="test classes not in train: delta"):
        load_corpus(root)


def test_stratified_split_keeps_every_class():
    labels = np.array([0] * 50 + [1] * 3 + [2] * 1)
    keep, held = stratified_split(labels, 0.2, seed=0)
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(54))
    assert np.bincount(labels[held], minlength=3).tolist() == [10, 1, 0]


def test_iter_documents_mixes_sources(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "one").write_bytes(b"1")
    (tmp_path / "f").write_bytes(b"2")
    docs = list(iter_documents([str(tmp_path / "d"), str(tmp_path / "f"), str(tmp_path / "missing"), "-"],
                               stdin=io.BytesIO(b"x\n\ny\n")))
    assert [d[0] for d in docs] == [str(tmp_path / "d" / "one"), str(tmp_path / "f"), str(tmp_path / "missing"),
                                    "stdin:1", "stdin:2", "stdin:3"]
    assert isinstance(docs[2][1], FileNotFoundError)
    assert [d[1] for d in docs[3:]] == [b"x", b"", b"y"]


def test_default_corpus_from_env_and_offline_message(tmp_path, monkeypatch, news20_path):
    monkeypatch.setenv("FASTNEWS_DATA", str(news20_path.parent))
    assert default_corpus_path() == news20_path
    monkeypatch.delenv("FASTNEWS_DATA")
    monkeypatch.setenv("FASTNEWS_HOME", str(tmp_path))
    with pytest.raises(CorpusError, match="pass --data"):
        default_corpus_path(download=False)


def test_balanced_class_weights_give_every_class_the_same_total():
    """As scikit-learn's class_weight="balanced": n / (k * n_c), so each class's documents
    weigh n / k in all; "none" weighs nothing."""
    from fastnews.splitting import class_weights
    labels = np.array([0] * 70 + [1] * 20 + [2] * 10)
    w = class_weights(labels, 3, "balanced")
    np.testing.assert_allclose(np.bincount(labels, weights=w[labels]), [100 / 3] * 3)
    np.testing.assert_allclose(w, [100 / 210, 100 / 60, 100 / 30])
    assert class_weights(labels, 3, "none") is None
