"""The Ray Data engine against the local engine: the same rows, in the same order,
error rows included, from folders, archives and stdin."""

import io
import os
import tarfile

import pytest
import ray  # the dev extra installs fastnews[ray]

from fastnews.corpus import iter_documents
from fastnews.infer import Classifier
from fastnews.ray_engine import classify_with_ray


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture
def messy_inputs(tmp_path):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.txt").write_text("nasa launch the rocket to the moon")
    (docs / "sub" / "b.txt").write_text("team score goal league")
    (docs / "sub" / "empty.txt").write_bytes(b"")
    (docs / "sub" / "binary.bin").write_bytes(b"\x00\x01\x02 bread")
    (docs / "sub" / "latin1.txt").write_bytes("caf\xe9 cheese soup".encode("latin-1"))
    os.symlink(tmp_path / "nowhere", docs / "sub" / "dangling.txt")  # listed, cannot be read
    archive = tmp_path / "more.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, text in [("x/1.txt", b"bread cheese recipe"), ("x/2.txt", b"orbit shuttle")]:
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tf.addfile(info, io.BytesIO(text))
    return [str(docs), str(archive), str(docs / "a.txt"), "-"]


STDIN = b"the rocket and the moon\n\nsalt bread\n"


def test_ray_rows_equal_local_rows(small_onnx, messy_inputs, local_ray):
    clf = Classifier.load(small_onnx)
    local = list(clf.classify(iter_documents(messy_inputs, stdin=io.BytesIO(STDIN), max_bytes=1000), k=2))
    remote = list(classify_with_ray(Classifier.load(small_onnx, threads=1), messy_inputs, k=2, max_bytes=1000, stdin=io.BytesIO(STDIN)))
    assert remote == local
    assert len(local) == 6 + 2 + 1 + 3
    errors = {r.id.rsplit("/", 1)[-1]: r.error for r in local if r.error}
    assert errors == {"binary.bin": "binary content (NUL bytes)", "dangling.txt": "no such file or directory",
                      "empty.txt": "empty document", "stdin:2": "empty document"}


def test_an_actor_loads_the_model_once(small_onnx, tmp_path, local_ray, monkeypatch):
    """Each actor builds one onnxruntime session and classifies several batches. A
    counting subclass of the actor (shipped to the workers by value, as a local class)
    writes what it saw to a file per actor; production rows carry nothing extra."""
    import json

    from fastnews import ray_engine
    record = tmp_path / "actors"
    record.mkdir()

    class CountingActor(ray_engine._ClassifyBatch):
        def __init__(self, *args):
            import fastnews.infer as infer
            real, self.sessions, self.batches = infer.make_session, 0, 0

            def counted(*a, **k):
                self.sessions += 1
                return real(*a, **k)

            infer.make_session = counted  # for the actor's life: a session built per batch would count too
            super().__init__(*args)

        def __call__(self, batch):
            out = super().__call__(batch)
            self.batches += 1
            (record / f"{os.getpid()}-{id(self)}.json").write_text(
                json.dumps({"sessions": self.sessions, "batches": self.batches}))
            return out

    monkeypatch.setattr(ray_engine, "_ClassifyBatch", CountingActor)
    docs = tmp_path / "many"
    docs.mkdir()
    for i in range(3 * 4096 + 5):  # four chunks, so each actor gets more than one batch
        (docs / f"{i:05d}.txt").write_text("orbit rocket" if i % 2 else "cheese soup")
    rows = list(ray_engine.classify_with_ray(Classifier.load(small_onnx, threads=1), [str(docs)], workers=2))
    assert [r.labels[0] for r in rows[:2]] == ["food", "space"] and len(rows) == 3 * 4096 + 5
    stats = [json.loads(p.read_text()) for p in record.iterdir()]
    assert 1 <= len(stats) <= 2 and sum(s["batches"] for s in stats) == 4
    assert all(s["sessions"] == 1 for s in stats)
