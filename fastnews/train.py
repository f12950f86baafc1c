"""Training a TextCNN: corpus -> tokenizer -> GloVe embeddings -> model -> run directory.

    from fastnews.train import TrainConfig, train
    result = train(TrainConfig(data="20news-bydate.tar.gz", epochs=8))

Where the speed comes from: every split is tokenized once into an int32 matrix that
stays in memory (on the GPU with --device cuda); batches are drawn from length
buckets, so each batch is cut to its own longest document instead of max_len; and
nothing inside an epoch waits on the host (losses are summed on the device and read
once per epoch).

A run directory holds:
    model.pt         best weights + everything needed to use them (config, vocabulary,
                     labels, tokenizer settings); loads with torch.load(weights_only=True)
    checkpoint.pt    the last finished epoch, with optimizer, scheduler and RNG states, for --resume
    config.json      the final TrainConfig
    metrics.json     per-epoch loss and validation accuracy, test accuracy and macro-F1, docs/s
    confusion.png    test-set confusion matrix
    curves.png       training loss and validation accuracy per epoch
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fastnews import __version__
from fastnews.atomic import atomic_path, remove_stale_temporaries, write_text
from fastnews.config import TrainConfig, TrainError
from fastnews.corpus import Splits, default_corpus_path, load_corpus, stratified_split
from fastnews.distributed import World, shutdown, world_from_env
from fastnews.distributed import init as join_world
from fastnews.glove import load as load_glove
from fastnews.metrics import plot_confusion, plot_curves, report
from fastnews.model import ModelConfig, TextCNN
from fastnews.tokenize import N_SPECIAL, Encoded, Tokenizer, TokenizerConfig

RUN_FORMAT = "fastnews-run"


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict


# ---------------------------------------------------------------------------
# Setup.


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("--device cuda was asked for, but torch sees no CUDA device "
                         f"(torch {torch.__version__}); use --device cpu or auto")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise TrainError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def _run_dir(cfg: TrainConfig) -> Path:
    if cfg.out:
        return Path(cfg.out)
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


@dataclass
class _Split:
    ids: torch.Tensor      # int64 [n, max_len] on the training device
    lengths: np.ndarray    # int64 [n], clipped to [min_len, max_len]: the columns a batch needs
    labels: torch.Tensor   # int64 [n] on the device


def _as_split(tok: Tokenizer, enc: Encoded, labels: np.ndarray, device) -> _Split:
    lengths = np.clip(enc.lengths.astype(np.int64), tok.config.min_len, tok.config.max_len)
    return _Split(torch.from_numpy(enc.ids.astype(np.int64)).to(device), lengths,
                  torch.from_numpy(np.asarray(labels, np.int64)).to(device))


def _rows(split: _Split, index: np.ndarray) -> _Split:
    sel = torch.from_numpy(index).to(split.ids.device)
    return _Split(split.ids[sel], split.lengths[index], split.labels[sel])


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of documents of similar length, in random order.

    Sort by length with a little noise (so batches differ between epochs), cut into
    batches, shuffle the batches. Padding is then a few percent of the work, not most of it."""
    noisy = lengths * rng.uniform(0.9, 1.1, size=lengths.shape[0])
    order = np.argsort(noisy, kind="stable")
    batches = [order[i:i + batch_size] for i in range(0, order.shape[0], batch_size)]
    rng.shuffle(batches)
    return batches


def _sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, order.shape[0], batch_size)]


@torch.no_grad()
def predict_logits(model: TextCNN, split: _Split, batch_size: int = 512) -> np.ndarray:
    """float32 [n, n_classes], in the split's order."""
    model.eval()
    out = torch.empty(split.ids.shape[0], model.config.n_classes, device=split.ids.device)
    for idx in _sorted_batches(split.lengths, batch_size):
        width = int(split.lengths[idx].max())
        sel = torch.from_numpy(idx).to(split.ids.device)
        with _autocast(split.ids.device):
            out[sel] = model(split.ids[sel, :width]).float()
    return out.cpu().numpy()


def _autocast(device: torch.device):
    # bf16 on CUDA: conv and matmul in tensor cores, no loss scaling needed.
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)


