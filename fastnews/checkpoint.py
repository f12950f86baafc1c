"""Run directories and checkpoints: save, load, and score a trained model with PyTorch.

    from fastnews.checkpoint import load_run, run_logits
    run = load_run("runs/a")                  # the best model, on the CPU
    logits = run_logits(run, texts)           # float32 [n, n_classes]

Everything in a checkpoint is tensors, numbers, strings, lists and dicts, so
torch.load(weights_only=True) reads it and a pickle cannot run code on load.
export.py and the CLI's evaluate use this module; none of them imports train.py.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fastnews.atomic import atomic_path
from fastnews.batching import length_batches
from fastnews.errors import ModelFileError
from fastnews.distributed import World
from fastnews.model import ModelConfig, TextCNN
from fastnews.ragged import Split
from fastnews.tokenize import Tokenizer

RUN_FORMAT = "fastnews-run"


def save(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelFileError(f"no such file: {path}") from None
    except Exception as exc:
        raise ModelFileError(f"{path}: not a loadable fastnews checkpoint ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != RUN_FORMAT:
        raise ModelFileError(f"{path}: not a fastnews checkpoint")
    return ckpt


def autocast(device: torch.device):
    # bf16 on CUDA: conv and matmul in tensor cores, no loss scaling needed.
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


@torch.no_grad()
def predict_logits(model: TextCNN, split: Split, batch_size: int = 512) -> np.ndarray:
    """float32 [n, n_classes], in the split's order; batches of similar length, each cut
    to its longest document."""
    model.eval()
    out = torch.empty(len(split), model.config.n_classes, device=split.device)
    for idx in length_batches(split.lengths, batch_size):
        with autocast(split.device):
            out[torch.from_numpy(idx).to(split.device)] = model(split.batch(idx)).float()
    return out.cpu().numpy()


def snapshot(model: torch.nn.Module) -> dict:
    """A copy of model's weights on the CPU (the best epoch's, kept while training goes on)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


@dataclass
class LoadedRun:
    model: TextCNN
    tokenizer: Tokenizer
    labels: list[str]
    checkpoint: dict


def load_run(run: str | os.PathLike) -> LoadedRun:
    """The best model of a run directory (or a model.pt path), ready for inference on CPU."""
    run = Path(run)
    ckpt = load_checkpoint(run / "model.pt" if run.is_dir() else run)
    model = TextCNN(ModelConfig.from_dict(ckpt["model_config"]))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    tok = Tokenizer.from_settings(ckpt["vocab"], ckpt["tokenizer"])
    return LoadedRun(model, tok, list(ckpt["labels"]), ckpt)


def run_logits(run: LoadedRun, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """float32 [n, n_classes] from a loaded run, in PyTorch on the CPU."""
    split = Split.from_encoded(run.tokenizer, run.tokenizer.encode(texts), np.zeros(len(texts), np.int64), "cpu")
    return predict_logits(run.model, split, batch_size)


def run_outputs(run: LoadedRun, texts: list[str], batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(logits, calibrated probabilities) from a loaded run, as the exported graph gives them."""
    logits = run_logits(run, texts, batch_size)
    with torch.no_grad():
        return logits, run.model.probabilities(torch.from_numpy(logits)).numpy()


def rng_state(np_rng: np.random.Generator, world: World) -> dict:
    """RNG states for resume. numpy draws the batch order, the same on every rank; torch
    draws dropout, different per rank, so under DDP every rank's state is kept, in rank
    order. A collective call: every rank must make it."""
    local = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        local["cuda"] = torch.cuda.get_rng_state() if world.enabled else torch.cuda.get_rng_state_all()
    ranks = world.gather(local)
    state = {**ranks[0], "numpy": json.dumps(np_rng.bit_generator.state)}
    if world.enabled:
        state["ranks"] = ranks
    return state


def set_rng_state(state: dict, np_rng: np.random.Generator, world: World) -> None:
    ranks = state.get("ranks") or []
    mine = ranks[world.rank] if len(ranks) == world.size else state
    torch.set_rng_state(mine["torch"])
    np_rng.bit_generator.state = json.loads(state["numpy"])
    if "cuda" in mine and torch.cuda.is_available():
        if isinstance(mine["cuda"], list):  # one state per visible device (a single process)
            torch.cuda.set_rng_state_all(mine["cuda"])
        else:
            torch.cuda.set_rng_state(mine["cuda"])
