"""Slow, obviously-correct pure-Python twins of the numba kernels.

Each function here restates a rule from the fastnews module it mirrors, using
only str methods, dicts and lists, so that the kernels can be checked against it.
"""

from collections import Counter

KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'


def split(text, lowercase=True):
    """Lowercase each character on its own, then cut at whitespace and Keras filters."""
    if lowercase:
        text = "".join(ch.lower() for ch in text)
    words, current = [], []
    for ch in text:
        if ch.isspace() or ch in KERAS_FILTERS:
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        words.append("".join(current))
    return words


def fit_vocab(texts, top, lowercase=True):
    """Most frequent words first; ties keep first-occurrence order (Counter is ordered)."""
    counts = Counter()
    for t in texts:
        counts.update(split(t, lowercase))
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    return [w for w, _ in ranked[:top]]


def encode(texts, vocab, max_len, padding="post", truncating="post", lowercase=True):
    """ids per text (0 pad, 1 unknown, 2.. vocabulary), padded or truncated; true lengths."""
    index = {w: i + 2 for i, w in enumerate(vocab)}
    rows, lengths = [], []
    for t in texts:
        ids = [index.get(w, 1) for w in split(t, lowercase)]
        lengths.append(len(ids))
        ids = ids[:max_len] if truncating == "post" else ids[-max_len:]
        pad = [0] * (max_len - len(ids))
        rows.append(ids + pad if padding == "post" else pad + ids)
    return rows, lengths


def parse_glove(text):
    """(words, vectors) of a GloVe text file; the word is what precedes the last D values."""
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    lines = [ln for ln in lines if ln]
    dim = len(lines[0].split(" ")) - 1
    words, vectors, seen = [], [], set()
    for ln in lines:
        parts = ln.split(" ")
        word, values = " ".join(parts[:-dim]), [float(v) for v in parts[-dim:]]
        if word in seen:
            continue
        seen.add(word)
        words.append(word)
        vectors.append(values)
    return words, vectors
