"""TextCNN: shapes, minimum length, and logits that do not depend on padding."""

import pytest
import torch

from fastnews.config import ModelConfig, TrainConfig
from fastnews.errors import TrainError
from fastnews.model import TextCNN


@pytest.mark.parametrize("cfg", [
    ModelConfig(n_ids=50, n_classes=4, embed_dim=8, n_filters=6, bow=False),
    ModelConfig(n_ids=50, n_classes=4, embed_dim=8, n_filters=6, bow=True),
    ModelConfig(n_ids=50, n_classes=4, embed_dim=8, n_filters=6, bow=True, bow_buckets=64),
    ModelConfig(n_ids=50, n_classes=4, embed_dim=8, n_filters=6, arch="seed", hidden=5),
])
def test_padding_does_not_change_logits(cfg):
    torch.manual_seed(0)
    model = TextCNN(cfg).eval()
    if cfg.bow:
        with torch.no_grad():  # trained scores, with the padding row kept at zero as in training
            torch.nn.init.normal_(model.bow.scores.weight)
            model.bow.scores.weight[0] = 0
            torch.nn.init.uniform_(model.bow.idf, 1.0, 3.0)
            model.bow.idf[0] = 0
    doc_lengths = [0, 2, cfg.min_len, cfg.min_len + 13, 300]
    width = max(doc_lengths)
    ids = torch.zeros(len(doc_lengths), width, dtype=torch.int64)
    for i, n in enumerate(doc_lengths):
        ids[i, :n] = torch.randint(1, cfg.n_ids, (n,))
    with torch.no_grad():
        batched = model(ids)
        for i, n in enumerate(doc_lengths):
            alone = model(ids[i:i + 1, :max(n, cfg.min_len)])
            wider = model(torch.nn.functional.pad(ids[i:i + 1], (0, 57)))
            torch.testing.assert_close(alone[0], batched[i], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(wider[0], batched[i], atol=1e-5, rtol=1e-5)
    assert batched.shape == (len(doc_lengths), 4)


def test_min_len():
    assert ModelConfig(10, 2, 4, kernel_sizes=(3, 4, 5)).min_len == 5
    assert ModelConfig(10, 2, 4, arch="seed").min_len == 149
    model = TextCNN(ModelConfig(n_ids=10, n_classes=2, embed_dim=4, n_filters=3, arch="seed", hidden=3)).eval()
    with torch.no_grad():
        assert model(torch.ones(2, 149, dtype=torch.int64)).shape == (2, 2)


def test_config_round_trip():
    cfg = ModelConfig(n_ids=7, n_classes=2, embed_dim=4, kernel_sizes=[2, 3], bow=True)
    assert cfg.kernel_sizes == (2, 3) and ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(TrainError, match="arch"):
        ModelConfig(7, 2, 4, arch="lstm")
    with pytest.raises(TrainError, match="kernel sizes"):
        ModelConfig(7, 2, 4, kernel_sizes=(0, 3))


def test_train_config_derives_the_model_config():
    """Every field the two configs share is TrainConfig's; the members' path and the score
    map come later, with the final model."""
    train = TrainConfig(arch="kim", kernel_sizes=(2, 4), n_filters=9, dropout=0.25, bow=False, bow_buckets=16,
                        bow_dropout=0.1, svm_buckets=64)
    model = train.model_config(100, 3, 8)
    assert (model.n_ids, model.n_classes, model.embed_dim) == (100, 3, 8)
    assert (model.kernel_sizes, model.n_filters, model.dropout, model.bow, model.bow_buckets, model.bow_dropout) == \
        ((2, 4), 9, 0.25, False, 16, 0.1)
    assert model.svm_buckets is None and model.top_label_map is None
    assert model.min_len == train.min_len == 4


def test_training_and_evaluation_convolutions_agree():
    """Training runs the convolutions over channels-last embeddings, evaluation and export
    over embeddings with zero channels up to CHANNEL_BLOCK (model.TextCNN._embed, _conv_relu):
    the same logits and the same gradients."""
    torch.manual_seed(0)
    model = TextCNN(ModelConfig(n_ids=300, n_classes=5, embed_dim=20, n_filters=12, dropout=0.0, bow=True,
                                bow_buckets=128, bow_dropout=0.0))
    ids = torch.randint(1, 300, (9, 140))
    ids[3, 20:] = 0
    out, grads = {}, {}
    for mode in ("train", "eval"):
        model.train(mode == "train")
        model.zero_grad()
        logits = model(ids)
        logits.square().sum().backward()
        out[mode] = logits.detach()
        grads[mode] = {n: p.grad.clone() for n, p in model.named_parameters()}
    assert model._embed(ids).shape[2] == 32  # eval: 20 channels padded to 2 blocks of 16
    assert torch.allclose(out["train"], out["eval"], atol=1e-5)
    for name in grads["eval"]:
        assert torch.allclose(grads["train"][name], grads["eval"][name], atol=1e-4), name
