"""The sparse linear path: TF-IDF-weighted class scores over words and hashed bigrams.

This is the linear model that TF-IDF + LinearSVC is, computed from the id tensor and
trained jointly with the CNN, so the ONNX input stays the ids and training and
inference keep sharing one tokenizer.

Features of a document (ids: int64 (B, T), 0-padded):
    words     the ids themselves, 1..n_ids-1 (0 is padding);
    bigrams   n_ids + ((a * HASH_MULT + b) mod n_buckets) for each adjacent pair (a, b)
              of non-padding ids, fastText-style buckets; 0 where the pair runs into padding.
So a row has T + (T - 1) features, 0 meaning "none".

Weighting, as scikit-learn's TfidfVectorizer(sublinear_tf=True) with L2 norm:
    w_f = idf_f * (1 + log c_f) / || idf * (1 + log c) ||_2
where c_f is the feature's count in the document. Counts come from sorting the words, and
the bigrams, of each row and measuring runs of equal values (sort + cumsum + scatter-add:
all of them export to stock ONNX operators). idf_f is fixed from the training split
(``document_frequencies``); a feature seen in fewer than ``min_df`` training documents
gets idf 0, as min_df drops it from a vectorizer's vocabulary.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

HASH_MULT = 1_000_003
SUM_BLOCK = 64  # terms summed in float32 before the float64 sum (forward)


def ngram_features(ids: torch.Tensor, n_ids: int, n_buckets: int) -> list[torch.Tensor]:
    """ids int64 (B, T) -> feature segments: [words (B, T)] or, with bigram buckets,
    [words, bigrams (B, T - 1)]."""
    if n_buckets == 0 or ids.shape[1] < 2:
        return [ids]
    a, b = ids[:, :-1], ids[:, 1:]
    bucket = n_ids + torch.remainder(a * HASH_MULT + b, n_buckets)
    return [ids, torch.where((a != 0) & (b != 0), bucket, torch.zeros_like(bucket))]


def _runs(segments: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each segment zero-padded to whole blocks of SUM_BLOCK and sorted in descending order,
    then side by side: features s (B, F), each position's run count c (B, F) float32, and a
    (B, F) bool that is True at the first position of each run (one per distinct feature).

    Words and bigram buckets never share a value, so each segment's runs are its own: two
    sorts of ~T rather than one of 2T, and the sparse paths of one model sort the same words
    with identical nodes, which the exported graph computes once. Descending, within whole blocks,
    puts a document's features at the same positions whatever padding its batch adds, so
    forward's block sums, and a document's scores, do not depend on its batch."""
    parts = []
    for features in segments:
        features = F.pad(features, (0, -features.shape[1] % SUM_BLOCK))
        s, _ = torch.sort(features, dim=1, descending=True)
        first = torch.ones_like(s[:, :1], dtype=torch.bool)
        starts = torch.cat([first, s[:, 1:] != s[:, :-1]], dim=1)
        run = torch.cumsum(starts.to(torch.int64), dim=1) - 1                # (B, F) run index
        ones = torch.ones_like(s, dtype=torch.float32)
        per_run = torch.zeros_like(ones).scatter_add(1, run, ones)            # (B, F) run lengths
        parts.append((s, torch.gather(per_run, 1, run), starts))
    return tuple(torch.cat(part, dim=1) for part in zip(*parts))


class SparseNgrams(nn.Module):
    def __init__(self, n_ids: int, n_classes: int, n_buckets: int, dropout: float = 0.0):
        super().__init__()
        self.n_ids, self.n_buckets, self.dropout = n_ids, n_buckets, dropout
        n_features = n_ids + n_buckets
        self.scores = nn.Embedding(n_features, n_classes, padding_idx=0)
        nn.init.zeros_(self.scores.weight)
        # Until set_idf, every feature but padding weighs 1.
        idf = torch.ones(n_features)
        idf[0] = 0.0
        self.register_buffer("idf", idf)

    def features(self, ids: torch.Tensor) -> list[torch.Tensor]:
        return ngram_features(ids, self.n_ids, self.n_buckets)

    @torch.no_grad()
    def set_idf(self, df: torch.Tensor, n_docs: int, min_df: int) -> None:
        """idf from document frequencies df (n_features,) over n_docs training documents:
        log((1 + n) / (1 + df)) + 1 (scikit-learn's smooth idf); 0 below min_df."""
        idf = torch.log((1.0 + n_docs) / (1.0 + df.to(torch.float64))) + 1.0
        idf[df < min_df] = 0.0
        idf[0] = 0.0
        self.idf.copy_(idf.to(self.idf.dtype))

    def weights(self, ids: torch.Tensor):
        """ids int64 (B, T) -> features s (B, F) in _runs's order, each position's run count
        (B, F), the first position of each run (B, F) bool, and each position's weight w (B, F):
        a distinct feature's TF-IDF weight w_f, spread evenly over its count positions."""
        s, count, starts = _runs(self.features(ids))
        tfidf = self.idf[s] * (1.0 + torch.log(count))       # the feature's weight, at each occurrence
        # Each distinct feature occurs `count` times in s, so dividing by count sums it once.
        norm = torch.sqrt((tfidf * tfidf / count).sum(dim=1, keepdim=True)).clamp(min=1e-12)
        return s, count, starts, tfidf / (count * norm)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids int64 (B, T) -> class scores (B, n_classes)."""
        s, _, _, w = self.weights(ids)
        if self.training and self.dropout > 0:
            # Dropped feature occurrences, as dropout on a linear model: an L2 penalty
            # that adapts to each feature's frequency (Wager et al., 2013).
            keep = torch.rand_like(w) >= self.dropout
            w = w * keep / (1.0 - self.dropout)
        # Up to 2T terms. PyTorch and onnxruntime add them in different orders, so a plain
        # float32 sum lets them drift apart by ~1e-4; a float64 sum of the whole (B, F, C)
        # products took a fifth of the graph's time. So: float32 sums of blocks of SUM_BLOCK
        # terms (error ~1e-7), then those few partial sums in float64. F is whole blocks
        # (_runs); padding is feature 0, whose weight and scores are 0.
        terms = self.scores(s) * w.unsqueeze(2)                              # (B, F, C)
        partial = terms.reshape(s.shape[0], -1, SUM_BLOCK, terms.shape[2]).sum(dim=2)
        return partial.to(torch.float64).sum(dim=1).to(torch.float32)


def id_batches(ids, batch_size: int):
    """(first row, int64 (rows, T)) for consecutive rows of ids: a padded (N, T) int32 or int64
    tensor, or a ragged.Split (its chunks are max_len wide, as its padded rows were)."""
    if isinstance(ids, torch.Tensor):
        for i in range(0, ids.shape[0], batch_size):
            yield i, ids[i:i + batch_size].long()
    else:
        yield from ids.chunks(batch_size)


@torch.no_grad()
def document_frequencies(path: SparseNgrams, ids, batch_size: int = 512) -> torch.Tensor:
    """df int64 (n_features,), on the CPU: in how many rows of ids (id_batches) each feature occurs.
    Counted where the rows are (the GPU, for a split there), copied once."""
    df = None
    for _, x in id_batches(ids, batch_size):
        s, _, starts = _runs(path.features(x))
        counts = torch.bincount(s[starts], minlength=path.n_ids + path.n_buckets)
        df = counts if df is None else df + counts
    return torch.zeros(path.n_ids + path.n_buckets, dtype=torch.int64) if df is None else df.cpu()
