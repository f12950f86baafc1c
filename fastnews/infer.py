"""Batch classification with onnxruntime. Imports numpy, numba and onnxruntime; never torch.

    from fastnews import Classifier
    clf = Classifier.load("exports/run.onnx")
    labels, probs = clf.predict(["some text", "another"], k=3)
    # a multi-label model: each text's label set (at the model's thresholds) and its scores
    sets, scores = Classifier.load("exports/reuters.onnx").predict(["wheat exports rose"])

Everything the model needs is read from the .onnx file's metadata: labels, the
vocabulary in id order and the tokenizer settings. Documents are batched by length
(sorted, then restored to input order), so a batch is only as wide as its longest
document, and a document's result does not depend on what it was batched with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from fastnews.artifact import REQUIRED_KEYS, corpus_options, read_metadata
from fastnews.batching import length_batches
from fastnews.calibration import softmax
from fastnews.errors import ModelFileError, UsageError
from fastnews.corpus import decode, strip_headers
from fastnews.multilabel import chosen_mask
from fastnews.tokenize.settings import N_SPECIAL, Encoded, config_from_settings

# Documents classified together: memory is bounded by this, not by the input. The Ray
# engine uses the same chunks, so both engines give onnxruntime the same batches.
CHUNK = 4096
# Documents and ids per onnxruntime call. Small batches keep a run's intermediate tensors
# (the sparse paths' (64, ~460, 20) products, the convolutions' outputs) near the core's own
# cache: 64 and 16,384 ran the test split 17% faster than 256 and 65,536 (bench/RESULTS.md).
BATCH_SIZE = 64
MAX_BATCH_TOKENS = 16384
# The first this-many characters a Classifier tokenizes go through plain Python
# (tokenize/simple.py), the rest through the numba kernels. Loading numba and the kernels
# takes about 0.65 s; Python tokenizes about 30 M characters a second and the kernels about
# 140 M, so Python wins up to some 20 M characters, and a large job loses at most ~0.4 s.
PYTHON_TOKENIZE_CHARS = 16 << 20


@dataclass
class Row:
    """One output row: a document's top-k labels and probabilities, or an error."""
    id: str
    labels: list[str] | None = None
    scores: list[float] | None = None
    error: str | None = None
    abstained: bool = False  # the top score is below the minimum asked for (predict --min-score)