def _lr_lambda(total_steps: int, warmup: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return f


# ---------------------------------------------------------------------------
# Checkpoints. Everything in them is tensors, numbers, strings, lists and dicts, so
# torch.load(weights_only=True) reads them and a pickle cannot run code on load.


def _save(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TrainError(f"no such file: {path}") from None
    except Exception as exc:
        raise TrainError(f"{path}: not a loadable fastnews checkpoint ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != RUN_FORMAT:
        raise TrainError(f"{path}: not a fastnews checkpoint")
    return ckpt


@dataclass
class LoadedRun:
    model: TextCNN
    tokenizer: Tokenizer
    labels: list[str]
    checkpoint: dict


def load_run(run: str | os.PathLike) -> LoadedRun:
    """The best model of a run directory (or a model.pt path), ready for inference on CPU."""
    run = Path(run)
    path = run / "model.pt" if run.is_dir() else run
    ckpt = load_checkpoint(path)
    model = TextCNN(ModelConfig.from_dict(ckpt["model_config"]))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    tok = Tokenizer.from_settings(ckpt["vocab"], ckpt["tokenizer"])
    return LoadedRun(model, tok, list(ckpt["labels"]), ckpt)


def run_logits(run: LoadedRun, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """float32 [n, n_classes] from a loaded run, in PyTorch on the CPU."""
    split = _as_split(run.tokenizer, run.tokenizer.encode(texts), np.zeros(len(texts), np.int64), "cpu")
    return predict_logits(run.model, split, batch_size)


def _rng_state(np_rng: np.random.Generator, world: World) -> dict:
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


def _set_rng_state(state: dict, np_rng: np.random.Generator, world: World) -> None:
    ranks = state.get("ranks") or []
    mine = ranks[world.rank] if len(ranks) == world.size else state
    torch.set_rng_state(mine["torch"])
    np_rng.bit_generator.state = json.loads(state["numpy"])
    if "cuda" in mine and torch.cuda.is_available():
        if isinstance(mine["cuda"], list):  # one state per visible device (a single process)
            torch.cuda.set_rng_state_all(mine["cuda"])
        else:
            torch.cuda.set_rng_state(mine["cuda"])


# ---------------------------------------------------------------------------
# The loop.


def prepare_data(cfg: TrainConfig, log=print) -> Splits:
    path = cfg.data or str(default_corpus_path())
    splits = load_corpus(path, keep_headers=cfg.keep_headers, test_fraction=cfg.test_fraction, seed=cfg.seed)
    log(f"corpus {splits.source}: {len(splits.train)} train, {len(splits.test)} test "
        f"({splits.test_from}), {len(splits.train.label_names)} classes")
    return splits


def train(cfg: TrainConfig, resume: str | os.PathLike | None = None, progress: bool = True,
          log=print, on_epoch=None) -> RunResult:
    """Train, evaluate on the test split, and write a run directory.

    on_epoch(epoch, model, tokenizer), if given, is called on rank 0 after each epoch's
    checkpoint, outside the epoch's timing (bench/train.py scores the test split there,
    for the record; nothing in training reads what it does).

    Under torchrun (WORLD_SIZE > 1) every process calls this; they train one model
    with DistributedDataParallel, and only rank 0 logs and writes (see distributed.py)."""
    world = world_from_env()
    if not world.is_main:
        log, progress = (lambda *a, **k: None), False
    resume_ckpt = None
    if resume is not None:
        resume_ckpt = load_checkpoint(Path(resume) / "checkpoint.pt")
        # The run's own config, except where it ran (device and threads belong to the machine).
        cfg = TrainConfig(**{**resume_ckpt["train_config"], "device": cfg.device, "threads": cfg.threads,
                             "out": str(resume)})

    device = join_world(world, resolve_device(cfg.device))
    if cfg.threads or device.type == "cpu":
        # Processes on one machine share its cores.
        torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 1) // world.local_size))
    torch.manual_seed(cfg.seed)
    np_rng = np.random.default_rng(cfg.seed)

    min_len = cfg.model_config(1, 2, 1).min_len
    if cfg.max_len < min_len:
        raise TrainError(f"--max-len {cfg.max_len} is shorter than the {cfg.arch} conv stack's minimum of {min_len}")
    run_dir = _run_dir(cfg)
    if resume is None and (run_dir / "checkpoint.pt").exists():
        raise TrainError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")

    splits = prepare_data(cfg, log)
    cfg.data = splits.source  # record where the default corpus was found, for resume and export
    glove = load_glove(cfg.glove)  # fails fast on a bad GloVe file, before tokenizing
    names = splits.train.label_names
    train_idx, val_idx = stratified_split(splits.train.labels, cfg.val_fraction, cfg.seed)
    train_part, val_part = splits.train.subset(train_idx), splits.train.subset(val_idx)

    t0 = time.perf_counter()
    tok_cfg = TokenizerConfig(max_len=cfg.max_len, min_len=min_len)
    if resume_ckpt:
        tok = Tokenizer(resume_ckpt["vocab"], tok_cfg)
        train_enc = tok.encode(train_part.texts)
    else:  # fit and encode the training texts in one split of them
        tok, train_enc = Tokenizer.fit_encode(train_part.texts, cfg.vocab_size, tok_cfg)
    data = {"train": _as_split(tok, train_enc, train_part.labels, device),
            "val": _as_split(tok, tok.encode(val_part.texts), val_part.labels, device),
            "test": _as_split(tok, tok.encode(splits.test.texts), splits.test.labels, device)}
    matrix, n_found = glove.embedding_matrix(tok.table, N_SPECIAL, seed=cfg.seed)
    log(f"tokenized in {time.perf_counter() - t0:.1f}s: vocabulary {len(tok.vocab)} words, "
        f"{n_found} found in GloVe ({n_found / max(1, len(tok.vocab)):.1%}), dim {glove.dim}")

    mcfg = cfg.model_config(tok.n_ids, len(names), glove.dim)
    model = TextCNN(mcfg)
    model.load_embeddings(matrix, trainable=not cfg.freeze_embeddings)
    model.to(device)
    # Embedding tables (GloVe, and the bag-of-words scores) get their own learning rate
    # and no weight decay: most rows are touched rarely, and decay would erase them.
    emb = [model.embedding.weight] if not cfg.freeze_embeddings else []
    bow = [model.bow.weight] if model.bow is not None else []
    rest = [p for n, p in model.named_parameters() if not n.startswith(("embedding.", "bow."))]
    opt = torch.optim.AdamW([{"params": rest, "lr": cfg.lr, "weight_decay": cfg.weight_decay},
                             {"params": emb, "lr": cfg.embed_lr, "weight_decay": 0.0},
                             {"params": bow, "lr": cfg.bow_lr, "weight_decay": 0.0}])
    steps_per_epoch = math.ceil(len(train_idx) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg.epochs * steps_per_epoch, steps_per_epoch // 2))
    step_model = model
    if world.enabled:
        from torch.nn.parallel import DistributedDataParallel
        torch.manual_seed(cfg.seed * 1_000_003 + world.rank)  # own dropout masks per rank
        step_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    step_model = torch.compile(step_model) if cfg.compile else step_model
    # Validation is sharded like training; the correct counts are summed across ranks.
    val_mine = _rows(data["val"], np.arange(world.rank, len(val_idx), world.size))

    history, best, start_epoch = [], {"val_accuracy": -1.0, "epoch": 0}, 1
    best_state = None
    if resume_ckpt:
        model.load_state_dict(resume_ckpt["state_dict"])
        opt.load_state_dict(resume_ckpt["optimizer"])
        sched.load_state_dict(resume_ckpt["scheduler"])
        _set_rng_state(resume_ckpt["rng"], np_rng, world)
        history, best = resume_ckpt["history"], resume_ckpt["best"]
        best_state = resume_ckpt["best_state_dict"]
        start_epoch = resume_ckpt["epoch"] + 1
        log(f"resuming {run_dir} after epoch {resume_ckpt['epoch']}")
    if world.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(run_dir)  # a killed run may have left one behind
        write_text(run_dir / "config.json", json.dumps(asdict(cfg), indent=1))

    def common() -> dict:
        return {"format": RUN_FORMAT, "fastnews_version": __version__, "model_config": mcfg.to_dict(),
                "train_config": asdict(cfg), "vocab": tok.vocab, "labels": names,
                "tokenizer": tok.settings(), "n_found_in_glove": n_found}

    where = f"{world.size} processes on {device.type}" if world.enabled else str(device)
    log(f"training {mcfg.arch} TextCNN ({sum(p.numel() for p in model.parameters()):,} parameters) "
        f"on {where} for up to {cfg.epochs} epochs -> {run_dir}")
    from tqdm.auto import tqdm

    stale = sum(1 for h in history if h["epoch"] > best["epoch"])
    try:
        for epoch in range(start_epoch, cfg.epochs + 1):
            if stale >= cfg.patience:
                log(f"early stop: no better validation accuracy for {cfg.patience} epochs")
                break
            model.train()
            batches = bucketed_batches(data["train"].lengths, cfg.batch_size, np_rng)
            loss_sum = torch.zeros((), device=device)
            t_epoch = time.perf_counter()
            bar = tqdm(total=len(train_idx), unit="doc", unit_scale=True, disable=not progress or None,
                       desc=f"epoch {epoch}/{cfg.epochs}", leave=False, dynamic_ncols=True)
            for step, batch in enumerate(batches, start=1):
                idx, weight = world.shard(batch)
                width = int(data["train"].lengths[idx].max())
                sel = torch.from_numpy(idx).to(device, non_blocking=True)
                x, y = data["train"].ids[sel, :width], data["train"].labels[sel]
                with _autocast(device):
                    shard_loss = F.cross_entropy(step_model(x).float(), y, label_smoothing=cfg.label_smoothing,
                                                 reduction="sum") * weight
                # The global batch's mean loss, once DDP averages the ranks' gradients.
                loss = shard_loss * (world.size / len(batch))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum += shard_loss.detach()
                bar.update(len(batch))
                if not bar.disable and step % 32 == 0:
                    # The running loss, read once per 32 batches: the only host sync in
                    # the epoch, and only when the bar is shown. (Rank 0's shard.)
                    bar.set_postfix(loss=f"{float(loss_sum) / (bar.n / world.size):.4f}", refresh=False)
            bar.close()
            seconds = time.perf_counter() - t_epoch
            val_right = (torch.from_numpy(predict_logits(model, val_mine).argmax(1)).to(device) == val_mine.labels).sum()
            totals = world.all_sum(torch.stack([loss_sum.float(), val_right.float()]))
            train_loss, val_acc = float(totals[0]) / len(train_idx), float(totals[1]) / len(val_idx)
            history.append({"epoch": epoch, "train_loss": train_loss, "val_accuracy": val_acc,
                            "seconds": seconds, "docs_per_s": len(train_idx) / seconds})
            improved = val_acc > best["val_accuracy"]
            if improved:
                best = {"val_accuracy": val_acc, "epoch": epoch}
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                if world.is_main:
                    _save({**common(), "state_dict": best_state, "epoch": epoch}, run_dir / "model.pt")
            stale = 0 if improved else stale + 1
            rng = _rng_state(np_rng, world)  # collective: every rank takes part
            if world.is_main:
                _save({**common(), "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                       "best_state_dict": best_state, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                       "rng": rng, "epoch": epoch, "history": history, "best": best},
                      run_dir / "checkpoint.pt")
            log(f"epoch {epoch:2d}  loss {train_loss:.4f}  val acc {val_acc:.4f}{' *' if improved else '  '} "
                f"{seconds:6.1f}s  {len(train_idx) / seconds:7.0f} docs/s")
            if on_epoch is not None and world.is_main:
                on_epoch(epoch, model, tok)
    except KeyboardInterrupt:
        log(f"interrupted; the last finished epoch is saved. Continue with: fastnews train --resume {run_dir}")
        raise

    model.load_state_dict(best_state)
    if not world.is_main:  # rank 0 scores the test split and writes the results
        metrics = world.broadcast(None)
        shutdown(world)
        return RunResult(run_dir, metrics)
    test_logits = predict_logits(model, data["test"])
    rep = report(splits.test.labels, test_logits.argmax(1), names)
    train_seconds = sum(h["seconds"] for h in history)
    metrics = {
        "fastnews_version": __version__, "device": str(device), "torch": str(torch.__version__),
        "threads": torch.get_num_threads(), "processes": world.size, "corpus": splits.source, "test_from": splits.test_from,
        "n_train": len(train_idx), "n_val": len(val_idx), "n_test": len(splits.test),
        "vocab_size": len(tok.vocab), "n_found_in_glove": n_found, "glove": glove.meta.get("package") or glove.meta.get("source"),
        "epochs_run": len(history), "best_epoch": best["epoch"], "best_val_accuracy": best["val_accuracy"],
        "train_seconds": train_seconds, "docs_per_s": sum(h["docs_per_s"] for h in history) / max(1, len(history)),
        "test_accuracy": rep["accuracy"], "test_macro_f1": rep["macro_f1"],
        "history": history, "test_per_class": rep["per_class"],
    }
    write_text(run_dir / "metrics.json", json.dumps(metrics, indent=1))
    _save({**common(), "state_dict": best_state, "epoch": best["epoch"], "metrics": _summary(metrics)},
          run_dir / "model.pt")
    plot_confusion(rep["confusion"], names, run_dir / "confusion.png",
                   title=f"test accuracy {rep['accuracy']:.3f}")
    plot_curves(history, run_dir / "curves.png")
    log(f"test accuracy {rep['accuracy']:.4f}  macro-F1 {rep['macro_f1']:.4f}  "
        f"(best epoch {best['epoch']}, {train_seconds:.0f}s of training)")
    world.broadcast(metrics)
    shutdown(world)
    return RunResult(run_dir, metrics)


def _summary(metrics: dict) -> dict:
    """The scalar metrics, for the model file and the ONNX metadata."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}
