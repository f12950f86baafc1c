"""The text-in graph: the header rule, the split rule and the vocabulary inside the .onnx.

``add_text_input`` turns an exported ids graph (int64 ids [batch, seq] -> logits) into
one that any onnxruntime, in any language, feeds with raw strings:

    text           string [batch]        the decoded document, header block and all
    logits         float32 [batch, n_classes]
    probabilities  float32 [batch, n_classes]
    chosen         bool [batch, n_classes]  multi-label models: each document's label set
    label          string [batch]        the arg-max class name
    label_names    string [n_classes]    multi-label models: the names of chosen's columns

Only stock onnxruntime operators (no onnxruntime-extensions):

    header block   StringSplit at the first blank line, RegexFullMatch of the head
                   against corpus.strip_headers's rule, Where(header, body, text)
    lowercase      StringNormalizer LOWER, locale C.UTF-8 (present on every glibc)
    split          com.microsoft.Tokenizer, one RE2 class of every separator code point
    vocabulary     ai.onnx.ml LabelEncoder, word -> id, unknown words -> UNK_ID
    max_len        Slice of the words; min_len: Pad of the ids with PAD_ID

Where ONNX and the numba tokenizer can differ (tests/test_textgraph.py measures both
on the whole corpus): StringNormalizer lowercases with C's towlower, one code point to
one, so U+0130 'İ' becomes 'i' where Python's str.lower gives 'i' + U+0307; and a code
point whose towlower and str.lower disagree (Unicode versions differ) is lowered
differently. 20news-bydate has neither.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fastnews.errors import ParityError
from fastnews.tokenize import N_SPECIAL, PAD_ID, UNK_ID, Tokenizer
from fastnews.tokenize.chars import separator_runs

TEXT_OPSET = 20      # StringSplit and RegexFullMatch
ML_OPSET = 3
IR_VERSION = 9       # onnxruntime-node 1.30 refuses onnx's default IR 14; IR 9 carries opset 20
LOCALE = "C.UTF-8"   # "en_US.UTF-8" fails where that locale is not installed
PAD_WORD = " "       # the Tokenizer's padding: a separator, so never a word

# corpus.strip_headers as RE2 patterns. Its head is everything before the first blank
# line, a blank line being "\n\n" once "\r\n" is read as "\n"; in the raw text that is
# the first "\n\n" or "\n\r\n", whichever comes first. The "\n\r\n" split is the right
# one exactly when the "\n\n" head holds a "\n\r\n" or ends in "\n\r".
_CRLF_FIRST = r"(?s).*\n\r(?:\n.*)?"
_FIELD = r"[!-9;-~]+:"          # corpus._HEADER_LINE
HEADER_BLOCK = _FIELD + r"[^\n]*(?:\n(?:" + _FIELD + r"|[ \t])[^\n]*)*"


def separator_class() -> str:
    """One RE2 character class, repeated, of every code point the tokenizer splits on."""
    runs = separator_runs()
    return "[" + "".join(f"\\x{{{lo:x}}}" if lo == hi else f"\\x{{{lo:x}}}-\\x{{{hi:x}}}" for lo, hi in runs) + "]+"


class _Builder:
    """Nodes and constants of the prefix, with fresh names under one prefix."""

    def __init__(self, prefix: str = "text/"):
        self.prefix, self.nodes, self.inits, self.n = prefix, [], [], 0

    def name(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n}"

    def const(self, value, dtype=np.int64) -> str:
        name = self.name()
        if dtype is str:
            self.inits.append(helper.make_tensor(name, TensorProto.STRING, np.shape(value),
                                                 [v.encode() for v in np.ravel(value)]))
        else:
            self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, n_out: int = 1, out: str | None = None, **attrs):
        outputs = [out] if out else [self.name() for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs, name=outputs[0], **attrs))
        return outputs[0] if n_out == 1 else outputs

    def split_once(self, text: str, delimiter: str):
        """(head, body, found): text cut at the first delimiter, each string [batch]."""
        parts, count = self.op("StringSplit", text, n_out=2, delimiter=delimiter, maxsplit=1)
        # parts is [batch, 0..2] with "" filling; widen to at least 2 columns.
        shape = self.op("Concat", self.op("Shape", text), self.const([2]), axis=0)
        parts = self.op("Concat", parts, self.op("Expand", self.const([[""]], str), shape), axis=1)
        head = self.op("Gather", parts, self.const(0), axis=1)
        body = self.op("Gather", parts, self.const(1), axis=1)
        return head, body, self.op("Equal", count, self.const(2))


def _without_headers(b: _Builder, text: str) -> str:
    head1, body1, found1 = b.split_once(text, "\n\n")
    head2, body2, _ = b.split_once(text, "\n\r\n")
    crlf = b.op("RegexFullMatch", head1, pattern=_CRLF_FIRST)
    head, body = b.op("Where", crlf, head2, head1), b.op("Where", crlf, body2, body1)
    header = b.op("And", b.op("Or", found1, crlf), b.op("RegexFullMatch", head, pattern=HEADER_BLOCK))
    return b.op("Where", header, body, text)


def text_to_ids(b: _Builder, text: str, tokenizer: Tokenizer, keep_headers: bool, out: str) -> None:
    """Nodes from text string [batch] to out int64 [batch, max(min_len, words)]: the ids
    that tokenizer.encode gives the header-dropped text, cut at max_len, 0-padded."""
    cfg = tokenizer.config
    if cfg.padding != "post" or cfg.truncating != "post":
        raise ValueError("the text graph supports post padding and post truncation only")
    s = text if keep_headers else _without_headers(b, text)
    if cfg.lowercase:
        s = b.op("StringNormalizer", s, case_change_action="LOWER", locale=LOCALE)
    words = b.op("Tokenizer", s, domain="com.microsoft", separators=[separator_class()], mark=0, mincharnum=1,
                 pad_value=PAD_WORD)
    words = b.op("Slice", words, b.const([0]), b.const([cfg.max_len]), b.const([1]))
    ids = b.op("LabelEncoder", words, domain="ai.onnx.ml", keys_strings=[PAD_WORD, *tokenizer.vocab],
               values_int64s=[PAD_ID, *range(N_SPECIAL, N_SPECIAL + len(tokenizer.vocab))], default_int64=UNK_ID)
    width = b.op("Gather", b.op("Shape", ids), b.const([1]))
    short = b.op("Max", b.op("Sub", b.const([cfg.min_len]), width), b.const([0]))
    pads = b.op("Concat", b.const([0, 0, 0]), short, axis=0)
    b.op("Pad", ids, pads, b.const(PAD_ID), out=out)


def _opsets(proto: onnx.ModelProto) -> None:
    keep = {o.domain: o.version for o in proto.opset_import}
    keep.update({"": max(keep.get("", 0), TEXT_OPSET), "ai.onnx.ml": ML_OPSET, "com.microsoft": 1})
    del proto.opset_import[:]
    proto.opset_import.extend(helper.make_opsetid(d, v) for d, v in sorted(keep.items()))
    proto.ir_version = IR_VERSION


def add_text_input(ids_proto: onnx.ModelProto, tokenizer: Tokenizer, labels: list[str],
                   keep_headers: bool) -> onnx.ModelProto:
    """A copy of the ids graph whose input is text string [batch], with a label output
    beside its logits and probabilities. Its metadata is the ids graph's."""
    proto = onnx.ModelProto()
    proto.CopyFrom(ids_proto)
    g = proto.graph
    (ids_input,) = [i.name for i in g.input if i.name not in {t.name for t in g.initializer}]
    head, tail = _Builder("text/"), _Builder("label/")
    text_to_ids(head, "text", tokenizer, keep_headers, out=ids_input)
    logits = g.output[0].name
    has_probabilities = "probabilities" in [o.name for o in g.output]
    if not has_probabilities:  # an ids graph exported before calibration: plain softmax
        tail.op("Softmax", logits, axis=1, out="probabilities")
    best = tail.op("ArgMax", logits, axis=1, keepdims=0)
    tail.op("LabelEncoder", best, domain="ai.onnx.ml", keys_int64s=list(range(len(labels))), values_strings=labels,
            default_string="", out="label")
    multi_label = "chosen" in [o.name for o in g.output]
    if multi_label:  # the names of chosen's columns: onnxruntime-node cannot read the metadata
        tail.op("Identity", tail.const(labels, str), out="label_names")
    body = list(g.node)
    del g.node[:], g.input[:]
    g.node.extend(head.nodes + body + tail.nodes)
    g.initializer.extend(head.inits + tail.inits)
    g.input.append(helper.make_tensor_value_info("text", TensorProto.STRING, ["batch"]))
    if not has_probabilities:
        g.output.append(helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(labels)]))
    g.output.append(helper.make_tensor_value_info("label", TensorProto.STRING, ["batch"]))
    if multi_label:
        g.output.append(helper.make_tensor_value_info("label_names", TensorProto.STRING, [len(labels)]))
    _opsets(proto)
    return proto


