"""Slow, obviously-correct pure-Python twins of the numba kernels.

Each function here restates a rule from the fastnews module it mirrors, using
only str methods, dicts and lists, so that the kernels can be checked against it.
"""

import math
from collections import Counter

import numpy as np

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


def ngram_features(ids, n_ids, n_buckets, mult=1_000_003):
    """A document's sparse features: its word ids, then a bucket per adjacent pair."""
    words = [i for i in ids if i != 0]
    if not n_buckets:
        return words
    return words + [n_ids + (a * mult + b) % n_buckets for a, b in zip(words, words[1:])]


def tfidf_scores(ids, n_ids, n_buckets, idf, table):
    """sum over distinct features f of w_f * table[f], w = idf * (1 + ln count), L2-normalised."""
    import math
    counts = Counter(ngram_features(ids, n_ids, n_buckets))
    weights = {f: idf[f] * (1 + math.log(c)) for f, c in counts.items()}
    norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
    n_classes = len(table[0])
    return [sum(w / norm * table[f][k] for f, w in weights.items()) for k in range(n_classes)]


def dcd_squared_hinge(indptr, indices, data, positive, order, n_features, n_classes, costs, tol, max_epochs):
    """linear_svm's dual coordinate descent in plain Python: w float64 (n_classes, n_features + 1),
    the last column the intercepts; positive[i][c] says document i is of class c; costs[i] is
    document i's C."""
    w = np.zeros((n_classes, n_features + 1))
    diag = [0.5 / c for c in costs]
    q = [sum(v * v for v in data[indptr[i]:indptr[i + 1]]) + 1.0 + diag[i] for i in range(len(indptr) - 1)]
    for c in range(n_classes):
        alpha = [0.0] * (len(indptr) - 1)
        active = list(order)  # shrinking: set aside documents at 0 whose gradient is above last epoch's largest
        n_active, shrink_above = len(active), np.inf
        for _ in range(max_epochs):
            lo, hi = np.inf, -np.inf
            s = 0
            while s < n_active:
                i = active[s]
                y = 1.0 if positive[i][c] else -1.0
                dot = w[c, n_features]
                for j in range(indptr[i], indptr[i + 1]):
                    dot += w[c, indices[j]] * data[j]
                g = y * dot - 1.0 + diag[i] * alpha[i]
                if alpha[i] == 0.0 and g > shrink_above:
                    n_active -= 1
                    active[s], active[n_active] = active[n_active], active[s]
                    continue
                pg = min(g, 0.0) if alpha[i] == 0.0 else g
                lo, hi = min(lo, pg), max(hi, pg)
                if pg != 0.0:
                    old = alpha[i]
                    alpha[i] = max(old - g / q[i], 0.0)
                    step = (alpha[i] - old) * y
                    for j in range(indptr[i], indptr[i + 1]):
                        w[c, indices[j]] += step * data[j]
                    w[c, n_features] += step
                s += 1
            if hi - lo < tol:
                if n_active == len(active):
                    break
                n_active, shrink_above = len(active), np.inf
                continue
            shrink_above = hi if hi > 0.0 else np.inf
    return w


def complement_nb(rows, labels, n_features, n_classes, alpha, live):
    """members.fit_cnb written plainly from Rennie et al. (2003): rows are {feature: weight}
    dicts; W[f][c] = -log((alpha + weight of f outside class c) / (sum over live features of the same)),
    then each row less its mean over the classes."""
    outside = [[0.0] * n_classes for _ in range(n_features)]
    for row, label in zip(rows, labels):
        for f, v in row.items():
            for c in range(n_classes):
                if c != label:
                    outside[f][c] += v
    table = [[0.0] * n_classes for _ in range(n_features)]
    for c in range(n_classes):
        total = sum(alpha + outside[f][c] for f in range(n_features) if live[f])
        for f in range(n_features):
            if live[f]:
                table[f][c] = -math.log((alpha + outside[f][c]) / total)
    for f in range(n_features):
        mean = sum(table[f]) / n_classes
        table[f] = [v - mean for v in table[f]]
    return table


def calibrated_probabilities(logits, a, b):
    """model.calibrated_probabilities, row by row: the top probability's log-odds mapped
    to a * L + b (kept 1e-3 above log(p2 / (1 - p1))), the rest sharing 1 - p1' as their
    softmax does."""
    out = []
    for row in logits:
        row = [float(z) for z in row]
        top = max(range(len(row)), key=lambda j: row[j])
        others = [z for j, z in enumerate(row) if j != top]
        m = max(others)
        rest = m + math.log(sum(math.exp(z - m) for z in others))
        odds = max(a * (row[top] - rest) + b, m - rest + 1e-3)
        new_top = 1 / (1 + math.exp(-odds))
        out.append([new_top if j == top else (1 - new_top) * math.exp(z - rest) for j, z in enumerate(row)])
    return out


def expected_calibration_error(confidence, right, bins=15):
    """ECE with a plain loop over equal-width bins (lower edge open, upper closed; a score
    of 0 goes to the first bin)."""
    total = 0.0
    for i in range(bins):
        lo, hi = i / bins, (i + 1) / bins
        members = [(c, r) for c, r in zip(confidence, right) if (lo < c <= hi) or (i == 0 and c == 0)]
        if members:
            gap = sum(r for _, r in members) / len(members) - sum(c for c, _ in members) / len(members)
            total += len(members) / len(confidence) * abs(gap)
    return total


def chosen_sets(logits, thresholds):
    """multilabel.chosen_mask written plainly: each row's labels at or above their
    threshold, and its top label."""
    out = []
    for row in logits:
        top = max(row)
        out.append([j for j, v in enumerate(row) if v >= thresholds[j] or v == top])
    return out


def multilabel_figures(truth_sets, predicted_sets, n_labels):
    """micro-, macro- (over labels in either), samples-F1, subset accuracy and Hamming loss
    of label sets, from their definitions."""
    tp = [0] * n_labels
    fp = [0] * n_labels
    fn = [0] * n_labels
    samples, exact, wrong = [], 0, 0
    for t, p in zip(truth_sets, predicted_sets):
        t, p = set(t), set(p)
        for j in range(n_labels):
            tp[j] += j in t and j in p
            fp[j] += j in p and j not in t
            fn[j] += j in t and j not in p
        samples.append(2 * len(t & p) / (len(t) + len(p)) if t or p else 1.0)
        exact += t == p
        wrong += len(t ^ p)
    f1 = [2 * tp[j] / (2 * tp[j] + fp[j] + fn[j]) for j in range(n_labels) if tp[j] + fp[j] + fn[j]]
    n = len(truth_sets)
    return {"micro_f1": 2 * sum(tp) / (2 * sum(tp) + sum(fp) + sum(fn)), "macro_f1": sum(f1) / len(f1),
            "samples_f1": sum(samples) / n, "subset_accuracy": exact / n, "hamming_loss": wrong / (n * n_labels)}
