"""The numba tokenizer against its pure-Python twin (tests/naive.py)."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from fastnews import tokenize
from fastnews.tokenize import MAX_CODEPOINT, Tokenizer, TokenizerConfig, char_tables, word_counts


# Every non-empty text its own chunk, so that fitting merges the counts of many chunks
# and encoding fills the rows from many threads.
ONE_TEXT = {"chunk_bytes": 1}

AWKWARD = [
    "",
    "   \t\n  ",
    "!!! ... ,,, ###",
    "Hello, World! Don't   stop--now.",
    "İstanbul ΣΟΦΙΑ ΟΔΟΣ Straße ǅemal ÉCOLE naïve",
    "日本語のテキスト、句読点。 emoji 🙂🙂 mixed🙂word",
    "tab\tseparated\u00a0nbsp\u2003emspace\u3000ideographic",
    "x" * 100_000,                                    # one word longer than any fixed buffer
    "zzqqxx yyzzww qqxxzz",                           # all unknown
    "a\r\nb\rc",
    "\ud800 lone surrogate",
    "under_score back\\slash a@b.com 3.14 l'été",
]


def test_split_matches_twin_on_awkward_text():
    tok = Tokenizer(["hello"])
    for text in AWKWARD:
        assert tok.split(text) == naive.split(text), repr(text[:40])
    tok_cased = Tokenizer(["hello"], TokenizerConfig(lowercase=False))
    for text in AWKWARD:
        assert tok_cased.split(text) == naive.split(text, lowercase=False)


@pytest.mark.parametrize("padding", ["post", "pre"])
@pytest.mark.parametrize("truncating", ["post", "pre"])
def test_fit_and_encode_match_twin(padding, truncating):
    texts = AWKWARD + ["the cat sat on the mat", "the dog; the cat!", "mat mat mat cat"]
    vocab = naive.fit_vocab(texts, top=12)
    tok = Tokenizer.fit(texts, vocab_size=12, config=TokenizerConfig(max_len=7, padding=padding, truncating=truncating))
    assert tok.vocab == vocab
    enc = tok.encode(texts)
    rows, lengths = naive.encode(texts, vocab, 7, padding, truncating)
    assert enc.ids.tolist() == rows
    assert enc.lengths.tolist() == lengths
    fitted, fused = Tokenizer.fit_encode(texts, 12, tok.config)  # fit and encode in one split
    assert fitted.vocab == vocab
    assert fused.ids.tolist() == rows and fused.lengths.tolist() == lengths


def test_ids_reserved_and_unknown():
    tok = Tokenizer(["known"], TokenizerConfig(max_len=4))
    enc = tok.encode(["known unknown", "", "qq ww ee rr tt"])
    assert enc.ids.tolist() == [[2, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]]
    assert enc.lengths.tolist() == [2, 0, 5]
    assert tok.n_ids == 3


def test_ties_keep_first_occurrence():
    vocab, counts = word_counts(["b a c", "c b a"])
    assert vocab == ["b", "a", "c"] and counts.tolist() == [2, 2, 2]


def test_char_tables_match_python_on_every_code_point():
    """Per-character lowercase and separator class agree with str methods everywhere,
    and lowercasing never turns a word character into a separator or back."""
    is_sep, lower = char_tables(True)
    for cp in range(MAX_CODEPOINT):
        ch = chr(cp)
        assert bool(is_sep[cp]) == (ch.isspace() or ch in naive.KERAS_FILTERS), hex(cp)
        low = ch.lower()
        if len(low) == 1:
            assert lower[cp] == ord(low), hex(cp)
        else:
            assert cp == 0x130 and lower[cp] == -1
        assert all(bool(is_sep[ord(c)]) == bool(is_sep[cp]) for c in low)


def test_min_count_keeps_the_words_seen_often_enough():
    """The vocabulary is the most frequent words, and only those seen min_count times."""
    texts = ["alpha beta beta gamma", "beta gamma delta", "epsilon alpha"]
    counts = Counter(w for t in texts for w in naive.split(t))
    tok, enc = Tokenizer.fit_encode(texts, 100, TokenizerConfig(max_len=4), min_count=2)
    assert tok.vocab == [w for w in naive.fit_vocab(texts, top=100) if counts[w] >= 2] == ["beta", "alpha", "gamma"]
    assert enc.ids[2].tolist() == [1, 3, 0, 0]  # "epsilon" is unknown, "alpha" is id 3
    assert Tokenizer.fit(texts, 2, min_count=2).vocab == ["beta", "alpha"]


def test_thread_count_and_chunks_do_not_change_ids(news20):
    """One thread or all, one chunk or a chunk per text: the same vocabulary (each chunk
    is counted on its own and the counts merged afterwards) and the same ids."""
    import numba
    texts = news20.test.texts[:2000]
    if numba.get_num_threads() == 1:  # the chunk-per-text half below still runs on a pool of 1
        pytest.skip("one numba thread on this machine: no thread count to compare with")
    tok, fused = Tokenizer.fit_encode(texts, 5000)
    assert len(tokenize.count_words(texts).chunks) == 1
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        tok_one, fused_one = Tokenizer.fit_encode(texts, 5000)
        one = tok.encode(texts).ids
    finally:
        numba.set_num_threads(before)
    assert len(tokenize.count_words(texts, **ONE_TEXT).chunks) > len(texts) * 0.9  # empty texts join the next
    tok_many, fused_many = Tokenizer.fit_encode(texts, 5000, **ONE_TEXT)
    assert tok_one.vocab == tok.vocab == tok_many.vocab
    assert np.array_equal(fused_one.ids, fused.ids) and np.array_equal(one, fused.ids)
    assert np.array_equal(fused_many.ids, fused.ids) and np.array_equal(fused_many.lengths, fused.lengths)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(" .,!-'İΣ\t\n"), max_size=40),
                min_size=1, max_size=5))
def test_fuzz_against_twin(texts):
    vocab = naive.fit_vocab(texts, top=6)
    tok = Tokenizer.fit(texts, vocab_size=6, config=TokenizerConfig(max_len=5))
    assert tok.vocab == vocab
    rows, lengths = naive.encode(texts, vocab, 5)
    enc = tok.encode(texts)
    assert enc.ids.tolist() == rows and enc.lengths.tolist() == lengths
    _, fused = Tokenizer.fit_encode(texts, 6, TokenizerConfig(max_len=5))
    assert fused.ids.tolist() == rows and fused.lengths.tolist() == lengths
    tok_many, fused_many = Tokenizer.fit_encode(texts, 6, TokenizerConfig(max_len=5), **ONE_TEXT)
    encoded_many = tok.encode(texts, **ONE_TEXT)
    assert tok_many.vocab == vocab and fused_many.ids.tolist() == rows and fused_many.lengths.tolist() == lengths
    assert encoded_many.ids.tolist() == rows and encoded_many.lengths.tolist() == lengths


ascii_text = st.text(alphabet=st.sampled_from("aAbBzZ09'_-. \t\n\x00\x7f\x1c") | st.characters(max_codepoint=127),
                     max_size=300)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ascii_text | st.builds(lambda w, n: " ".join([w] * n), ascii_text, st.integers(1, 9)),
                min_size=1, max_size=4), st.booleans(), st.sampled_from(["post", "pre"]))
def test_fuzz_ascii_fast_path_against_twin(texts, lowercase, truncating):
    """ASCII texts take the 8-bytes-at-a-time split in fit and in encode: words across 8-
    and 64-byte boundaries, repeats (probe hits), NUL and control bytes (word bytes),
    both cases, texts cut at max_len from either end."""
    config = TokenizerConfig(max_len=20, lowercase=lowercase, truncating=truncating)
    counts = Counter(w for t in texts for w in naive.split(t, lowercase))
    ranked = naive.fit_vocab(texts, top=len(counts), lowercase=lowercase)
    words, got = word_counts(texts, lowercase)
    assert words == ranked and got.tolist() == [counts[w] for w in ranked]
    tok, fused = Tokenizer.fit_encode(texts, 50, config)
    rows, lengths = naive.encode(texts, tok.vocab, 20, truncating=truncating, lowercase=lowercase)
    assert fused.ids.tolist() == rows and fused.lengths.tolist() == lengths
    encoded = tok.encode(texts)
    assert encoded.ids.tolist() == rows and encoded.lengths.tolist() == lengths
    # the texts' counts merged from one chunk each
    merged_words, merged_counts = word_counts(texts, lowercase, **ONE_TEXT)
    tok_many, fused_many = Tokenizer.fit_encode(texts, 50, config, **ONE_TEXT)
    encoded_many = tok.encode(texts, **ONE_TEXT)
    assert merged_words == ranked and merged_counts.tolist() == got.tolist()
    assert tok_many.vocab == tok.vocab
    assert encoded_many.ids.tolist() == rows and encoded_many.lengths.tolist() == lengths
    assert fused_many.ids.tolist() == rows and fused_many.lengths.tolist() == lengths


@pytest.mark.parametrize("lowercase", [True, False])
def test_long_words_and_a_chunk_that_outgrows_its_arrays(lowercase):
    """Words of 1 to 40 bytes, across the 15 bytes up to which a word is its own key, in
    both cases and in non-ASCII texts; then one document whose distinct words and tokens
    outgrow the arrays its chunk started with, after other documents put words in them
    (so the key table is rehashed with words in it)."""
    texts = [" ".join(("Ab" * 20)[:n] for n in range(1, 41)),
             " ".join(("ab" * 20)[:n] + last for n in range(40) for last in "xyY"),  # differ in the last byte
             " ".join("é" * n for n in range(1, 41)) + " " + "É" * 20,
             "Hello hello HELLO " + "Ab" * 20,
             " ".join(f"w{i}" for i in range(30000)) + " a" * 60000,
             " ".join(f"é{i}" for i in range(20000)) + " É" * 40000]  # the same, not ASCII
    counts = Counter(w for t in texts for w in naive.split(t, lowercase))
    ranked = naive.fit_vocab(texts, top=len(counts), lowercase=lowercase)
    words, got = word_counts(texts, lowercase)
    assert words == ranked and got.tolist() == [counts[w] for w in ranked]
    config = TokenizerConfig(max_len=100, lowercase=lowercase)
    tok, fused = Tokenizer.fit_encode(texts, 50100, config)
    rows, lengths = naive.encode(texts, tok.vocab, 100, lowercase=lowercase)
    assert fused.ids.tolist() == rows and fused.lengths.tolist() == lengths
    encoded = tok.encode(texts)
    assert encoded.ids.tolist() == rows and encoded.lengths.tolist() == lengths


@pytest.mark.parametrize("zero_copy", [True, False])
def test_texts_are_read_from_any_str(zero_copy, monkeypatch):
    """The kernels read compact ASCII strs in place and copies of the others (non-ASCII,
    lone surrogates, str subclasses, whose characters CPython keeps elsewhere); without
    the zero-copy path (an interpreter that lays strs out otherwise) they read copies of
    all. Both give the twin's ids."""
    class Text(str):
        pass

    from fastnews.tokenize import chunks
    monkeypatch.setattr(chunks, "_ZERO_COPY", zero_copy and chunks._ZERO_COPY)
    # The patch reaches the reader: without zero-copy every text is encoded into one buffer.
    utf8 = chunks._Utf8Texts.of(("abc",), np.array([3]))
    assert isinstance(utf8.keep[1], np.ndarray) == (not chunks._ZERO_COPY)
    texts = AWKWARD + [Text("A subclass: Words, words"), Text("Ünïcode in a subclass"), "plain ascii words"]
    vocab = naive.fit_vocab(texts, top=30)
    rows, lengths = naive.encode(texts, vocab, 9)
    tok, fused = Tokenizer.fit_encode(texts, 30, TokenizerConfig(max_len=9))
    assert tok.vocab == vocab
    assert fused.ids.tolist() == rows and fused.lengths.tolist() == lengths
    encoded = tok.encode(texts)
    assert encoded.ids.tolist() == rows and encoded.lengths.tolist() == lengths


