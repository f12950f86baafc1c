"""Export a trained run to one self-describing ONNX file, and prove it matches PyTorch.

    fastnews export runs/<run>          # -> exports/<run>.onnx

The graph takes int64 token ids [batch, seq] (both dynamic, seq >= min_len) and
returns float32 logits [batch, n_classes] and probabilities [batch, n_classes], the
latter calibrated (the model's top-label map, calibration.py). A multi-label model's
probabilities are each label's sigmoid, and a third output, chosen bool [batch, n_classes],
is each document's label set at the model's thresholds (multilabel.py): a rectangular
tensor that every onnxruntime binding reads, beside the label names in the metadata.
``metadata_props`` carries, as JSON
strings under ``fastnews.*`` keys: labels, vocabulary in id order, tokenizer
settings, model config, training metrics, parity figures and the fastnews version.
Inference reads them back with onnxruntime alone (see infer.py).

Exporters: the default is torch's current ``dynamo=True`` exporter (torch.export
plus onnxscript), which is where torch.onnx development happens; ``torchscript``
is kept as a fallback for older torch versions. Both go through the same parity
check, which runs after every export and raises ParityError when onnxruntime and
PyTorch disagree by more than atol or on any argmax.
"""

from __future__ import annotations

import io
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from fastnews import __version__
from fastnews.atomic import write_bytes
from fastnews.errors import ParityError, UsageError
from fastnews.artifact import corpus_options, preprocess_of, write_metadata
from fastnews.checkpoint import LoadedRun, load_run
from fastnews.quantize import quantize_int8

OPSET = 18
OUTPUTS = ["logits", "probabilities"]
MULTI_LABEL_OUTPUTS = OUTPUTS + ["chosen"]
PARITY_ATOL = 1e-5


def output_names(model) -> list[str]:
    return MULTI_LABEL_OUTPUTS if model.config.multi_label else OUTPUTS


@dataclass
class ExportResult:
    path: Path
    parity: dict
    size_bytes: int
    int8: dict | None = None  # quantization figures, when asked for
    text_path: Path | None = None  # the text-in graph, when written


def _example(n_ids: int, batch: int, seq: int, rng: np.random.Generator, lengths=None) -> np.ndarray:
    """int64 [batch, seq] of random word ids, each row 0-padded after its length."""
    ids = rng.integers(1, n_ids, size=(batch, seq), dtype=np.int64)
    if lengths is None:
        lengths = rng.integers(0, seq + 1, size=batch)
    ids[np.arange(seq)[None, :] >= np.asarray(lengths)[:, None]] = 0
    return ids