def text_to_ids_model(tokenizer: Tokenizer, keep_headers: bool) -> onnx.ModelProto:
    """The prefix alone, text -> ids, for checking it against the numba tokenizer."""
    b = _Builder()
    text_to_ids(b, "text", tokenizer, keep_headers, out="ids")
    graph = helper.make_graph(b.nodes, "fastnews_text_to_ids",
                              [helper.make_tensor_value_info("text", TensorProto.STRING, ["batch"])],
                              [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])],
                              initializer=b.inits)
    proto = helper.make_model(graph)
    _opsets(proto)
    return proto


def sample_texts(vocab: list[str], n: int = 200, seed: int = 0) -> list[str]:
    """Texts that exercise every part of the rule: vocabulary and unknown words in mixed
    case, ASCII and Unicode separators, header blocks with LF and CRLF line ends,
    continuation lines, look-alike headers, empty and all-separator texts."""
    rng = np.random.default_rng(seed)
    seps = [" ", "  ", "\n", "\t", ", ", ".", "!", "-", "\u00a0", "\u2003", "\u3000", "\r\n", "'s "]
    odd = ["Straße", "ÄÖÜ", "naïve", "Ωmega", "x" * 40, "unknownword", "über-", "日本語", "don't"]
    texts = ["", "!!!  ...", "Subject: only a header"]
    for i in range(n):
        words = [str(rng.choice(vocab)) if rng.random() < 0.85 else str(rng.choice(odd))
                 for _ in range(int(rng.integers(1, 80)))]
        words = [w.upper() if rng.random() < 0.1 else w.title() if rng.random() < 0.1 else w for w in words]
        body = "".join(w + str(rng.choice(seps)) for w in words)
        nl = "\r\n" if i % 4 == 3 else "\n"
        if i % 3 == 0:
            body = nl.join(["From: someone@example.com", "Subject: " + words[0], "\tcontinued"]) + nl + nl + body
        elif i % 3 == 1 and i % 2:
            body = "Not a header line" + nl + nl + body
        texts.append(body)
    return texts