def test_ascii_separator_ranges_match_the_tables():
    from fastnews.tokenize.chars import _ascii_separator_ranges
    is_sep, _ = char_tables(True)
    flagged = {c for lo, hi in _ascii_separator_ranges() for c in range(lo, hi + 1)}
    assert flagged == {c for c in range(128) if is_sep[c]}


@pytest.mark.slow
def test_whole_real_corpus_matches_twin(news20):
    """Fit on all 18,846 documents and encode them all: identical to the twin."""
    texts = news20.train.texts + news20.test.texts
    tok = Tokenizer.fit(texts, 20000, TokenizerConfig(max_len=1000))
    vocab = naive.fit_vocab(texts, top=20000)
    assert tok.vocab == vocab
    enc = tok.encode(texts)
    rows, lengths = naive.encode(texts, vocab, 1000)
    assert enc.lengths.tolist() == lengths
    assert np.array_equal(enc.ids, np.array(rows, dtype=np.int32))
    _, fused = Tokenizer.fit_encode(texts, 20000, TokenizerConfig(max_len=1000))  # what train uses
    assert np.array_equal(fused.ids, enc.ids) and np.array_equal(fused.lengths, enc.lengths)


def _fit_and_encode_in_child(texts, results):
    results.put(Tokenizer.fit(texts, 50, **ONE_TEXT).encode(texts, **ONE_TEXT).ids.tolist())