def make_session(model: str | os.PathLike | bytes, threads: int = 0):
    """An onnxruntime session whose every run uses `threads` cores (0 = all)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])


class Classifier:
    def __init__(self, session, meta: dict, source: str = "<memory>", batch_size: int = BATCH_SIZE,
                 max_batch_tokens: int = MAX_BATCH_TOKENS, workers: int = 1, threshold: float | None = None):
        """threshold: a multi-label model's label sets at this probability for every label,
        in place of the thresholds chosen on validation (those in the graph)."""
        missing = [k for k in REQUIRED_KEYS if k not in meta]
        if missing:
            raise ModelFileError(f"{source}: no fastnews metadata ({', '.join(missing)} missing); "
                                 "export the model with `fastnews export`")
        self.session = session
        self.source = source
        self.meta = meta
        self.labels: list[str] = list(meta["labels"])
        self.vocab: list[str] = list(meta["vocab"])
        try:
            self.token_config = config_from_settings(meta["tokenizer"])
        except (ValueError, TypeError) as exc:  # another split rule, or settings this version cannot read
            raise ModelFileError(f"{source}: {exc}") from None
        self._tokenizer = self._simple = None
        self._python_chars = 0  # tokenized in plain Python so far (PYTHON_TOKENIZE_CHARS)
        self.keep_headers = corpus_options(meta.get("preprocess", {}))["keep_headers"]
        model_config = meta.get("model_config") or {}
        self.multi_label = bool(model_config.get("multi_label"))
        self.thresholds = _logit_thresholds(model_config.get("thresholds"), threshold, len(self.labels),
                                            self.multi_label)
        # A text-in graph (textgraph.py) tokenizes, and drops the header block, itself.
        self.text_input = session.get_inputs()[0].type == "tensor(string)"
        outputs = [o.name for o in session.get_outputs()]
        self.output_names = outputs[:1] + (["probabilities"] if "probabilities" in outputs else [])
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        # Batches run at once, each on one core: the graph's many small operators leave
        # onnxruntime's own threads idle much of the time, and whole batches side by side
        # did not (bench/RESULTS.md). The session is thread-safe.
        self.workers = max(1, workers)
        self._check_graph(source)

    def _check_graph(self, source: str) -> None:
        """One tiny run that touches the largest id and reads the class count, so a
        vocabulary that does not fit the embedding fails here, not mid-job."""
        cfg = self.token_config
        probe = np.full((1, max(cfg.min_len, 1)), len(self.vocab) + N_SPECIAL - 1, np.int64)
        if self.text_input:
            probe = np.array([self.vocab[-1] if self.vocab else ""], dtype=object)
        try:
            out = self.session.run(None, {self.session.get_inputs()[0].name: probe})[0]
        except Exception as exc:
            raise ModelFileError(f"{source}: metadata does not fit the graph (vocabulary of "
                                 f"{len(self.vocab)} words + 2 ids): {str(exc).splitlines()[0][:160]}") from None
        if out.shape != (1, len(self.labels)):
            raise ModelFileError(f"{source}: graph gives {out.shape[1:]} outputs for {len(self.labels)} labels")

    @classmethod
    def load(cls, path: str | os.PathLike, threads: int = 0, batch_size: int = BATCH_SIZE,
             threshold: float | None = None) -> "Classifier":
        """threads: cores to use, one batch on each (0 = all); threshold: see __init__."""
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"no such model file: {path}")
        try:
            session = make_session(path, 1)
        except Exception as exc:
            raise ModelFileError(f"{path}: {_load_failure(str(exc))}") from None
        return cls(session, read_metadata(session), str(path), batch_size, workers=threads or (os.cpu_count() or 1),
                   threshold=threshold)

    # -- arrays in, arrays out --------------------------------------------------

    @property
    def tokenizer(self):
        """The numba Tokenizer (built, and numba loaded, on first use)."""
        if self._tokenizer is None:
            from fastnews.tokenize import Tokenizer
            self._tokenizer = Tokenizer(self.vocab, self.token_config)
        return self._tokenizer

    def encode(self, texts: list[str]) -> Encoded:
        """Token ids of texts: the kernels' ids, from plain Python while this Classifier has
        tokenized fewer than PYTHON_TOKENIZE_CHARS characters, then from the kernels."""
        if self._tokenizer is None:
            chars = sum(map(len, texts))
            if self._python_chars + chars <= PYTHON_TOKENIZE_CHARS:
                if self._simple is None:
                    from fastnews.tokenize.simple import SimpleEncoder
                    self._simple = SimpleEncoder(self.vocab, self.token_config)
                self._python_chars += chars
                return self._simple.encode(texts)
        return self.tokenizer.encode(texts)

    def logits_from_ids(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self.outputs_from_ids(ids, lengths)[0]

    def outputs_from_ids(self, ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits, probabilities), float32 [n, n_classes] each, for encoded documents,
        batched by length."""
        widths = self.token_config.widths(lengths)
        batches = length_batches(widths, self.batch_size, self.max_batch_tokens)
        return self._run(batches, lambda idx: ids[idx, :int(widths[idx[-1]])].astype(np.int64))

    def outputs_from_texts(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(logits, probabilities) from a text-in graph, in batches of similar length."""
        batches = length_batches(np.array([len(t) for t in texts]), self.batch_size)
        return self._run(batches, lambda idx: np.array([texts[i] for i in idx], dtype=object))

    def _run(self, batches: list[np.ndarray], feed) -> tuple[np.ndarray, np.ndarray]:
        """(logits, probabilities) of the documents of each batch (an index array), whose
        graph input is feed(batch); `workers` batches at a time. A graph exported before
        calibration has no probabilities output: its softmax is taken here."""
        n = sum(map(len, batches))
        outs = [np.empty((n, len(self.labels)), np.float32) for _ in self.output_names]
        name = self.session.get_inputs()[0].name

        def run(idx: np.ndarray) -> None:
            for out, got in zip(outs, self.session.run(self.output_names, {name: feed(idx)})):
                out[idx] = got

        if self.workers > 1 and len(batches) > 1:
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(min(self.workers, len(batches))) as pool:
                for _ in pool.map(run, batches):
                    pass
        else:
            for idx in batches:
                run(idx)
        return outs[0], outs[1] if len(outs) > 1 else softmax(outs[0]).astype(np.float32)

    def outputs(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(logits, calibrated probabilities) of documents as they come (raw mail included),
        read as the model was trained: the header block is dropped unless the model kept it.
        This is the one place that rule is applied, for both graphs: a text graph applies it
        inside, and for an ids graph it is applied here, before tokenizing. logits,
        predict_proba, predict, evaluate and classify all come through here."""
        if self.text_input:
            return self.outputs_from_texts(list(texts))
        enc = self.encode(list(texts) if self.keep_headers else [strip_headers(t) for t in texts])
        return self.outputs_from_ids(enc.ids, enc.lengths)

    def logits(self, texts: list[str]) -> np.ndarray:
        """Raw logits float32 [n, n_classes] (their argmax is the label)."""
        return self.outputs(texts)[0]

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Calibrated probabilities float32 [n, n_classes]: the scores of predict and of
        `fastnews predict` rows."""
        return self.outputs(texts)[1]

    def predict(self, texts: str | list[str], k: int | None = None, min_score: float | None = None
                ) -> tuple[list[list[str] | None], np.ndarray | list[list[float]]]:
        """Top-k labels (k default 1) and calibrated probabilities per text (fastText's shape
        of answer). With min_score, a text whose top probability is below it abstains: None in
        place of its labels (its scores are still given). A multi-label model gives each
        text's label set, best first, at most k of them (default: all), and their
        probabilities, a list per text."""
        single = isinstance(texts, str)
        if self.multi_label and min_score is not None:
            raise UsageError("--min-score is for single-label models; a multi-label model's sets take --threshold")
        labels, scores = self._answers([texts] if single else list(texts), k)
        if min_score is not None:
            labels = [None if s[0] < min_score else ls for ls, s in zip(labels, scores)]
        return (labels[0], scores[0]) if single else (labels, scores)

    def _answers(self, texts: list[str], k: int | None):
        """_top_k's answer (k default 1), or a multi-label model's _label_sets."""
        if self.multi_label:
            return self._label_sets(texts, k)
        return self._top_k(texts, k or 1)

    def _label_sets(self, texts: list[str], k: int | None = None) -> tuple[list[list[str]], list[list[float]]]:
        """Each text's label set (chosen_mask at self.thresholds), best first, at most k,
        and the labels' probabilities."""
        logits, probs = self.outputs(texts)
        mask = chosen_mask(logits, self.thresholds)
        labels, scores = [], []
        for row, p in zip(mask, probs):
            best = np.flatnonzero(row)[np.argsort(-p[row], kind="stable")][:k]
            labels.append([self.labels[j] for j in best])
            scores.append([float(p[j]) for j in best])
        return labels, scores

    def _top_k(self, texts: list[str], k: int) -> tuple[list[list[str]], np.ndarray]:
        """The k most probable labels of each text, best first (ties: the lower class
        index), and their probabilities float32 [n, k]."""
        probs = self.predict_proba(texts)
        top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return [[self.labels[j] for j in row] for row in top], np.take_along_axis(probs, top, axis=1)

    def evaluate(self, texts: list[str], labels: list, min_score: float | None = None) -> dict:
        """accuracy, macro_f1, per_class, confusion and the scores' calibration (ece, brier,
        accuracy_at_coverage, reliability; with min_score, its coverage and accuracy)
        against the label names labels (fastText's `test`; fastnews.evaluate.evaluate reads
        a corpus for it). A multi-label model takes a list of label names per text and
        gives multilabel.report's figures."""
        if self.multi_label:
            from fastnews import multilabel
            return multilabel.score(self.outputs, self.labels, list(texts), [list(x) for x in labels], self.thresholds)
        from fastnews.metrics import score
        return score(self.outputs, self.labels, list(texts), list(labels), min_score)

    # -- documents in, rows out --------------------------------------------------

    def classify(self, documents: Iterable[tuple[str, bytes | Exception]], k: int | None = None,
                 chunk: int = CHUNK) -> Iterator[Row]:
        """One Row per input document, in input order: its top-k labels, or a multi-label
        model's label set (predict's answer). Documents are read lazily and classified a
        chunk at a time, so memory is bounded by the chunk, not the input."""
        pending: list[tuple[str, bytes | Exception]] = []
        for doc in documents:
            pending.append(doc)
            if len(pending) >= chunk:
                yield from self.classify_batch(pending, k)
                pending = []
        if pending:
            yield from self.classify_batch(pending, k)

    def classify_batch(self, docs, k) -> list[Row]:
        rows: list[Row] = [Row(doc_id) for doc_id, _ in docs]
        texts, where = [], []
        for i, (_, data) in enumerate(docs):
            if isinstance(data, Exception):
                rows[i].error = describe_error(data)
                continue
            if not data:
                rows[i].error = "empty document"
                continue
            if b"\x00" in data[:8192]:  # text never holds NUL; this is a binary file
                rows[i].error = "binary content (NUL bytes)"
                continue
            texts.append(decode(data))
            where.append(i)
        if texts:
            # A document with no words (only headers, say) still gets the model's answer
            # for empty input: it was read fine, and every input gets a row.
            labels, scores = self._answers(texts, k)
            for j, i in enumerate(where):
                rows[i].labels, rows[i].scores = labels[j], [float(s) for s in scores[j]]
        return rows


def _logit_thresholds(chosen: list | None, threshold: float | None, n_labels: int, multi_label: bool):
    """float32 (n_labels,) logit thresholds of a multi-label model's label sets: threshold
    (a probability) for every label if given, else the model's own (0: probability 0.5)."""
    if threshold is None:
        return np.asarray(chosen if chosen is not None else [0.0] * n_labels, np.float32)
    if not multi_label:
        raise UsageError("--threshold is for multi-label models (single-label ones abstain with --min-score)")
    if not 0 < threshold < 1:
        raise UsageError("--threshold is a probability, between 0 and 1")
    return np.full(n_labels, np.log(threshold / (1 - threshold)), np.float32)


def _load_failure(message: str) -> str:
    """One line for an onnxruntime load error, naming the operator it cannot run."""
    import re
    import onnxruntime as ort
    op = re.search(r"implementation for (\S+?\(\d+\))|([\w.]+:\w+\(-?\d+\)) is not a registered", message)
    if op:
        return (f"this onnxruntime ({ort.__version__}) cannot run operator {op.group(1) or op.group(2)}; "
                "use a newer onnxruntime, or export with --no-text for the ids graph")
    return f"not a loadable ONNX model ({message.splitlines()[0][:160]})"


def describe_error(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
