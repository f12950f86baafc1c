"""Static int8 quantization of an exported ids graph, and its figures against fp32.

    figures, proto, meta = quantize_int8(run, Path("exports/a.onnx"), meta)   # -> exports/a.int8.onnx

The convolutions and both embedding tables are quantized (QDQ, per-channel weights),
calibrated on training documents, never test ones. Static rather than dynamic, by
measurement (bench/RESULTS.md): on 20news, dynamic int8 convolutions ran 3x slower than
fp32, static ones 1.25x faster. Both models then classify the corpus's test split; the
figures go to the log and into the int8 file's metadata, and argmax agreement below
MIN_AGREEMENT raises ParityError.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from fastnews.artifact import corpus_options, write_metadata
from fastnews.atomic import write_bytes
from fastnews.batching import length_batches
from fastnews.checkpoint import LoadedRun
from fastnews.errors import ParityError
from fastnews.infer import Classifier, make_session
from fastnews.multilabel import chosen_mask, micro_f1

MIN_AGREEMENT = 0.99
CALIBRATION_BATCH = 64


def quantize_int8(run: LoadedRun, fp32_path: Path, meta: dict, data: str | None = None, n_calibration: int = 512,
                  log=print) -> tuple[dict, onnx.ModelProto, dict]:
    """Write <fp32_path stem>.int8.onnx -> (its figures, its graph, its metadata). The
    corpus is the run's own unless data names another with the same classes."""
    from fastnews.corpus import default_corpus_path, load_corpus
    cfg = run.checkpoint["train_config"]
    splits = load_corpus(data or cfg.get("data") or default_corpus_path(), **corpus_options(cfg))
    pick = np.random.default_rng(0).choice(len(splits.train), size=min(n_calibration, len(splits.train)),
                                           replace=False)
    proto = quantized_graph(fp32_path, calibration_feeds(run, [splits.train.texts[i] for i in pick]))
    out = fp32_path.with_name(fp32_path.stem + ".int8.onnx")
    figures = compare_on_test(Classifier.load(fp32_path), proto, str(out), run.tokenizer.encode(splits.test.texts),
                              splits.test.labels)
    figures["fp32"]["size_bytes"] = fp32_path.stat().st_size
    figures["calibration_docs"] = int(len(pick))
    if figures["argmax_agreement"] < MIN_AGREEMENT:
        raise ParityError(f"int8 model agrees with fp32 on only {figures['argmax_agreement']:.2%} of test documents "
                          f"(< {MIN_AGREEMENT:.0%})")
    meta = {**meta, "quantization": {"scheme": "static int8, QDQ, per-channel", **figures}}
    write_bytes(out, serialize_with_size(proto, meta, figures["int8"]))
    f32, i8 = figures["fp32"], figures["int8"]
    sets = f" (label sets {figures['label_set_agreement']:.2%})" if "label_set_agreement" in figures else ""
    measure = "micro-F1" if sets else "accuracy"
    log(f"wrote {out}: int8 {measure} {i8['accuracy']:.4f} vs fp32 {f32['accuracy']:.4f}, argmax agreement "
        f"{figures['argmax_agreement']:.2%}{sets}, {i8['size_bytes'] / 1e6:.1f} MB vs {f32['size_bytes'] / 1e6:.1f} MB, "
        f"{i8['docs_per_s']:.0f} vs {f32['docs_per_s']:.0f} docs/s (onnxruntime only, {figures['n_test']} test docs)")
    return {"path": str(out), **figures}, proto, meta


def calibration_feeds(run: LoadedRun, texts: list[str]) -> list[dict]:
    """The graph inputs of texts, in batches of similar length."""
    enc = run.tokenizer.encode(texts)
    widths = run.tokenizer.config.widths(enc.lengths)
    return [{"ids": enc.ids[idx, :int(widths[idx].max())].astype(np.int64)}
            for idx in length_batches(widths, CALIBRATION_BATCH)]


def quantized_graph(fp32_path: Path, feeds: list[dict]) -> onnx.ModelProto:
    """onnxruntime's static QDQ quantization of the Conv and Gather nodes, calibrated on feeds."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Feeds(CalibrationDataReader):
        def __init__(self):
            self.it = iter(feeds)

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre, quant = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        quiet = logging.getLogger()  # onnxruntime.quantization logs every node it skips
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
            quantize_static(str(pre), str(quant), Feeds(), quant_format=QuantFormat.QDQ, per_channel=True,
                            weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                            op_types_to_quantize=["Conv", "Gather"])
        finally:
            quiet.setLevel(level)
        return onnx.load(str(quant))


def compare_on_test(fp32: Classifier, int8_proto: onnx.ModelProto, int8_name: str, test, truth: np.ndarray) -> dict:
    """Accuracy (a multi-label model's micro-F1 of its label sets) and docs/s of both models
    on the encoded test split, and how often their top labels (and label sets) agree."""
    int8 = Classifier(make_session(int8_proto.SerializeToString(), 1), fp32.meta, int8_name, workers=fp32.workers)
    figures, logits = {}, {}
    for variant, clf in (("fp32", fp32), ("int8", int8)):
        clf.logits_from_ids(test.ids[:64], test.lengths[:64])  # warm-up
        t0 = time.perf_counter()
        logits[variant] = clf.logits_from_ids(test.ids, test.lengths)
        seconds = time.perf_counter() - t0
        if truth.ndim == 2:
            accuracy = micro_f1(truth, chosen_mask(logits[variant], clf.thresholds))
        else:
            accuracy = float((logits[variant].argmax(1) == truth).mean())
        figures[variant] = {"accuracy": accuracy, "docs_per_s": len(truth) / seconds}
    figures["argmax_agreement"] = float((logits["int8"].argmax(1) == logits["fp32"].argmax(1)).mean())
    if truth.ndim == 2:
        sets = [chosen_mask(logits[v], fp32.thresholds) for v in ("int8", "fp32")]
        figures["label_set_agreement"] = float((sets[0] == sets[1]).all(1).mean())
    figures["n_test"] = len(truth)
    return figures


def serialize_with_size(proto: onnx.ModelProto, meta: dict, int8_figures: dict) -> bytes:
    """proto's bytes with meta, whose int8_figures (inside it) give the file's own size:
    the size is part of the metadata it measures, so settle on a fixed point."""
    size = 0
    while True:
        int8_figures["size_bytes"] = size
        write_metadata(proto, meta)
        model_bytes = proto.SerializeToString()
        if len(model_bytes) == size:
            return model_bytes
        size = len(model_bytes)