def test_a_forked_child_tokenizes_with_threads_of_its_own():
    """The pool's threads are not forked with the process: a child started by fork after
    the parent used the pool must start its own, not wait forever on the parent's."""
    import multiprocessing
    texts = [f"w{i} o{i % 7} the" for i in range(200)]
    expected = Tokenizer.fit(texts, 50, **ONE_TEXT).encode(texts, **ONE_TEXT).ids.tolist()  # the parent's pool is up
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_fit_and_encode_in_child, args=(texts, results))
    child.start()
    try:
        assert results.get(timeout=30) == expected
    finally:
        child.kill()
        child.join()


@pytest.mark.parametrize("padding,truncating,lowercase", [("post", "post", True), ("pre", "pre", False)])
def test_simple_encoder_gives_the_kernels_ids(news20, padding, truncating, lowercase):
    """tokenize/simple.py (small inputs, no numba) against the kernels: the awkward texts,
    the fuzzing alphabet's edge cases, and every document of the real corpus."""
    from fastnews.tokenize import SimpleEncoder
    awkward = AWKWARD[:-2] + AWKWARD[-1:]  # not the lone surrogate: it has no UTF-8
    texts = awkward + news20.train.texts + news20.test.texts
    cfg = TokenizerConfig(max_len=300, padding=padding, truncating=truncating, lowercase=lowercase)
    tok = Tokenizer.fit(awkward + news20.train.texts[:3000], vocab_size=1_000_000, config=cfg)
    want, got = tok.encode(texts), SimpleEncoder(tok.vocab, cfg).encode(texts)
    np.testing.assert_array_equal(got.lengths, want.lengths)
    differ = np.flatnonzero((got.ids != want.ids).any(axis=1))
    assert differ.size == 0, f"{differ.size} texts differ, first {texts[differ[0]][:80]!r}"
    assert (want.ids == 1).any() and (want.ids > 1).any()


@pytest.mark.parametrize("lowercase", [True, False])
def test_simple_encoder_splits_every_code_point_as_the_kernels_do(lowercase):
    """simple.py lowercases the whole text before cutting it; the kernels cut first. Each
    code point, inside a word, alone and at a word's end, splits the same way both ways."""
    from fastnews.tokenize import SimpleEncoder
    cfg = TokenizerConfig(lowercase=lowercase)
    tok, simple = Tokenizer(["a"], cfg), SimpleEncoder(["a"], cfg)
    cps = [cp for cp in range(MAX_CODEPOINT) if not 0xD800 <= cp < 0xE000]
    for start in range(0, len(cps), 1 << 16):
        text = " ".join(f"a{chr(cp)}b {chr(cp)} b{chr(cp)}" for cp in cps[start:start + (1 << 16)])
        assert simple.words(text) == tok.split(text), hex(cps[start])