class _Scored(torch.nn.Module):
    """The exported graph: ids -> (logits, calibrated probabilities), and for a multi-label
    model the label sets too."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits = self.model(ids)
        if self.model.config.multi_label:
            return logits, self.model.probabilities(logits), self.model.chosen(logits)
        return logits, self.model.probabilities(logits)


def to_onnx(run: LoadedRun, exporter: str = "dynamo") -> onnx.ModelProto:
    """The bare graph (no metadata yet)."""
    model = _Scored(run.model).eval()  # eval whole: the torchscript exporter restores the mode it finds
    cfg, names = run.model.config, output_names(run.model)
    # Trace at batch 3 and an unremarkable length: a size-1 or special-cased
    # example dimension would be baked into the graph as a constant.
    example = torch.from_numpy(_example(cfg.n_ids, 3, max(cfg.min_len + 31, 37), np.random.default_rng(0),
                                        lengths=[cfg.min_len + 31, cfg.min_len, 2]))
    quiet = logging.getLogger("torch.onnx")  # it logs every torchvision op it cannot find
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                batch = torch.export.Dim("batch", min=1, max=1 << 20)
                seq = torch.export.Dim("seq", min=cfg.min_len, max=1 << 20)
                program = torch.onnx.export(model, (example,), dynamo=True, input_names=["ids"],
                                            output_names=names, opset_version=OPSET,
                                            dynamic_shapes={"ids": {0: batch, 1: seq}}, verbose=False)
                proto = program.model_proto
            elif exporter == "torchscript":
                buf = io.BytesIO()
                torch.onnx.export(model, (example,), buf, dynamo=False, input_names=["ids"], output_names=names,
                                  opset_version=OPSET, dynamic_axes={"ids": {0: "batch", 1: "seq"},
                                                                     **{name: {0: "batch"} for name in names}})
                proto = onnx.load_from_string(buf.getvalue())
            else:
                raise UsageError(f"unknown exporter {exporter!r}; use dynamo or torchscript")
    finally:
        quiet.setLevel(level)
    return proto


def parity_check(run: LoadedRun, model_bytes: bytes, atol: float = PARITY_ATOL, seed: int = 0) -> dict:
    """Compare onnxruntime with PyTorch at several batch sizes and lengths (none of them
    the traced shape), including rows shorter than the conv stack's minimum, an
    all-padding row and full-length rows; a multi-label model's label sets must be equal.
    Raises ParityError; returns the figures."""
    import onnxruntime as ort
    cfg = run.model.config
    max_len = run.tokenizer.config.max_len
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst, checked, shapes = 0.0, 0, []
    for batch, seq in [(1, cfg.min_len), (2, max(cfg.min_len, 64)), (7, max(cfg.min_len, 301)),
                       (16, max_len), (256, max(cfg.min_len, 150))]:
        ids = _example(cfg.n_ids, batch, seq, rng)
        ids[0, min(2, seq):] = 0            # a document shorter than min_len
        if batch > 1:
            ids[1, :] = 0                   # an empty document
        with torch.no_grad():
            ref = [t.numpy() for t in _Scored(run.model)(torch.from_numpy(ids))]
        got = session.run(output_names(run.model), {"ids": ids})
        if [g.shape for g in got] != [r.shape for r in ref]:
            raise ParityError(f"shape mismatch at batch {batch}, seq {seq}: onnx {got[0].shape} vs torch {ref[0].shape}")
        diff = max(float(np.abs(g - r).max()) for g, r in zip(got[:2], ref[:2]))
        if len(ref) > 2 and not np.array_equal(got[2], ref[2]):
            raise ParityError(f"label sets differ at batch {batch}, seq {seq} (max |diff| {diff:.3g})")
        worst = max(worst, diff)
        if diff > atol:
            raise ParityError(f"max |logit or probability difference| {diff:.3g} > atol {atol:g} "
                              f"at batch {batch}, seq {seq}")
        if not np.array_equal(got[0].argmax(1), ref[0].argmax(1)):
            raise ParityError(f"argmax differs at batch {batch}, seq {seq} (max |diff| {diff:.3g})")
        checked += batch
        shapes.append([batch, seq])
    return {"max_abs_diff": worst, "atol": atol, "rows": checked, "shapes": shapes}


def export(run_dir: str | os.PathLike, output: str | os.PathLike | None = None, exporter: str = "dynamo",
           quantize: str | None = None, data: str | None = None, text: bool = True, log=print) -> ExportResult:
    """Write RUN_DIR's best model to output (default exports/<run>.onnx), parity checked.
    text=True also writes the text-in graph <output stem>.text.onnx (textgraph.py);
    quantize="int8" also writes <output stem>.int8.onnx (quantize.py), and with text its
    .int8.text.onnx."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    name = run_dir.name if run_dir.is_dir() else run_dir.parent.name
    output = Path(output) if output else Path("exports") / f"{name}.onnx"
    if quantize not in (None, "int8"):
        raise UsageError(f"unknown quantization {quantize!r}; the choice is int8")

    t0 = time.perf_counter()
    proto = to_onnx(run, exporter)
    onnx.checker.check_model(proto, full_check=True)
    parity = parity_check(run, proto.SerializeToString())
    parity["exporter"] = exporter
    ckpt = run.checkpoint
    meta = {
        "version": __version__,
        "input": "ids",
        "labels": run.labels,
        "vocab": run.tokenizer.vocab,
        "tokenizer": run.tokenizer.settings(),
        # How the corpus was read and split, so that `evaluate` on this file scores the same split.
        "preprocess": preprocess_of(ckpt["train_config"]),
        "model_config": run.model.config.to_dict(),
        "metrics": ckpt.get("metrics", {}),
        "parity": parity,
        "opset": OPSET,
        "torch": str(torch.__version__),
    }
    write_metadata(proto, meta)
    proto.producer_name = "fastnews"
    proto.producer_version = __version__
    model_bytes = proto.SerializeToString()
    write_bytes(output, model_bytes)
    log(f"wrote {output} ({len(model_bytes) / 1e6:.1f} MB, {exporter} exporter, opset {OPSET}) in {time.perf_counter() - t0:.1f}s")
    log(f"parity vs PyTorch: max |diff| {parity['max_abs_diff']:.2e} (atol {PARITY_ATOL:g}), argmax equal on "
        f"{parity['rows']} rows at shapes {parity['shapes']}")
    result = ExportResult(output, parity, len(model_bytes))
    if text:
        result.text_path = write_text_graph(proto, output, run, meta, log)
    if quantize == "int8":
        result.int8, proto, meta = quantize_int8(run, output, meta, data=data, log=log)
        if text:
            result.int8["text_path"] = str(write_text_graph(proto, Path(result.int8["path"]), run, meta, log))
    log(f"next: fastnews predict {result.int8['path'] if quantize else output} some/folder/ > predictions.jsonl")
    return result


def write_text_graph(ids_proto: onnx.ModelProto, ids_path: Path, run: LoadedRun, meta: dict, log=print) -> Path:
    """<ids_path stem>.text.onnx: the ids graph behind textgraph.py's text input, checked
    against the numba tokenizer + ids graph (ParityError) before it is written."""
    from fastnews.textgraph import add_text_input, text_parity_check
    keep_headers = corpus_options(meta["preprocess"])["keep_headers"]
    proto = add_text_input(ids_proto, run.tokenizer, run.labels, keep_headers)
    parity = text_parity_check(proto.SerializeToString(), ids_proto.SerializeToString(), run.tokenizer,
                               run.labels, keep_headers, PARITY_ATOL)
    write_metadata(proto, {**meta, "input": "text", "text_parity": parity})
    out = ids_path.with_name(ids_path.stem + ".text.onnx")
    model_bytes = proto.SerializeToString()
    write_bytes(out, model_bytes)
    log(f"wrote {out} ({len(model_bytes) / 1e6:.1f} MB, text in: header rule, tokenizer and vocabulary in the graph); "
        f"parity vs the tokenizer + ids graph: max |diff| {parity['max_abs_diff']:.2e}, same labels on "
        f"{parity['texts']} sample texts")
    return out
