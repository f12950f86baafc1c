"""Interrupted and killed runs: resumable, and no half-written artifact at a final path."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from fastnews.config import TrainConfig
from fastnews.checkpoint import load_checkpoint
from fastnews.errors import ModelFileError
from fastnews.train import train


def _cfg(small_run, out, **kw):
    return TrainConfig(data=str(small_run / "corpus"), glove=str(small_run / "glove.txt"), epochs=4, n_filters=8,
                       batch_size=8, max_len=32, out=str(out), lr=1e-2, embed_lr=1e-2, patience=10, **kw)


def test_ctrl_c_then_resume_equals_an_uninterrupted_run(small_run, tmp_path, monkeypatch):
    whole = train(_cfg(small_run, tmp_path / "whole"), progress=False, log=lambda *a: None)

    import fastnews.train as tr
    real = tr.bucketed_batches
    calls = {"n": 0}

    def interrupt_in_epoch_3(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tr, "bucketed_batches", interrupt_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(small_run, tmp_path / "cut"), progress=False, log=lambda *a: None)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["epoch"] == 2
    monkeypatch.setattr(tr, "bucketed_batches", real)

    resumed = train(_cfg(small_run, tmp_path / "ignored"), resume=tmp_path / "cut", progress=False,
                    log=lambda *a: None)
    assert [h["epoch"] for h in resumed.metrics["history"]] == [1, 2, 3, 4]
    assert resumed.metrics["test_accuracy"] == whole.metrics["test_accuracy"]
    a = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")["state_dict"]
    b = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["state_dict"]
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_full_disk_during_checkpoint_fails_cleanly(small_run, tmp_path, monkeypatch):
    import fastnews.train as tr

    def no_space(obj, path):
        with open(path, "wb") as fh:
            fh.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tr.torch, "save", no_space)
    with pytest.raises(OSError, match="No space left"):
        train(_cfg(small_run, tmp_path / "full"), progress=False, log=lambda *a: None)
    leftovers = sorted(p.name for p in (tmp_path / "full").iterdir())
    assert "model.pt" not in leftovers and "checkpoint.pt" not in leftovers
    assert not [n for n in leftovers if n.endswith("fastnews-tmp")]


def _fastnews(*args):
    return subprocess.Popen([sys.executable, "-m", "fastnews", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _kill_when(proc, ready, timeout=120):
    t0 = time.time()
    while not ready():
        if proc.poll() is not None or time.time() - t0 > timeout:
            raise AssertionError(f"process ended or timed out before the kill point: {proc.communicate()[1][-2000:]}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_sigkill_mid_training_then_resume(small_run, tmp_path):
    run = tmp_path / "run"
    proc = _fastnews("train", "--data", small_run / "corpus", "--glove", small_run / "glove.txt", "--epochs", 30,
                     "--filters", 8, "--max-len", 32, "--batch-size", 4, "--patience", 50, "--out", run, "--quiet")
    _kill_when(proc, lambda: (run / "checkpoint.pt").exists())
    for name in os.listdir(run):  # every artifact at a final path is complete
        if name.endswith(".pt"):
            load_checkpoint(run / name)
        elif name.endswith(".json"):
            json.loads((run / name).read_text())
    epoch = load_checkpoint(run / "checkpoint.pt")["epoch"]
    done = subprocess.run([sys.executable, "-m", "fastnews", "train", "--resume", run, "--quiet"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"resuming {run} after epoch {epoch}" in done.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == list(range(1, 31))
    assert not [n for n in os.listdir(run) if n.endswith("fastnews-tmp")]


def test_sigkill_mid_export_leaves_no_partial_file(small_run, tmp_path):
    """Killed while the model file is being written: the temporary is there, half done,
    and the final path is not. (The child's fsync is slowed to hold it at that point.)"""
    out = tmp_path / "model.onnx"
    slow_fsync = ("import os, sys, time; real = os.fsync; os.fsync = lambda fd: (time.sleep(60), real(fd)); "
                  "from fastnews_cli.main import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", slow_fsync, "export", str(small_run / "run"), "--output", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _kill_when(proc, lambda: any(p.name.endswith("fastnews-tmp") for p in tmp_path.iterdir()))
    assert not out.exists()


def test_sigkill_mid_predict_leaves_no_partial_output(small_onnx, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(20000):
        (docs / f"{i:05d}").write_text("bread soup orbit goal " * 5)
    out = tmp_path / "pred.jsonl"
    proc = _fastnews("predict", small_onnx, docs, "--output", out, "--quiet")
    _kill_when(proc, lambda: any(p.name.endswith("fastnews-tmp") for p in tmp_path.iterdir()))
    assert not out.exists()  # replaced atomically at the end, never written in place
    done = subprocess.run([sys.executable, "-m", "fastnews", "predict", small_onnx, docs, "--output", out,
                           "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0
    assert out.read_text().count("\n") == 20000


def test_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        train(TrainConfig(), resume=tmp_path / "nothing", progress=False)


def test_atomic_artifacts_get_the_usual_file_mode(tmp_path):
    """mkstemp's temporaries are 0600; a renamed artifact must get what open() would give
    under this umask, so that another user or a service can read an exported model."""
    import os

    from fastnews.atomic import write_bytes
    old = os.umask(0o022)
    try:
        write_bytes(tmp_path / "model.onnx", b"x")
        (tmp_path / "plain").write_bytes(b"x")
    finally:
        os.umask(old)
    mode = (tmp_path / "model.onnx").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain").stat().st_mode & 0o777 == 0o644
