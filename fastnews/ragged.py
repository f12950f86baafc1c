"""An encoded split, held once in a ragged layout: each document's ids and nothing else.

The tokenizer gives a padded int32 row of max_len ids per document. A document needs only
its first ``width`` columns (TokenizerConfig.widths: its word count, clipped to
[min_len, max_len]); the rest is padding. So a split keeps those columns alone, one document
after another, with the offsets where each starts: on 20news that is 4% of the padded
matrix, and memory grows with the corpus's words, not with documents x max_len. Batches
are cut from it padded (after the words) to their widest document, exactly as rows of
the padded matrix would be cut, so training sees the same tensors.

    split = Split.encode(tok, texts, labels, "cpu")    # encoded DOCS_PER_CHUNK documents at a time
    x = split.batch(index)                             # int64 (len(index), widest), 0-padded
    for start, x in split.chunks(512): ...             # in order, each max_len wide
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from fastnews.tokenize import Encoded, Tokenizer

# Documents encoded at a time: the padded rows of one chunk (8,192 x max_len int32,
# 33 MB at the default 1,000) are the only padded copy that ever exists.
DOCS_PER_CHUNK = 8192


@dataclass
class Split:
    """Document i's ids are ids[offsets[i]:offsets[i + 1]], lengths[i] of them."""
    ids: torch.Tensor      # int32 [sum of lengths], on the training device
    offsets: torch.Tensor  # int64 [n + 1], on the same device
    lengths: np.ndarray    # int64 [n], the columns each document needs (TokenizerConfig.widths)
    labels: torch.Tensor   # int64 [n]; multi-label: float32 [n, n_classes], 1 = has the label
    width: int             # max_len: the width of the tokenizer's padded rows

    def __len__(self) -> int:
        return self.lengths.shape[0]

    @classmethod
    def encode(cls, tok: Tokenizer, texts, labels, device, progress=None) -> "Split":
        """texts encoded DOCS_PER_CHUNK at a time; progress(n), if given, after each chunk."""
        parts = []
        for start in range(0, len(texts), DOCS_PER_CHUNK):
            parts.append(_compact(tok, tok.encode(texts[start:start + DOCS_PER_CHUNK])))
            if progress is not None:
                progress(len(parts[-1][1]))
        ids = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int32)
        lengths = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
        return cls.of(ids, lengths, labels, tok.config.max_len, device)

    @classmethod
    def from_encoded(cls, tok: Tokenizer, enc: Encoded, labels, device) -> "Split":
        return cls.of(*_compact(tok, enc), labels, tok.config.max_len, device)

    @classmethod
    def of(cls, ids: np.ndarray, lengths: np.ndarray, labels, width: int, device) -> "Split":
        labels = np.asarray(labels)
        labels = labels.astype(np.float32) if labels.ndim == 2 else labels.astype(np.int64)
        return cls(torch.from_numpy(ids).to(device), torch.from_numpy(_offsets(lengths)).to(device), lengths,
                   torch.from_numpy(labels).to(device), width)

    @property
    def device(self) -> torch.device:
        return self.ids.device

    def batch(self, index: np.ndarray, width: int | None = None) -> torch.Tensor:
        """int64 (len(index), width) of the documents at index, 0-padded; width defaults
        to the widest of them."""
        widths = torch.from_numpy(self.lengths[index]).to(self.device)
        width = int(self.lengths[index].max()) if width is None else width
        cols = torch.arange(width, device=self.device)
        inside = cols < widths[:, None]
        start = self.offsets[torch.from_numpy(np.asarray(index)).to(self.device)]
        pos = torch.where(inside, start[:, None] + cols, 0)
        return torch.where(inside, self.ids[pos], 0).long()

    def chunks(self, batch_size: int) -> Iterator[tuple[int, torch.Tensor]]:
        """(first row, int64 (rows, max_len)) for consecutive rows, as the padded matrix had them."""
        for start in range(0, len(self), batch_size):
            yield start, self.batch(np.arange(start, min(len(self), start + batch_size)), self.width)

    def rows(self, index: np.ndarray) -> "Split":
        """The documents at index, as a split of their own."""
        index = np.asarray(index, np.int64)
        lengths, offsets = self.lengths[index], _offsets(self.lengths[index])
        sel = torch.from_numpy(index).to(self.device)
        # The k-th id of the new layout is the old one's, shifted by where its document moved.
        moved = self.offsets[sel] - torch.from_numpy(offsets[:-1]).to(self.device)
        shift = torch.repeat_interleave(moved, torch.from_numpy(lengths).to(self.device))
        ids = self.ids[torch.arange(int(offsets[-1]), device=self.device) + shift]
        return Split(ids, torch.from_numpy(offsets).to(self.device), lengths, self.labels[sel], self.width)

    @staticmethod
    def concat(parts: list["Split"]) -> "Split":
        """The documents of parts, one split after another."""
        lengths = np.concatenate([p.lengths for p in parts])
        return Split(torch.cat([p.ids for p in parts]), torch.from_numpy(_offsets(lengths)).to(parts[0].device), lengths,
                     torch.cat([p.labels for p in parts]), parts[0].width)


def _offsets(lengths: np.ndarray) -> np.ndarray:
    """int64 [n + 1]: where each of n documents of these lengths starts, and the end."""
    offsets = np.zeros(lengths.shape[0] + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def _compact(tok: Tokenizer, enc: Encoded) -> tuple[np.ndarray, np.ndarray]:
    """(ids int32, lengths int64) of the padded rows of enc: each row's first widths columns,
    its words first (rows padded in front are turned round)."""
    lengths = tok.config.widths(enc.lengths.astype(np.int64))
    ids, cols = enc.ids, np.arange(enc.ids.shape[1])
    if tok.config.padding == "pre":
        words = np.minimum(enc.lengths, ids.shape[1])[:, None]
        moved = np.take_along_axis(ids, np.clip(cols + ids.shape[1] - words, 0, ids.shape[1] - 1), axis=1)
        ids = np.where(cols < words, moved, 0).astype(np.int32)
    return ids[cols < lengths[:, None]], lengths