def text_parity_check(text_bytes: bytes, ids_bytes: bytes, tokenizer: Tokenizer, labels: list[str],
                      keep_headers: bool, atol: float) -> dict:
    """The text graph against the ids graph fed by the numba tokenizer, on sample_texts,
    all in one batch and in batches of 16: logits within atol, the same labels as the ids
    graph's argmax and, for a multi-label model, the same label sets. Raises ParityError
    naming the first text that differs."""
    from fastnews.corpus import strip_headers
    from fastnews.infer import make_session
    texts = sample_texts(tokenizer.vocab)
    enc = tokenizer.encode([t if keep_headers else strip_headers(t) for t in texts])
    width = max(tokenizer.config.min_len, int(enc.lengths.max()))
    ids_session = make_session(ids_bytes)
    sets = ["chosen"] if "chosen" in [o.name for o in ids_session.get_outputs()] else []  # multi-label
    ref, *ref_sets = ids_session.run(["logits", *sets], {"ids": enc.ids[:, :width].astype(np.int64)})
    session = make_session(text_bytes)
    worst = 0.0
    for size in (len(texts), 16):
        for i in range(0, len(texts), size):
            logits, label, *chosen = session.run(["logits", "label", *sets],
                                                 {"text": np.array(texts[i:i + size], dtype=object)})
            diff = np.abs(logits - ref[i:i + size]).max(1)
            want = [labels[c] for c in ref[i:i + size].argmax(1)]
            bad = (diff > atol) | (np.asarray(label.tolist()) != np.asarray(want))
            if sets:
                bad |= (chosen[0] != ref_sets[0][i:i + size]).any(1)
            bad = np.flatnonzero(bad)
            if bad.size:
                j = i + int(bad[0])
                raise ParityError(f"text graph differs from the tokenizer + ids graph on sample text {j} "
                                 f"({texts[j][:50]!r}): |logit diff| {diff[bad[0]]:.3g}, atol {atol:g}")
            worst = max(worst, float(diff.max()))
    return {"max_abs_diff": worst, "texts": len(texts)}
