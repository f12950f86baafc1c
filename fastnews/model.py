"""TextCNN in PyTorch (its config, ModelConfig, lives in config.py).

Two architectures, both ending in a global max over time (which exports to ONNX at
any length, unlike AdaptiveMaxPool1d(k)):

* ``kim`` (default): parallel Conv1d branches of several widths over the embedded
  words, ReLU, global max, dropout, one linear layer (Kim, 2014).
* ``seed``: the original recipe's stack, three blocks of Conv1d(128, 5) + ReLU +
  MaxPool(5), then Dense(128) + ReLU and the output layer.

With ``bow`` (the default recipe), the sparse path of sparse.py adds its TF-IDF-weighted
class scores of the same ids to the CNN's logits; the two are trained jointly. With
``svm_buckets`` set, the linear members' path (members.py: an SVM and Complement NB over
words and hashed bigrams, fitted after training) adds its scores too.

Padding never changes a result: the input ids are padded with 0 after the words,
the true length is recovered in the graph as the number of non-zero ids, and every
position whose receptive field reaches past max(length, min_len) is zeroed before
pooling. So a document gets the same logits whatever it is batched with.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from fastnews.config import ModelConfig
from fastnews.sparse import SparseNgrams

# Calibrated probabilities keep the top label this much above the second, in log-odds
# (calibrated_probabilities): a tie would let argmax pick another label.
TOP_MARGIN = 1e-3
# onnxruntime's blocked convolutions (NCHWc) take channels in blocks of 16 on AVX-512, 8 on AVX2.
CHANNEL_BLOCK = 16


def _valid_mask(n_eff: torch.Tensor, length: int, lost: int) -> torch.Tensor:
    """(B, length) float mask: 1 where position t's window ends inside the document,
    i.e. t < n_eff - lost."""
    t = torch.arange(length, device=n_eff.device)
    return (t.unsqueeze(0) < (n_eff - lost).unsqueeze(1)).to(torch.float32)


def calibrated_probabilities(logits: torch.Tensor, a: float, b: float) -> torch.Tensor:
    """Class probabilities (B, K) of logits with the top label's log-odds L mapped to
    a * L + b; the other classes share the rest as their softmax does. L is taken from the
    logits (z1 minus the log-sum-exp of the others), so it stays exact where the top
    probability rounds to 1. The new log-odds are kept TOP_MARGIN above log(p2 / (1 - p1)),
    p2 the second probability, which keeps the top label on top: the argmax never changes.
    (tests/naive.py has the plain twin.)"""
    top, where = logits.max(dim=1, keepdim=True)                       # (B, 1)
    others = logits.scatter(1, where, float("-inf"))
    rest = torch.logsumexp(others, dim=1, keepdim=True)
    odds = torch.maximum(a * (top - rest) + b, others.max(dim=1, keepdim=True).values - rest + TOP_MARGIN)
    new_top = torch.sigmoid(odds)
    return (torch.softmax(others, dim=1) * (1 - new_top)).scatter(1, where, new_top)


class TextCNN(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.n_ids, c.embed_dim, padding_idx=0)
        if c.arch == "kim":
            self.convs = nn.ModuleList(nn.Conv1d(c.embed_dim, c.n_filters, k) for k in c.kernel_sizes)
            features = c.n_filters * len(c.kernel_sizes)
            self.hidden = None
        else:
            self.convs = nn.ModuleList(
                nn.Conv1d(c.embed_dim if i == 0 else c.n_filters, c.n_filters, 5) for i in range(3))
            features = c.n_filters
            self.hidden = nn.Linear(c.n_filters, c.hidden)
        self.dropout = nn.Dropout(c.dropout)
        self.out = nn.Linear(c.hidden if c.arch == "seed" else features, c.n_classes)
        # TF-IDF-weighted class scores of words and bigrams: a linear model trained jointly
        # with the CNN. It keeps rare but telling words (names, hosts, jargon) and phrases
        # that a 50-d convolution tends to wash out. Starts at zero.
        self.bow = SparseNgrams(c.n_ids, c.n_classes, c.bow_buckets, c.bow_dropout) if c.bow else None
        # The linear members (members.py): a second sparse path over words and bigrams,
        # fitted after training, their weights folded into its table.
        self.svm = SparseNgrams(c.n_ids, c.n_classes, c.svm_buckets) if c.svm_buckets is not None else None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids: int64 (B, T), 0-padded after the words, T >= min_len -> logits (B, n_classes),
        the sum of the CNN's and the sparse path's."""
        n_words = (ids != 0).sum(dim=1)  # (B,)
        n_eff = n_words.clamp(min=self.config.min_len)
        if self.config.arch == "kim":
            emb = self._embed(ids)
            pooled = []
            for conv in self.convs:
                h = self._conv_relu(conv, emb)  # (B, F, T - k + 1)
                # ReLU output is >= 0, so zeroing invalid positions leaves the max over
                # valid ones unchanged (there is at least one: n_eff >= min_len >= k).
                h = h * _valid_mask(n_eff, h.shape[2], conv.kernel_size[0] - 1).unsqueeze(1)
                pooled.append(h.amax(dim=2))  # (B, F)
            z = torch.cat(pooled, dim=1)
        else:
            valid = n_eff
            h = self.embedding(ids).transpose(1, 2)  # (B, E, T)
            for i, conv in enumerate(self.convs):
                h = F.relu(conv(h))
                valid = valid - 4
                h = h * _valid_mask(valid, h.shape[2], 0).unsqueeze(1)
                if i < 2:
                    h = F.max_pool1d(h, 5)
                    valid = torch.div(valid, 5, rounding_mode="floor")
            z = F.relu(self.hidden(self.dropout(h.amax(dim=2))))
        logits = self.out(self.dropout(z))
        if self.bow is not None:
            logits = logits + self.bow(ids).to(logits.dtype)
        if self.svm is not None:
            logits = logits + self.svm(ids).to(logits.dtype)
        return logits

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Calibrated class probabilities (B, n_classes) of logits: softmax, then the
        config's top-label map (calibration.py), if any; a multi-label model's sigmoid."""
        if self.config.multi_label:
            return torch.sigmoid(logits.float())
        if self.config.top_label_map is None:
            return torch.softmax(logits.float(), dim=1)
        return calibrated_probabilities(logits.float(), *self.config.top_label_map)

    def chosen(self, logits: torch.Tensor) -> torch.Tensor:
        """A multi-label model's label sets, bool (B, n_classes): the labels whose logit
        reaches its threshold (0 without thresholds: probability 0.5), and the top label
        always (multilabel.chosen_mask is the numpy twin)."""
        logits = logits.float()
        thresholds = logits.new_tensor(self.config.thresholds or [0.0] * logits.shape[1])
        return (logits >= thresholds) | (logits == logits.amax(dim=1, keepdim=True))

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        """The embedded words (B, T, E); in evaluation (and ONNX export) (B, T, E') with E'
        the embedding width rounded up to CHANNEL_BLOCK, the extra channels zero. onnxruntime
        runs a convolution over such channels in its blocked layout (NCHWc), 1.6x faster per
        FLOP than over 50 channels (bench/RESULTS.md). The padded table is a constant that
        onnxruntime folds when it loads the model."""
        extra = -self.config.embed_dim % CHANNEL_BLOCK
        if self.training or not extra:
            return self.embedding(ids)
        return F.embedding(ids, F.pad(self.embedding.weight, (0, extra)))

    def _conv_relu(self, conv: nn.Conv1d, emb: torch.Tensor) -> torch.Tensor:
        """ReLU(conv) over the embedded words emb (B, T, E or E') -> (B, F, T - k + 1), as a
        Conv2d over a (B, E, 1, T) image. In training, that image's memory is channels-last,
        which is emb as it lies: no transposed copy, and oneDNN's channels-last kernels
        made a training epoch 1.25x faster on CPU. Otherwise, over the E' channels of
        _embed, with zero weights on the extra ones. Same parameters, same function;
        tests/test_model.py checks the two agree."""
        x = emb.unsqueeze(1).permute(0, 3, 1, 2)                        # (B, E, 1, T)
        weight = conv.weight.unsqueeze(2)                                # (F, E, 1, k)
        if emb.shape[2] > weight.shape[1]:
            f, e, _, k = weight.shape
            weight = torch.cat([weight, weight.new_zeros(f, emb.shape[2] - e, 1, k)], dim=1)
        return F.relu(F.conv2d(x, weight, conv.bias)).squeeze(2)  # ReLU first: onnxruntime fuses it

    @torch.no_grad()
    def load_embeddings(self, matrix, trainable: bool = True) -> None:
        self.embedding.weight.copy_(torch.as_tensor(matrix))
        self.embedding.weight.requires_grad_(trainable)
