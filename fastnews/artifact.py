"""The .onnx file's metadata: one schema, written by export and read back here.

Each entry of ``metadata_props`` is a JSON string under ``fastnews.<key>``, so that any
language reads it with onnxruntime alone:

    version        fastnews version that exported it
    labels         class names, in logit order
    vocab          the vocabulary, in id order (id = position + 2)
    tokenizer      TokenizerConfig fields, the split rule, pad and unknown ids
    preprocess     how the corpus was read: keep_headers, test_fraction, seed, columns
    model_config   ModelConfig fields
    metrics        the run's scalar metrics
    parity         the figures of the parity check at export
    opset, torch   how it was exported
    quantization   (int8 files) the int8 figures against fp32
"""

from __future__ import annotations

import json

from fastnews.errors import ModelFileError

META_PREFIX = "fastnews."
REQUIRED_KEYS = ("labels", "vocab", "tokenizer")
_CORPUS_DEFAULTS = {"keep_headers": False, "test_fraction": 0.2, "seed": 0, "text_column": "text",
                    "label_column": "label", "test": None, "val": None, "label_mode": "auto",
                    "label_separator": None, "label_prefix": "__label__"}


def preprocess_of(train_config: dict) -> dict:
    """The "preprocess" entry: the train config's corpus-reading fields."""
    return {k: train_config.get(k, default) for k, default in _CORPUS_DEFAULTS.items()}


def corpus_options(preprocess: dict) -> dict:
    """load_corpus keyword arguments that read a corpus as the model's run did, from a
    "preprocess" entry or a train config (fields missing in older files take defaults)."""
    return {k: preprocess.get(k) if preprocess.get(k) is not None else default
            for k, default in _CORPUS_DEFAULTS.items()}


def write_metadata(proto, meta: dict) -> None:
    """Replace the onnx ModelProto's metadata_props with meta's entries."""
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key = META_PREFIX + key
        entry.value = json.dumps(value, ensure_ascii=False)


def read_metadata(session) -> dict:
    """fastnews.* entries of an onnxruntime session's model metadata, JSON-decoded."""
    raw = session.get_modelmeta().custom_metadata_map
    meta = {}
    for key, value in raw.items():
        if key.startswith(META_PREFIX):
            try:
                meta[key[len(META_PREFIX):]] = json.loads(value)
            except json.JSONDecodeError:
                raise ModelFileError(f"metadata {key} is not valid JSON") from None
    return meta
