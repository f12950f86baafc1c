"""The CUDA path: the same training and export code on a GPU. Skipped where torch sees none."""

import pytest
import torch

from fastnews.config import TrainConfig
from fastnews.export import export
from fastnews.train import train

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_train_on_cuda_then_export_parity(small_run, tmp_path):
    cfg = TrainConfig(data=str(small_run / "corpus"), glove=str(small_run / "glove.txt"), epochs=3, n_filters=8,
                      batch_size=8, max_len=32, out=str(tmp_path / "run"), device="cuda")
    result = train(cfg, progress=False, log=lambda *a: None)
    assert result.metrics["device"].startswith("cuda")
    assert result.metrics["test_accuracy"] > 0.5
    # the checkpoint is loaded on CPU for export; parity is checked against CPU PyTorch
    assert export(tmp_path / "run", tmp_path / "m.onnx", log=lambda *a: None).parity["rows"] == 282
