"""The text-in graph against the numba tokenizer and corpus.strip_headers: on every
document of the real corpus, and on the edge cases (empty text, Unicode, unknown words,
CRLF header blocks). The exported model's parity is in test_end_to_end.py."""

import numpy as np
import onnx
import pytest

import naive
from fastnews.corpus import load_corpus, strip_headers
from fastnews.infer import make_session
from fastnews.textgraph import text_to_ids_model
from fastnews.tokenize import Tokenizer, TokenizerConfig


@pytest.fixture(scope="module")
def raw_news20(news20_path):
    return load_corpus(news20_path, keep_headers=True)


@pytest.fixture(scope="module")
def news20_tokenizer(raw_news20):
    """The default recipe's vocabulary: every word seen twice in header-dropped train."""
    return Tokenizer.fit([strip_headers(t) for t in raw_news20.train.texts], vocab_size=1_000_000, min_count=2,
                         config=TokenizerConfig(max_len=1000, min_len=5))


def graph_ids(tokenizer, texts, keep_headers, batch=256):
    """The graph's ids, 0-padded to max_len columns."""
    session = make_session(text_to_ids_model(tokenizer, keep_headers).SerializeToString())
    out = np.zeros((len(texts), tokenizer.config.max_len), np.int64)
    for i in range(0, len(texts), batch):
        ids = session.run(None, {"text": np.array(texts[i:i + batch], dtype=object)})[0]
        out[i:i + batch, :ids.shape[1]] = ids
    return out


def numba_ids(tokenizer, texts, keep_headers):
    enc = tokenizer.encode([t if keep_headers else strip_headers(t) for t in texts])
    width = max(tokenizer.config.min_len, enc.ids.shape[1])
    out = np.zeros((len(texts), max(width, tokenizer.config.max_len)), np.int64)
    out[:, :enc.ids.shape[1]] = enc.ids
    return out


@pytest.mark.parametrize("keep_headers", [False, True])
def test_graph_ids_equal_the_tokenizers_on_every_document(raw_news20, news20_tokenizer, keep_headers):
    texts = raw_news20.train.texts + raw_news20.test.texts
    assert len(texts) == 18846
    got, want = graph_ids(news20_tokenizer, texts, keep_headers), numba_ids(news20_tokenizer, texts, keep_headers)
    differ = np.flatnonzero((got != want).any(axis=1)).tolist()
    assert differ == [], f"{len(differ)} documents differ, first {texts[differ[0]][:200]!r}"
    assert (got == 1).any() and (got > 1).any()  # unknown and known words both occur


HEADER_CASES = [
    "From: a\nSubject: b\n\nbody words",
    "From: a\r\nSubject: b\r\n\r\nbody words\r\n",
    "From: a\nSubject: b\n\r\n\nbody words",      # "\n\r\n" first, overlapping the "\n\n"
    "From: a\r\n\nbody words",                     # "\r\n\n" is a blank line too
    "From: a\n\tcontinued\n more\n\nbody",          # continuation lines
    "From: a\nnot a header\n\nbody",                # a non-header line: nothing is dropped
    "\nFrom: a\n\nbody",                            # the block must start the text
    "Subject: no blank line follows",
    "From: a\n\n\n\nbody after blank lines",
    "From: a\n\nSubject: b\n\nsecond block stays",
    "From: a\rSubject: b\n\nlone carriage return",
    "", "\n\n", "just words\n\nand more",
]


@pytest.mark.parametrize("keep_headers", [False, True])
def test_header_rule_and_edge_cases_match(keep_headers):
    texts = HEADER_CASES + ["", "!!! ... ,,,", "ÄÖÜ straße Ωmega", "日本語 テキスト", "tab\tand\u00a0nbsp\u3000ideo",
                            "unknownzzz qqqxxx", "DON'T Shout", "x" * 3000]
    vocab = ["body", "words", "from", "a", "subject", "b", "more", "äöü", "straße", "ωmega", "don't", "shout",
             "and", "second", "block", "stays", "just"]
    tok = Tokenizer(vocab, TokenizerConfig(max_len=20, min_len=3))
    got = graph_ids(tok, texts, keep_headers, batch=5)
    assert got.shape[1] == 20
    np.testing.assert_array_equal(got, numba_ids(tok, texts, keep_headers))
    # and the pure-Python twin of the split rule agrees on the same texts
    twin, _ = naive.encode([t if keep_headers else strip_headers(t) for t in texts], vocab, 20)
    np.testing.assert_array_equal(got, np.asarray(twin))


def test_the_one_documented_difference_dotted_capital_i():
    """StringNormalizer lowers U+0130 to 'i'; str.lower gives 'i' + U+0307 (textgraph.py)."""
    tok = Tokenizer(["istanbul"], TokenizerConfig(max_len=4))
    assert graph_ids(tok, ["İstanbul"], True)[0, 0] == 2
    assert numba_ids(tok, ["İstanbul"], True)[0, 0] == 1


def test_all_separator_batch_gives_min_len_padding():
    tok = Tokenizer(["a"], TokenizerConfig(max_len=10, min_len=4))
    session = make_session(text_to_ids_model(tok, False).SerializeToString())
    ids = session.run(None, {"text": np.array(["", "!!"], dtype=object)})[0]
    assert ids.shape == (2, 4) and not ids.any()


def test_a_model_with_an_operator_onnxruntime_lacks_is_a_one_line_error(tmp_path):
    from onnx import TensorProto, helper

    from fastnews.artifact import ModelFileError
    from fastnews.infer import Classifier
    node = helper.make_node("StringRegexReplace", ["text", "p", "r"], ["out"], domain="ai.onnx.contrib")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("text", TensorProto.STRING, ["n"])],
                              [helper.make_tensor_value_info("out", TensorProto.STRING, ["n"])],
                              initializer=[helper.make_tensor("p", TensorProto.STRING, [], [b"a"]),
                                           helper.make_tensor("r", TensorProto.STRING, [], [b"b"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20),
                                                    helper.make_opsetid("ai.onnx.contrib", 1)])
    model.ir_version = 9
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(ModelFileError) as err:
        Classifier.load(tmp_path / "m.onnx")
    assert "operator ai.onnx.contrib:StringRegexReplace" in str(err.value) and "\n" not in str(err.value)
