"""GloVe text parsing and the memory-mapped store, against a simple parser."""

import os
import re
import time
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from fastnews import glove, glovetext
from fastnews.glove import GloveError
from fastnews.tokenize import Tokenizer


def write(tmp_path, text, name="g.txt"):
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return p


def test_quirks_crlf_no_final_newline_spaces_duplicates(tmp_path):
    text = ("the 0.1 0.2 -0.3\r\n"
            ". . . 1e-05 2.5E+2 -0\r\n"          # a word with spaces (glove.840B has these)
            "caf\u00e9\u00a0bar 1 2 3\r\n"       # a non-breaking space inside a word
            "\r\n"                                # a blank line is skipped
            "the 9 9 9\r\n"                      # duplicated word: the first one wins
            "last 0.000123 4 5")                 # no final newline
    p = write(tmp_path, text)
    with pytest.warns(UserWarning, match="1 duplicated words.*'the' at line 5"):
        store = glove.load(p, tmp_path / "store")
    assert store.table.words() == ["the", ". . .", "caf\u00e9\u00a0bar", "last"]
    np.testing.assert_array_equal(store.vectors, np.array(
        [[0.1, 0.2, -0.3], [1e-05, 250.0, -0.0], [1, 2, 3], [0.000123, 4, 5]], np.float32))
    assert store.meta["duplicates"] == 1
    assert store.index_of(["last", "missing", "the"]).tolist() == [3, -1, 0]


@pytest.mark.parametrize("text,line,what", [
    ("a 1 2 3\nb 1 2\nc 1 2 3\n", 2, "found 2 values"),
    ("a 1 2 3\nb 1 x 3\n", 2, "not a number"),
    ("a 1 2 3\nb 1 2 3\nc 1 2 3 4\n", 3, "mixed dimensions"),
    ("a 1 2 3\n1 2 3\n", 2, "found"),
])
def test_malformed_line_names_its_number(tmp_path, text, line, what):
    with pytest.raises(GloveError, match=f"line {line}: .*{what}"):
        glove.convert(write(tmp_path, text), tmp_path / "store")


def test_changed_source_is_converted_again(tmp_path):
    p = write(tmp_path, "a 1 2\nb 3 4\n")
    store = glove.load(p, tmp_path / "s")
    assert store.table.words() == ["a", "b"]
    assert glove.load(p, tmp_path / "s").meta == store.meta      # unchanged: reused
    time.sleep(0.01)
    p.write_text("a 1 2\nb 3 4\nc 5 6\n")
    os.utime(p, ns=(time.time_ns(), time.time_ns()))
    assert glove.load(p, tmp_path / "s").table.words() == ["a", "b", "c"]


def test_embedding_matrix(tmp_path):
    store = glove.load(write(tmp_path, "cat 1 2\ndog 3 4\n"), tmp_path / "s")
    tok = Tokenizer(["dog", "unseen", "cat"])
    matrix, found = store.embedding_matrix(tok.table, seed=0)
    assert found == 2 and matrix.shape == (5, 2) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], [0, 0])          # padding
    np.testing.assert_array_equal(matrix[2], [3, 4])          # dog
    np.testing.assert_array_equal(matrix[4], [1, 2])          # cat
    assert np.abs(matrix[3]).sum() > 0                        # unseen: random, not zero


float_text = st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda v: "%.6g" % v) | \
    st.floats(-1e30, 1e30).map(repr) | st.integers(-10**6, 10**6).map(str) | \
    st.sampled_from(["0.00000000000000000001234", "-0", ".5", "5.", "+3", "00012.5000", "1E-5", "-.25e+2"])
word = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\r"), min_size=1, max_size=8).filter(
    lambda w: w.strip(" ") == w and w.strip() and not w.replace(" ", "").lstrip("+-").replace(".", "").isdigit())


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.integers(1, 4).flatmap(lambda d: st.lists(st.tuples(word, st.lists(float_text, min_size=d, max_size=d)),
                                                     min_size=1, max_size=6)),
       st.booleans(), st.booleans())
def test_fuzz_parser_against_simple_parser(tmp_path, rows, crlf, final_newline):
    rows[0] = (rows[0][0].replace(" ", "_"), rows[0][1])  # the dimension is read off line 1
    eol = "\r\n" if crlf else "\n"
    text = eol.join(w + " " + " ".join(v) for w, v in rows) + (eol if final_newline else "")
    if any(" " in w and all(_is_float(p) for p in w.split(" ")[1:]) for w, _ in rows):
        return  # indistinguishable from a line with extra values; covered above
    p = write(tmp_path, text)
    words, vectors = naive.parse_glove(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicated words warn; that is tested above
        store = glove.GloveStore.open(glove.convert(p, tmp_path / "store"))
    assert store.table.words() == words
    np.testing.assert_array_equal(store.vectors, np.array(vectors, np.float64).astype(np.float32))


plain_number = st.one_of(
    st.floats(-1e4, 1e4).map(lambda v: "%.*f" % (len(repr(v)) % 12, v)),  # 0-11 digits after the dot
    st.from_regex(r"\A[-+]?[0-9]{0,9}\.?[0-9]{0,18}([eE][-+]?[0-9]{1,2})?\Z"),
)


@settings(max_examples=3000, deadline=None)
@given(plain_number, st.sampled_from([" 99999999.99999999", "\n", "e5 7", ".5", "x"]))
def test_eight_byte_value_parser_against_float(text, after):
    """_parse_plain (the 8-bytes-at-a-time path) either declines or gives float(text)
    exactly, and stops right after the number; it must take GloVe's usual forms."""
    raw = (text + after).encode() + b" " * 32
    value, ok, stop = glovetext._parse_plain(np.frombuffer(raw, np.uint8), 0, glovetext._POW10)
    usual = re.fullmatch(r"-?([0-9]{1,7})\.([0-9]+)", text)
    if usual and len(usual[1]) + len(usual[2]) <= 15 and not after[0].isdigit() and after[0] != ".":
        assert ok, text
    if ok:
        number = re.match(r"[-+]?[0-9]*\.?[0-9]*", text + after)[0]
        assert stop == len(number)
        assert value == float(number) and np.signbit(value) == np.signbit(float(number))


def _is_float(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


@pytest.mark.slow
def test_real_glove_text_converts_bit_identical(glove_text, glove_package, tmp_path):
    """glove.6B.50d.txt, written back from the package, parses to the package's array exactly."""
    words, vectors = glove_package
    store = glove.load(glove_text, tmp_path / "store")
    assert len(store) == 400_000 and store.dim == 50
    assert np.array_equal(np.asarray(store.vectors).view(np.uint32), vectors.view(np.uint32))
    assert store.table.words() == words


def test_default_store_is_the_package(tmp_path, glove_package):
    words, vectors = glove_package
    store = glove.load(None, tmp_path / "default")
    assert len(store) == 400_000
    assert np.array_equal(store.vectors, vectors)
    assert store.index_of(["the", "computer"]).tolist() == [words.index("the"), words.index("computer")]


def test_stale_default_store_is_rebuilt(tmp_path):
    import json
    glove.load(None, tmp_path / "default")
    meta_path = tmp_path / "default" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["source_size"] = 1  # as if the package's vectors file had changed since
    meta_path.write_text(json.dumps(meta))
    assert glove.load(None, tmp_path / "default").meta["source_size"] == 80_000_128
