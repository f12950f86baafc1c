"""Byte-level tokenization in numba: text -> words -> vocabulary ids, padded or truncated.

Training and inference both tokenize through this package and nothing else, so the
exported model always sees the ids it was trained on.

    from fastnews.tokenize import Tokenizer, TokenizerConfig
    tok, enc = Tokenizer.fit_encode(texts, vocab_size=20000)   # enc.ids int32 [n, max_len]
    enc = tok.encode(more_texts)

One idea per module:

    chars      the split rule (SPLIT_RULE): per-code-point tables, ASCII separator ranges
    utf8       decoding and encoding code points; the per-code-point word loop
    bitmap     an ASCII text classified 8 bytes at a time; words read off the bitmap
    keys       a word's key (its own bytes up to 15, a hash beyond) and the key tables
    count      counting one chunk's words (fit)
    vocab      merging the chunks' words, ranking them, encoding the counted split
    encode     words to ids with a fitted vocabulary (inference); padding, truncation
    chunks     the texts' UTF-8 bytes, cut into chunks for a pool of threads
    tokenizer  the public Tokenizer
    settings   TokenizerConfig, Encoded, the pad and unknown ids (no numba)
    simple     the same rule and lookup in plain Python, for small inputs (no numba)

How it runs: a pool of threads runs the kernels on chunks of consecutive documents.
The kernels copy each document's UTF-8 bytes into a uint8 buffer (on CPython, straight
from the str, without the GIL: see chunks._Utf8Texts), walk those bytes, decode code
points and look up two per-code-point tables (is-separator, lowercase). No Python
object is made per word. An ASCII document is split through its bitmap and its words
are keyed by their own lowered bytes, so a lookup reads one cache line; any other
document takes the per-code-point loop.

Ids: 0 is padding, 1 is an unknown word, 2.. are vocabulary words in order of
decreasing training frequency (ties: first occurrence first, as Keras does).
"""

import importlib

# Names load their module on first use (PEP 562), so that reading a model's settings
# or tokenizing a few documents with simple.py does not load numba.
_HOME = {
    "KERAS_FILTERS": "chars", "MAX_CODEPOINT": "chars", "SPLIT_RULE": "chars", "char_tables": "chars",
    "N_SPECIAL": "settings", "PAD_ID": "settings", "UNK_ID": "settings", "Encoded": "settings",
    "TokenizerConfig": "settings", "SimpleEncoder": "simple",
    "CHUNK_BYTES": "chunks", "ENCODE_CHUNK_BYTES": "chunks", "Tokenizer": "tokenizer",
    "CountedWords": "vocab", "count_words": "vocab", "word_counts": "vocab",
}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value
