"""A killed `fastnews predict --output FILE --resume` continues where it stopped and ends
with the bytes of an uninterrupted run. Each kill lands at a chosen point: the child runs
the real CLI with one function slowed (and a marker file written) at that point."""

import json
import signal
import subprocess
import sys
import time

import pytest

N_DOCS = 20_500  # five chunks of 4,096 and a partial one

# Slow one function of the child on its n-th call: touch MARK, then sleep, so the kill lands there.
# (writing: the 3rd fsync is the partial file's at the second chunk; the 2nd is the first journal's.)
CHILD = """
import os, pathlib, sys, time
mark, where, nth = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
calls = [0]
def slowed(real):
    def wrapper(*a, **k):
        calls[0] += 1
        if calls[0] == nth:
            mark.touch()
            time.sleep(120)
        return real(*a, **k)
    return wrapper
if where == "reading":
    import fastnews.corpus as c
    c.FileRef.read = slowed(c.FileRef.read)
elif where == "onnxruntime":
    import fastnews.infer as i
    i.Classifier.outputs_from_ids = slowed(i.Classifier.outputs_from_ids)
elif where == "writing":
    os.fsync = slowed(os.fsync)
from fastnews_cli.main import main
sys.exit(main(sys.argv[4:]))
"""


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many")
    words = ["bread soup", "orbit moon", "goal team", "cheese salt"]
    for i in range(N_DOCS):
        (folder / f"{i:05d}.txt").write_text(f"{words[i % 4]} {i}")
    (folder / "empty.txt").write_text("")  # an error row, so the exit status is 3 both ways
    return folder


@pytest.fixture(scope="module")
def reference(docs, small_onnx, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "whole.jsonl"
    done = subprocess.run([sys.executable, "-m", "fastnews", "predict", small_onnx, docs, "-o", out, "--quiet"],
                          capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    return out.read_bytes()


@pytest.mark.parametrize("where, nth", [("reading", 9_000), ("onnxruntime", 3), ("writing", 3)])
def test_a_killed_predict_resumes_to_the_same_bytes(where, nth, docs, small_onnx, reference, tmp_path):
    out = tmp_path / "pred.jsonl"
    mark = tmp_path / "mark"
    args = ["predict", str(small_onnx), str(docs), "-o", str(out), "--resume", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(mark), where, str(nth), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not mark.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.time() - t0 < 300
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # a partial output never sits at the final path
    journal = json.loads((tmp_path / "pred.jsonl.partial.json").read_text())
    assert 0 < journal["rows"] < N_DOCS and journal["rows"] % 4096 == 0

    done = subprocess.run([sys.executable, "-m", "fastnews", *args[:-1]], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert f"resuming {out}: {journal['rows']} documents were done" in done.stderr
    assert out.read_bytes() == reference
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mark", "pred.jsonl"]


def test_a_resume_with_other_options_is_refused(docs, small_onnx, tmp_path):
    out = tmp_path / "pred.jsonl"
    mark = tmp_path / "mark"
    args = ["predict", str(small_onnx), str(docs), "-o", str(out), "--resume", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(mark), "onnxruntime", "3", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not mark.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run([sys.executable, "-m", "fastnews", *args, "--top-k", "2"], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "is from a run with another model, other inputs or other options" in done.stderr
    assert not out.exists()
