"""Batch classification on Ray Data: the local engine's tokenize + onnxruntime step as a
`map_batches` stage, spread over a Ray cluster (or a local Ray runtime).

    fastnews predict model.onnx docs/ --engine ray [--address auto] -o out.parquet

    from fastnews.ray_engine import classify_with_ray
    for row in classify_with_ray(Classifier.load("model.onnx", threads=1), ["docs/"]): ...

The plan:
  driver     lists the inputs (folders are walked, not read) into rows of
             {id, path, data, error}: a plain file is only its path; archive members
             and stdin lines cannot be reached from a worker, so their bytes travel
             in the row.
  workers    an actor pool; each actor builds one Classifier (one onnxruntime
             session) from the model's bytes when it starts, then for every batch
             reads its files and runs `Classifier.classify`, the same code as the
             local engine, so rows and error rows are the same.
  driver     streams the results back in input order and writes JSONL, CSV or Parquet.

Ray is an optional extra: `pip install "fastnews[ray]"`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator

from fastnews.corpus import FileRef, iter_documents
from fastnews.errors import RayMissing
from fastnews.infer import CHUNK, Classifier, Row, describe_error

INSTALL_HINT = 'the Ray engine needs Ray Data: pip install "fastnews[ray]"'


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RayMissing(INSTALL_HINT) from None
    return ray


class _ClassifyBatch:
    """Ray actor: one onnxruntime session for its lifetime, many batches."""

    def __init__(self, model_ref: list, k: int, max_bytes: int | None, threads: int, batch_size: int,
                 threshold: float | None):
        import ray
        from fastnews.infer import Classifier, make_session, read_metadata
        # The model's bytes come from the object store once per actor. (Wrapped in a list so
        # that Ray hands over the reference rather than resolving it as an argument.) threads
        # means what it means locally: batches at once, one core each.
        session = make_session(ray.get(model_ref[0]), 1)
        self.clf = Classifier(session, read_metadata(session), batch_size=batch_size, workers=threads,
                              threshold=threshold)
        self.k, self.max_bytes = k, max_bytes

    def __call__(self, batch: dict) -> dict:
        docs = []
        for doc_id, path, data, error in zip(batch["id"], batch["path"], batch["data"], batch["error"]):
            if error:
                docs.append((doc_id, RuntimeError(error)))
            elif path:
                docs.append((doc_id, FileRef(path).read(self.max_bytes)))
            else:
                docs.append((doc_id, bytes(data)))
        rows = self.clf.classify_batch(docs, self.k)
        return {"id": [r.id for r in rows],
                "labels": [r.labels or [] for r in rows],
                "scores": [r.scores or [] for r in rows],
                "error": [r.error or "" for r in rows]}


def _plan(inputs: list[str], max_bytes: int | None, stdin=None) -> Iterator[list[dict]]:
    """The work, a chunk of CHUNK rows at a time: {id, path, data, error} per document."""
    rows = []
    for doc_id, item in iter_documents(inputs, stdin=stdin, max_bytes=max_bytes, lazy=True):
        row = {"id": doc_id, "path": "", "data": b"", "error": ""}
        if isinstance(item, FileRef):
            row["path"] = os.path.abspath(item.path)  # workers may start elsewhere
        elif isinstance(item, Exception):
            row["error"] = describe_error(item)
        else:
            row["data"] = item
        rows.append(row)
        if len(rows) == CHUNK:
            yield rows
            rows = []
    if rows:
        yield rows


def classify_with_ray(clf: Classifier, inputs: list[str], *, k: int = 1, max_bytes: int | None = None,
                      address: str | None = None, workers: int = 0, stdin=None, progress: bool = False,
                      threshold: float | None = None) -> Iterator[Row]:
    """One Row per input document, in input order, classified by a pool of Ray actors,
    each running a copy of clf (Classifier.load: a bad model fails there, in one line,
    before Ray starts) with its batch size and its workers (cores, one batch on each).

    address: None starts a local Ray runtime on this machine's cores; "auto" or
    "ray://host:10001" joins a running cluster. workers: actors in the pool
    (0 = the cluster's CPUs / clf.workers). threshold: as Classifier's."""
    ray = _import_ray()
    threads_per_worker, batch_size = clf.workers, clf.batch_size

    if not ray.is_initialized():
        # Ray's C++ core logs one error-level line per actor because Ray Data keeps the
        # actor's constructor arguments in the object store (ray-project/ray#53727):
        # harmless here, since the dataset holds them for the job's lifetime.
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    model_ref = ray.put(Path(clf.source).read_bytes())  # shipped to the workers once, not per actor
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # rows come back in input order
    ctx.enable_progress_bars = progress
    ctx.print_on_execution_start = False

    # One block per chunk of CHUNK documents, one batch per block: the same chunks as the
    # local engine, so that onnxruntime sees the same batches and the scores are bit-equal.
    # Each block goes to the object store as soon as it is planned (which spills to disk
    # when full), so the driver holds one chunk, not the input: archive members and stdin
    # lines carry their bytes.
    import pyarrow as pa
    blocks = [ray.put(pa.Table.from_pylist(chunk)) for chunk in _plan(inputs, max_bytes, stdin)]
    if not blocks:
        return
    if workers <= 0:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1) // threads_per_worker))
    workers = min(workers, len(blocks))  # an actor without a chunk to classify only costs start-up
    ds = ray.data.from_arrow_refs(blocks)
    ds = ds.map_batches(_ClassifyBatch, batch_size=None, batch_format="numpy",
                        compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=threads_per_worker,
                        fn_constructor_args=([model_ref], k, max_bytes, threads_per_worker, batch_size, threshold))
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        for doc_id, labels, scores, error in zip(batch["id"], batch["labels"], batch["scores"], batch["error"]):
            if error:
                yield Row(str(doc_id), error=str(error))
            else:
                yield Row(str(doc_id), [str(x) for x in labels], [float(x) for x in scores])
