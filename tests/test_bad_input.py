"""Bad input never crashes the CLI, never loses a document, and never runs code from a file.

Every case goes through the real command (fastnews_cli.main) and checks the exit code,
that stderr is one clean line without a traceback, and that each input got exactly one row."""

import io
import json
import os
import tarfile

import onnx
import pytest

from fastnews_cli.main import main


def run(capsys, *args, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def rows_of(out):
    return [json.loads(line) for line in out.splitlines()]


def _predict_peak_growth(model, folder) -> int:
    """KiB the peak RSS of a fresh process grows by while it predicts folder, after it
    has loaded the model and classified one document. The peak is the process's own VmHWM
    (Linux): ru_maxrss would carry over the high-water mark of the pytest process that
    forked it, and hide any growth."""
    import subprocess
    import sys
    code = ("import re, sys; from pathlib import Path; from fastnews.infer import Classifier; "
            "from fastnews_cli.main import main; "
            "hwm = lambda: int(re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text())[1]); "
            f"Classifier.load({str(model)!r}).predict('warm up'); before = hwm(); "
            f"main(['predict', {str(model)!r}, {str(folder)!r}, '--max-bytes', '1000', '--quiet', "
            f"'-o', {str(folder.parent / 'out.jsonl')!r}]); print(hwm() - before)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_predict_survives_bad_documents(tmp_path, capsys, small_onnx):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a_good.txt").write_text("nasa rocket launch orbit")
    (d / "b_empty.txt").write_bytes(b"")
    (d / "c_binary.bin").write_bytes(b"\x00\x01\x02" * 100)
    (d / "d_invalid_utf8.txt").write_bytes(b"bread \xff\xfe cheese soup")
    with open(d / "e_huge.txt", "wb") as fh:  # 200 MB in one file: only --max-bytes of it is read
        block = b"team score goal " * 65536
        for _ in range(200 * 2**20 // len(block)):
            fh.write(block)
    os.symlink("f_loop", d / "f_loop")                             # a symlink loop
    tgz = tmp_path / "evil.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        for name, data in (("../escape.txt", b"bread soup"), ("ok/doc.txt", b"orbit moon")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    code, out, err = run(capsys, "predict", small_onnx, d, tgz, tmp_path / "missing.txt", "--max-bytes", 1000,
                         "--quiet")
    peak_growth = _predict_peak_growth(small_onnx, d)
    rows = rows_of(out)
    assert code == 3
    assert [r["id"].rsplit("/", 1)[-1] for r in rows] == [
        "a_good.txt", "b_empty.txt", "c_binary.bin", "d_invalid_utf8.txt", "e_huge.txt", "f_loop",
        "escape.txt", "doc.txt", "missing.txt"]
    by_name = {r["id"].rsplit("/", 1)[-1]: r for r in rows}
    assert by_name["a_good.txt"]["label"] == "space"
    assert by_name["b_empty.txt"]["error"] == "empty document"
    assert "binary" in by_name["c_binary.bin"]["error"]
    assert by_name["d_invalid_utf8.txt"]["label"] == "food"      # latin-1 fallback, still classified
    assert by_name["e_huge.txt"]["label"] == "sport"
    assert "symbolic links" in by_name["f_loop"]["error"]
    assert "unsafe archive member" in by_name["escape.txt"]["error"]
    assert by_name["doc.txt"]["label"] == "space"
    assert "no such file" in by_name["missing.txt"]["error"]
    assert not (tmp_path / "escape.txt").exists()
    assert peak_growth < 100_000  # KiB: the 200 MB file was never read whole


def test_predict_unreadable_file_and_vanishing_path(tmp_path, capsys, small_onnx, monkeypatch):
    d = tmp_path / "in"
    d.mkdir()
    for name in ("a", "b", "c"):
        (d / name).write_text("orbit rocket")
    import fastnews.corpus
    real_read = fastnews.corpus.read_file

    def read_file(path, max_bytes=None):
        if os.path.basename(path) == "a":
            raise PermissionError(13, "Permission denied")
        if os.path.basename(path) == "b":
            os.unlink(path)  # vanishes between listing and reading
        return real_read(path, max_bytes)

    monkeypatch.setattr(fastnews.corpus, "read_file", read_file)
    code, out, _ = run(capsys, "predict", small_onnx, d, "--quiet")
    rows = rows_of(out)
    assert code == 3 and len(rows) == 3
    assert rows[0]["error"] == "permission denied"
    assert rows[1]["error"] == "no such file or directory"
    assert rows[2]["label"] == "space"


def test_predict_empty_dir_stdin_and_exit_codes(tmp_path, capsys, small_onnx, monkeypatch):
    (tmp_path / "empty").mkdir()
    code, out, _ = run(capsys, "predict", small_onnx, tmp_path / "empty", "--quiet")
    assert code == 0 and out == ""
    code, out, _ = run(capsys, "predict", small_onnx, "-", "--quiet", stdin=b"bread soup\n\n\ngoal team\n",
                       monkeypatch=monkeypatch)
    rows = rows_of(out)
    assert code == 3 and [r.get("label", r.get("error")) for r in rows] == \
        ["food", "empty document", "empty document", "sport"]
    code, _, err = run(capsys, "predict", small_onnx, "-", "--no-such-flag")
    assert code == 2 and "unrecognized arguments" in err
    code, _, err = run(capsys, "predict", tmp_path / "nope.onnx", "-")
    assert code == 1 and err.count("\n") == 1 and "no such model file" in err


def test_bad_model_files(tmp_path, capsys, small_onnx):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(small_onnx.read_bytes()[:2000])
    model = onnx.load(small_onnx)
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    del bare.metadata_props[:]
    onnx.save(bare, tmp_path / "bare.onnx")
    for prop in model.metadata_props:
        if prop.key == "fastnews.vocab":
            prop.value = json.dumps(json.loads(prop.value) + [f"extra{i}" for i in range(50)])
    onnx.save(model, tmp_path / "mismatch.onnx")
    (tmp_path / "doc.txt").write_text("bread")
    for name, message in (("truncated", "not a loadable ONNX model"), ("bare", "no fastnews metadata"),
                          ("mismatch", "metadata does not fit the graph")):
        code, out, err = run(capsys, "predict", tmp_path / f"{name}.onnx", tmp_path / "doc.txt")
        assert code == 1 and out == "" and message in err and err.count("\n") == 1, (name, err)


class _Payload:
    def __reduce__(self):
        return (open, ("/tmp/fastnews-pwned", "w"))


def test_malicious_checkpoint_is_not_executed(tmp_path, capsys):
    import torch
    target = "/tmp/fastnews-pwned"
    if os.path.exists(target):
        os.unlink(target)
    run_dir = tmp_path / "evil"
    run_dir.mkdir()
    torch.save({"format": "fastnews-run", "payload": _Payload()}, run_dir / "model.pt", pickle_protocol=2)
    code, _, err = run(capsys, "export", run_dir, "--output", tmp_path / "x.onnx")
    assert code == 1 and "not a loadable fastnews checkpoint" in err
    assert not os.path.exists(target)
    assert not (tmp_path / "x.onnx").exists()


def _corpus(root, classes):
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(4):
            (root / c / f"{i}.txt").write_text(f"{c} words number {i}")
    return root


@pytest.mark.parametrize("case,args,message", [
    ("one class", lambda p: ["--data", _corpus(p / "c", ["only"])], "only one class"),
    ("csv without label", lambda p: ["--data", _write(p / "c.csv", "text,kind\nhello,a\n")], "no 'label' column"),
    ("malformed glove", lambda p: ["--data", _corpus(p / "c", ["a", "b"]),
                                   "--glove", _write(p / "g.txt", "a 1 2\nb 1\n")], "line 2"),
    ("mixed glove dims", lambda p: ["--data", _corpus(p / "c", ["a", "b"]),
                                    "--glove", _write(p / "g.txt", "a 1 2\nb 1 2 3\n")], "mixed dimensions"),
    ("max-len too short", lambda p: ["--data", _corpus(p / "c", ["a", "b"]), "--arch", "seed", "--max-len", 100],
     "shorter than the seed conv stack's minimum of 149"),
    ("unknown config field", lambda p: ["--config", _write(p / "c.toml", "epochs = 1\nbogus = 2\n")], "bogus"),
])
def test_train_rejects_bad_setups_in_one_line(tmp_path, capsys, case, args, message):
    code, _, err = run(capsys, "train", *args(tmp_path), "--out", tmp_path / "run", "--quiet")
    assert code == 1, case
    last = err.strip().splitlines()[-1]  # progress lines may come first; the error is one line
    assert last.startswith("fastnews train: error: ") and message in last, err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_train_cuda_without_cuda(tmp_path, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = run(capsys, "train", "--data", _corpus(tmp_path / "c", ["a", "b"]), "--device", "cuda",
                       "--out", tmp_path / "run", "--quiet")
    assert code == 1 and "no CUDA device" in err


def _write(path, text):
    path.write_text(text)
    return path


def test_results_do_not_depend_on_batch_size_or_threads(tmp_path, capsys, small_onnx, news20):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(news20.test.texts[:300]):
        (docs / f"{i:04d}.txt").write_text(text)
    outputs = set()
    for batch_size, threads in ((1, 1), (7, 2), (256, 1), (256, 2)):
        code, out, _ = run(capsys, "predict", small_onnx, docs, "--batch-size", batch_size, "--threads", threads,
                           "--quiet", "--top-k", 2)
        assert code == 0 and out.count("\n") == 300
        outputs.add(out)
    assert len(outputs) == 1


@pytest.mark.slow
def test_hundred_thousand_tiny_files(tmp_path, capsys, small_onnx):
    docs = tmp_path / "many"
    for shard in range(100):
        (docs / f"{shard:02d}").mkdir(parents=True)
        for i in range(1000):
            (docs / f"{shard:02d}" / f"{i:03d}").write_bytes(b"bread soup" if i % 2 else b"goal team")
    out_path = tmp_path / "out.csv"
    code, _, err = run(capsys, "predict", small_onnx, docs, "--output", out_path)
    assert code == 0
    lines = out_path.read_text().splitlines()
    assert lines[0] == "id,label,score,error" and len(lines) == 100_001
    assert "100000 documents, 100000 classified, 0 errors" in err


def test_evaluate_skips_and_counts_unreadable_files(tmp_path, capsys, small_run, small_onnx):
    import shutil
    corpus = tmp_path / "corpus"
    shutil.copytree(small_run / "corpus", corpus)
    os.symlink("loop", corpus / "food" / "loop")  # unreadable: a symlink loop
    code, out, err = run(capsys, "evaluate", small_onnx, "--data", corpus, "--json")
    assert code == 3
    report = json.loads(out)
    assert report["skipped"] == 1 and report["n"] > 0
    assert "skipped food/loop" in err


def test_ray_engine_without_ray_and_engine_flags(tmp_path, capsys, small_onnx, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "ray", None)  # as if "fastnews[ray]" were not installed
    (tmp_path / "a.txt").write_text("bread soup")
    code, out, err = run(capsys, "predict", small_onnx, tmp_path, "--engine", "ray", "--quiet")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert 'pip install "fastnews[ray]"' in err
    code, _, err = run(capsys, "predict", small_onnx, tmp_path, "--workers", "2")
    assert code == 2 and "--engine ray" in err
    code, _, err = run(capsys, "predict", small_onnx, tmp_path, "--format", "parquet")
    assert code == 2 and "--output" in err
    code, _, _ = run(capsys, "predict", small_onnx, tmp_path, "-o", tmp_path / "out.parquet", "--quiet")
    import pyarrow.parquet as pq
    table = pq.read_table(tmp_path / "out.parquet")
    assert code == 0 and table.column_names == ["id", "label", "score", "error"]
    assert table.column("label").to_pylist() == ["food"] and table.column("error").to_pylist() == [None]


def test_output_to_a_fifo_is_written_in_place(small_onnx, tmp_path, capsys):
    """-o /dev/null or a named pipe: written to, never renamed over."""
    import stat
    import threading
    (tmp_path / "doc.txt").write_text("orbit moon")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    code, _, err = run(capsys, "predict", small_onnx, tmp_path / "doc.txt", "-o", fifo, "--quiet")
    reader.join(timeout=30)
    assert code == 0, err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert json.loads(got[0])["label"] == "space"


def test_python_verbs_raise_one_error_family(tmp_path, small_onnx, small_run):
    """A user error from any verb is a FastnewsError with a one-line message, whatever
    its subclass; an unreadable model.pt is a model file error, not a training one."""
    from fastnews import FastnewsError, predict
    from fastnews.config import TrainConfig
    from fastnews.corpus import load_corpus
    from fastnews.errors import CorpusError, GloveError, ModelFileError, TrainError, UsageError
    from fastnews.evaluate import evaluate
    from fastnews.glove import load as load_glove
    (tmp_path / "a.txt").write_text("bread soup")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "bad.glove.txt").write_text("word 0.1 0.2\nother 0.3\n")
    cases = [(lambda: predict(small_onnx, [tmp_path], top_k=0), UsageError),
             (lambda: predict(small_onnx, [tmp_path], resume=True), UsageError),
             (lambda: predict(tmp_path / "nope.onnx", [tmp_path]), ModelFileError),
             (lambda: evaluate(tmp_path / "junk.pt", data=small_run / "corpus"), ModelFileError),
             (lambda: load_corpus(tmp_path / "nope.csv"), CorpusError),
             (lambda: TrainConfig(arch="lstm"), TrainError),
             (lambda: load_glove(tmp_path / "bad.glove.txt", tmp_path / "store"), GloveError)]
    for case, kind in cases:
        with pytest.raises(kind) as info:
            case()
        assert isinstance(info.value, FastnewsError) and "\n" not in str(info.value)
    counts = predict(small_onnx, [tmp_path / "a.txt"], tmp_path / "out.jsonl")
    assert (counts.documents, counts.classified, counts.errors) == (1, 1, 0)


def test_a_bug_is_not_taken_for_a_user_error(tmp_path, capsys, small_onnx, monkeypatch):
    """An exception outside the FastnewsError family says "unexpected" and points at
    --debug, which shows its traceback."""
    def broken(*args, **kwargs):
        raise ValueError("a bug")
    monkeypatch.setattr("fastnews.batch_predict.predict", broken)
    code, _, err = run(capsys, "predict", small_onnx, tmp_path)
    assert code == 1 and "unexpected ValueError: a bug (rerun with --debug)" in err
    with pytest.raises(ValueError, match="a bug"):
        main(["--debug", "predict", str(small_onnx), str(tmp_path)])


def test_min_score_abstains_in_every_format(tmp_path, capsys, small_onnx):
    """Below --min-score a row keeps its best label as "guess", has no label and says
    "abstained"; above it nothing changes. The same rule in Classifier.predict."""
    from fastnews import Classifier
    clf = Classifier.load(small_onnx)
    texts = {"clear.txt": "bread cheese soup recipe bake", "mixed.txt": "bread orbit goal"}
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in texts.items():
        (docs / name).write_text(text)
    scores = {name: float(clf.predict(text)[1][0]) for name, text in texts.items()}
    threshold = (scores["clear.txt"] + scores["mixed.txt"]) / 2
    assert scores["mixed.txt"] < threshold < scores["clear.txt"]
    code, out, _ = run(capsys, "predict", small_onnx, docs, "--min-score", threshold, "--quiet")
    rows = {r["id"].rsplit("/", 1)[-1]: r for r in rows_of(out)}
    assert code == 0 and rows["clear.txt"]["label"] == "food" and "abstained" not in rows["clear.txt"]
    guess = clf.predict(texts["mixed.txt"])[0][0]
    assert rows["mixed.txt"] == {"id": str(docs / "mixed.txt"), "label": None, "abstained": True,
                                 "guess": guess, "score": round(scores["mixed.txt"], 6)}
    run(capsys, "predict", small_onnx, docs, "--min-score", threshold, "-o", tmp_path / "o.csv", "--quiet")
    lines = (tmp_path / "o.csv").read_text().splitlines()
    assert lines[0] == "id,label,score,error,abstained,guess"
    assert lines[1].endswith(",food,%.6f,,," % scores["clear.txt"])
    assert lines[2].endswith(",,%.6f,,true,%s" % (scores["mixed.txt"], guess))
    run(capsys, "predict", small_onnx, docs, "--min-score", threshold, "-o", tmp_path / "o.parquet", "--quiet")
    import pyarrow.parquet as pq
    table = pq.read_table(tmp_path / "o.parquet").to_pydict()
    assert table["label"] == ["food", None] and table["abstained"] == [False, True] and table["guess"] == [None, guess]
    labels, _ = clf.predict(list(texts.values()), min_score=threshold)
    assert labels == [["food"], None]
    code, _, err = run(capsys, "predict", small_onnx, docs, "--min-score", "1.5")
    assert code == 2 and "--min-score" in err
