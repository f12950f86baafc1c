"""The ragged split (ragged.py) gives the very tensors that cuts of the padded matrix gave."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from fastnews import ragged
from fastnews.ragged import Split
from fastnews.tokenize import Tokenizer, TokenizerConfig

TEXTS = ["alpha beta gamma", "", "beta " * 40, "ünïcode wörds and alpha", "zeta eta theta iota kappa",
         "   ", "gamma gamma"] * 5


def _padded(tok: Tokenizer, texts: list[str]) -> tuple[torch.Tensor, np.ndarray]:
    """The layout the ragged one replaced: (n, max_len) int32 and each row's widths. Its
    batches are padded after the words, whatever the tokenizer's padding."""
    enc = Tokenizer(tok.vocab, replace(tok.config, padding="post")).encode(texts)
    return torch.from_numpy(enc.ids), tok.config.widths(enc.lengths.astype(np.int64))


@pytest.mark.parametrize("padding", ["post", "pre"])
def test_batches_equal_cuts_of_the_padded_matrix(monkeypatch, padding):
    monkeypatch.setattr(ragged, "DOCS_PER_CHUNK", 4)  # several chunks, the last one short
    tok = Tokenizer.fit(TEXTS[:3], 10, TokenizerConfig(max_len=16, min_len=3, padding=padding))
    padded, widths = _padded(tok, TEXTS)
    labels = np.arange(len(TEXTS)) % 3
    split = Split.encode(tok, TEXTS, labels, "cpu")
    assert split.ids.dtype == torch.int32 and split.ids.shape[0] == widths.sum() < padded.numel()
    assert np.array_equal(split.lengths, widths)
    rng = np.random.default_rng(0)
    for _ in range(20):
        index = rng.choice(len(TEXTS), size=rng.integers(1, 9), replace=False)
        got = split.batch(index)
        assert got.dtype == torch.int64
        assert torch.equal(got, padded[torch.from_numpy(index), :int(widths[index].max())].long())
    chunks = list(split.chunks(5))
    assert [start for start, _ in chunks] == list(range(0, len(TEXTS), 5))
    assert torch.equal(torch.cat([x for _, x in chunks]), padded.long())
    part = split.rows(np.array([6, 0, 3, 3]))
    assert torch.equal(part.batch(np.arange(4), 16), padded[[6, 0, 3, 3]].long())
    assert torch.equal(part.labels, torch.tensor([0, 0, 0, 0]))
    both = Split.concat([part, split])
    assert len(both) == 4 + len(TEXTS)
    assert torch.equal(both.batch(np.arange(4, 4 + len(TEXTS)), 16), padded.long())
    assert torch.equal(both.labels[4:], split.labels)


def test_an_empty_split():
    tok = Tokenizer.fit(["a b"], 10, TokenizerConfig(max_len=8))
    split = Split.encode(tok, [], np.zeros(0, np.int64), "cpu")
    assert len(split) == 0 and list(split.chunks(4)) == []
