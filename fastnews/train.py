"""Training a TextCNN: corpus -> tokenizer -> GloVe embeddings -> model -> run directory.

    from fastnews.train import TrainConfig, train
    result = train(TrainConfig(data="20news-bydate.tar.gz", epochs=8))

Where the speed comes from: every split is tokenized once and stays in memory, ragged
(ragged.py: each document's ids and no padding; on the GPU with --device cuda); batches
are drawn from length buckets, so each batch is cut to its own longest document; and
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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fastnews import __version__, crossfit
from fastnews.atomic import remove_stale_temporaries, write_text
from fastnews.batching import bucketed_batches
from fastnews.checkpoint import (RUN_FORMAT, autocast, load_checkpoint, predict_logits, rng_state, save, set_rng_state,
                                 snapshot)
from fastnews.config import TrainConfig
from fastnews.errors import TrainError
from fastnews.corpus import Corpus, Splits, default_corpus_path, load_corpus
from fastnews.artifact import corpus_options
from fastnews.labels import label_counts
from fastnews.splitting import class_weights, validation_split
from fastnews.distributed import World, resolve_device, shutdown, world_from_env
from fastnews.distributed import init as join_world
from fastnews.glove import GloveStore
from fastnews.glove import load as load_glove
from fastnews.finish import finish
from fastnews.model import TextCNN
from fastnews.ragged import Split
from fastnews.progress import progress_bar
from fastnews.sparse import document_frequencies
from fastnews.tokenize import N_SPECIAL, Tokenizer, TokenizerConfig


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict


@dataclass
class _Session:
    """What the steps of one training run share."""
    cfg: TrainConfig
    world: World
    device: torch.device
    run_dir: Path
    log: object
    resumed: dict | None = None          # the checkpoint being resumed, if any
    tok: Tokenizer | None = None
    data: dict[str, Split] | None = None  # "train", "val", "test"
    names: list[str] | None = None        # label names
    n_found: int = 0                      # vocabulary words that have a GloVe vector
    model: TextCNN | None = None
    train_index: np.ndarray | None = None  # where train's and val's documents sit in the corpus's train split
    val_index: np.ndarray | None = None
    class_weight: torch.Tensor | None = None  # the loss's per-class weights (--class-weight)
    progress: bool = False                    # progress bars on a terminal (rank 0's main run)

    def header(self) -> dict:
        """What model.pt and checkpoint.pt both carry: everything inference needs but weights."""
        return {"format": RUN_FORMAT, "fastnews_version": __version__, "model_config": self.model.config.to_dict(),
                "train_config": asdict(self.cfg), "vocab": self.tok.vocab, "labels": self.names,
                "tokenizer": self.tok.settings(), "n_found_in_glove": self.n_found}


@dataclass
class _Progress:
    """The loop's state that a checkpoint keeps."""
    history: list[dict]
    best: dict                  # {"val_accuracy", "epoch"}
    best_state: dict | None     # the best epoch's weights, on the CPU
    start_epoch: int = 1

    def stale(self) -> int:
        return sum(1 for h in self.history if h["epoch"] > self.best["epoch"])


def train(cfg: TrainConfig, resume: str | os.PathLike | None = None, progress: bool = True,
          log=print, on_epoch=None) -> RunResult:
    """Train, evaluate on the test split, and write a run directory.

    on_epoch(epoch, model, tokenizer), if given, is called on rank 0 after each epoch's
    checkpoint, outside the epoch's timing (bench/train.py scores the test split there,
    for the record; nothing in training reads what it does).

    Under torchrun (WORLD_SIZE > 1) every process calls this; they train one model
    with DistributedDataParallel, and only rank 0 logs and writes (see distributed.py)."""
    s = setup(cfg, resume, log)
    s.progress = progress and s.world.is_main
    splits = prepare_data(s.cfg, s.log, s.progress)
    s.cfg = replace(s.cfg, data=splits.source)  # where the default corpus was found, for resume and export
    glove = load_glove(s.cfg.glove)  # fails fast, before tokenizing
    tokenize_splits(s, splits, glove)
    opt, sched, step_model = build_model(s, glove)
    state = restore(s, opt, sched) if s.resumed else _Progress([], {"val_accuracy": -1.0, "epoch": 0}, None)
    if s.world.is_main:
        s.run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(s.run_dir)  # a killed run may have left one behind
        write_text(s.run_dir / "config.json", json.dumps(asdict(s.cfg), indent=1))
    np_rng = np.random.default_rng(s.cfg.seed)
    if s.resumed:
        set_rng_state(s.resumed["rng"], np_rng, s.world)

    def after_epoch(epoch: int) -> None:
        save_checkpoint(s, state, opt, sched, np_rng, epoch)
        if on_epoch is not None and s.world.is_main:
            on_epoch(epoch, s.model, s.tok)
    try:
        run_epochs(s, state, step_model, opt, sched, np_rng, after_epoch)
    except KeyboardInterrupt:
        s.log(f"interrupted; the last finished epoch is saved. Continue with: fastnews train --resume {s.run_dir}")
        raise
    s.model.load_state_dict(state.best_state)
    metrics = finish(s, state, splits, glove, fit_fold) if s.world.is_main else s.world.broadcast(None)
    shutdown(s.world)
    return RunResult(s.run_dir, metrics)


# ---------------------------------------------------------------------------
# The steps.


def setup(cfg: TrainConfig, resume, log) -> _Session:
    """The world, the device, the threads, the seed and the run directory; on resume,
    the run's own config (except where it runs: device and threads belong to the machine)."""
    world = world_from_env()
    if not world.is_main:
        log = lambda *a, **k: None  # noqa: E731
    resumed = None
    if resume is not None:
        resumed = load_checkpoint(Path(resume) / "checkpoint.pt")
        cfg = TrainConfig(**{**resumed["train_config"], "device": cfg.device, "threads": cfg.threads,
                             "out": str(resume)})
    device = join_world(world, resolve_device(cfg.device))
    if cfg.threads or device.type == "cpu":
        # Processes on one machine share its cores.
        torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 1) // world.local_size))
    torch.manual_seed(cfg.seed)
    if cfg.max_len < cfg.min_len:
        raise TrainError(f"--max-len {cfg.max_len} is shorter than the {cfg.arch} conv stack's minimum of {cfg.min_len}")
    run_dir = Path(cfg.out) if cfg.out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    if resume is None and (run_dir / "checkpoint.pt").exists():
        raise TrainError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
    return _Session(cfg, world, device, run_dir, log, resumed)


def prepare_data(cfg: TrainConfig, log=print, progress: bool = False) -> Splits:
    path = cfg.data or str(default_corpus_path())
    splits = load_corpus(path, **corpus_options(asdict(cfg)), progress=progress)
    counts = label_counts(splits.train.labels, len(splits.train.label_names))
    kind = "classes"
    if splits.train.multi_label:
        kind = f"labels ({splits.train.labels.sum() / len(splits.train):.2f} per document: multi-label, one-vs-rest)"
    log(f"corpus {splits.source}: {len(splits.train)} train, {len(splits.test)} test "
        f"({splits.test_from}), {len(counts)} {kind} of {counts.min()}-{counts.max()} training documents")
    for note in splits.notes:
        log(f"warning: {note}")
    return splits


def tokenize_splits(s: _Session, splits: Splits, glove: GloveStore) -> None:
    """Carve validation from train, fit the vocabulary on the rest (or take the resumed
    run's), and encode train, val and test once, ragged (ragged.py), on the device."""
    t0 = time.perf_counter()
    s.train_index, s.val_index = validation_split(splits.train.labels, s.cfg.val_fraction, s.cfg.seed, splits.val_index)
    encode_parts(s, splits.train.subset(s.train_index), splits.train.subset(s.val_index), splits.test)
    s.names = splits.train.label_names
    if crossfit.held_out_chunks(s, splits.train.multi_label) == 1:
        splits.train.texts = splits.test.texts = None  # encoded; only cross-fitting (small corpora) reads them again
    s.log(f"tokenized in {time.perf_counter() - t0:.1f}s: vocabulary {len(s.tok.vocab)} words, dim {glove.dim}")


def encode_parts(s: _Session, train_part: Corpus, val_part: Corpus, test: Corpus | None = None) -> None:
    cfg = s.cfg
    tok_cfg = TokenizerConfig(max_len=cfg.max_len, min_len=cfg.min_len)
    if s.resumed:
        s.tok = Tokenizer(s.resumed["vocab"], tok_cfg)
    else:
        s.tok = Tokenizer.fit(train_part.texts, cfg.vocab_size, tok_cfg, min_count=cfg.min_count)
    parts = {"train": train_part, "val": val_part, **({"test": test} if test is not None else {})}
    with progress_bar(sum(map(len, parts.values())), "tokenizing", s.progress) as bar:
        s.data = {name: Split.encode(s.tok, part.texts, part.labels, s.device, bar.update)
                  for name, part in parts.items()}


def build_model(s: _Session, glove: GloveStore):
    """The model with GloVe rows and the sparse path's idf from train, its optimizer and
    schedule, and the module each step runs (DDP- and compile-wrapped as asked)."""
    cfg = s.cfg
    matrix, s.n_found = glove.embedding_matrix(s.tok.table, N_SPECIAL, seed=cfg.seed)
    s.log(f"{s.n_found} of {len(s.tok.vocab)} words found in GloVe ({s.n_found / max(1, len(s.tok.vocab)):.1%})")
    multi = s.data["train"].labels.dim() == 2
    s.model = model = TextCNN(cfg.model_config(s.tok.n_ids, len(s.names), glove.dim, multi_label=multi))
    weights = class_weights(s.data["train"].labels.cpu().numpy(), len(s.names), cfg.class_weight)
    s.class_weight = None if weights is None else torch.tensor(weights, dtype=torch.float32, device=s.device)
    model.load_embeddings(matrix, trainable=not cfg.freeze_embeddings)
    if model.bow is not None:
        train = s.data["train"]
        model.bow.set_idf(document_frequencies(model.bow, train), len(train), cfg.min_df)
    model.to(s.device)
    # Embedding tables (GloVe, and the sparse path's scores) get their own learning rate
    # and no weight decay: most rows are touched rarely, and decay would erase them.
    emb = [model.embedding.weight] if not cfg.freeze_embeddings else []
    bow = [model.bow.scores.weight] if model.bow is not None else []
    rest = [p for n, p in model.named_parameters() if not n.startswith(("embedding.", "bow."))]
    opt = torch.optim.AdamW([{"params": rest, "lr": cfg.lr, "weight_decay": cfg.weight_decay},
                             {"params": emb, "lr": cfg.embed_lr, "weight_decay": 0.0},
                             {"params": bow, "lr": cfg.bow_lr, "weight_decay": 0.0}])
    steps_per_epoch = math.ceil(len(s.data["train"]) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg.epochs * steps_per_epoch, steps_per_epoch // 2))
    step_model = model
    if s.world.enabled:
        from torch.nn.parallel import DistributedDataParallel
        torch.manual_seed(cfg.seed * 1_000_003 + s.world.rank)  # own dropout masks per rank
        step_model = DistributedDataParallel(model, device_ids=[s.device.index] if s.device.type == "cuda" else None)
    step_model = torch.compile(step_model) if cfg.compile else step_model
    where = f"{s.world.size} processes on {s.device.type}" if s.world.enabled else str(s.device)
    s.log(f"training {model.config.arch} TextCNN ({sum(p.numel() for p in model.parameters()):,} parameters) "
          f"on {where} for up to {cfg.epochs} epochs -> {s.run_dir}")
    return opt, sched, step_model


def restore(s: _Session, opt, sched) -> _Progress:
    """The resumed checkpoint's weights, optimizer and schedule, and where the loop was."""
    ckpt = s.resumed
    s.model.load_state_dict(ckpt["state_dict"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    s.log(f"resuming {s.run_dir} after epoch {ckpt['epoch']}")
    return _Progress(ckpt["history"], ckpt["best"], ckpt["best_state_dict"], ckpt["epoch"] + 1)


def train_epoch(s: _Session, step_model, opt, sched, np_rng, epoch: int):
    """One pass over train in bucketed batches -> (summed loss as a device scalar, seconds).

    Nothing here waits on the host: the loss is summed on the device and read once
    the epoch is over (or every 32 batches, when a progress bar shows it)."""
    cfg, world, train = s.cfg, s.world, s.data["train"]
    n = len(train)
    s.model.train()
    loss_sum = torch.zeros((), device=s.device)
    t0 = time.perf_counter()
    bar = progress_bar(n, f"epoch {epoch}/{cfg.epochs}", s.progress)
    for step, batch in enumerate(bucketed_batches(train.lengths, cfg.batch_size, np_rng), start=1):
        idx, weight = world.shard(batch)
        x, y = train.batch(idx), train.labels[torch.from_numpy(idx).to(s.device)]  # (b, width), (b,)
        with autocast(s.device):
            if y.dim() == 2:  # multi-label: one-vs-rest, the labels' binary cross-entropies summed
                shard_loss = F.binary_cross_entropy_with_logits(step_model(x).float(), y, reduction="sum") * weight
            else:
                shard_loss = F.cross_entropy(step_model(x).float(), y, weight=s.class_weight,
                                             label_smoothing=cfg.label_smoothing, reduction="sum") * weight
        # The global batch's mean loss, once DDP averages the ranks' gradients.
        loss = shard_loss * (world.size / len(batch))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_sum += shard_loss.detach()
        bar.update(len(batch))
        if not bar.disable and step % 32 == 0:  # rank 0's shard
            bar.set_postfix(loss=f"{float(loss_sum) / (bar.n / world.size):.4f}", refresh=False)
    bar.close()
    return loss_sum, time.perf_counter() - t0


def run_epochs(s: _Session, state: _Progress, step_model, opt, sched, np_rng, after_epoch=None,
               until: int | None = None) -> None:
    """Train from state.start_epoch to cfg.epochs, stopping early after cfg.patience epochs
    without a better validation accuracy; state keeps the best weights. With until, train
    exactly that many epochs of the same schedule instead."""
    for epoch in range(state.start_epoch, (until or s.cfg.epochs) + 1):
        if until is None and state.stale() >= s.cfg.patience:
            s.log(f"early stop: no better validation accuracy for {s.cfg.patience} epochs")
            break
        loss_sum, seconds = train_epoch(s, step_model, opt, sched, np_rng, epoch)
        record_epoch(s, state, epoch, loss_sum, seconds)
        if after_epoch is not None:
            after_epoch(epoch)


def fit_fold(s: _Session, glove: GloveStore, fit_part: Corpus, held_part: Corpus,
             until: int | None = None) -> _Session:
    """A network trained as the main one is (its own vocabulary, idf and early stop) on
    fit_part, with held_part as its validation split; nothing is written. With until: the
    weights after exactly that many epochs, whatever held_part says."""
    fold = replace(s, run_dir=None, log=lambda *a, **k: None, resumed=None, tok=None, data=None, model=None,
                   progress=False)
    encode_parts(fold, fit_part, held_part)
    opt, sched, step_model = build_model(fold, glove)
    state = _Progress([], {"val_accuracy": -1.0, "epoch": 0}, None)
    run_epochs(fold, state, step_model, opt, sched, np.random.default_rng(s.cfg.seed), until=until)
    if until is None:
        fold.model.load_state_dict(state.best_state)
    return fold


def record_epoch(s: _Session, state: _Progress, epoch: int, loss_sum: torch.Tensor, seconds: float) -> None:
    """Validation accuracy, or a multi-label model's micro-F1 at probability 0.5 (sharded
    like training, counts summed across ranks), the history row, and the best weights so far
    (written to model.pt when they improve)."""
    world, val = s.world, s.data["val"]
    n_train, n_val = len(s.data["train"]), len(val)
    mine = val.rows(np.arange(world.rank, n_val, world.size))
    totals = world.all_sum(torch.stack([loss_sum.float(), *_val_counts(s.model, mine).to(s.device)]))
    train_loss, val_acc = float(totals[0]) / n_train, float(totals[1]) / max(1.0, float(totals[2]))
    state.history.append({"epoch": epoch, "train_loss": train_loss, "val_accuracy": val_acc,
                          "seconds": seconds, "docs_per_s": n_train / seconds})
    improved = val_acc > state.best["val_accuracy"]
    if improved:
        state.best = {"val_accuracy": val_acc, "epoch": epoch}
        state.best_state = snapshot(s.model)
        if world.is_main and s.run_dir is not None:
            save({**s.header(), "state_dict": state.best_state, "epoch": epoch}, s.run_dir / "model.pt")
    s.log(f"epoch {epoch:2d}  loss {train_loss:.4f}  val {'micro-F1' if s.model.config.multi_label else 'acc'} "
          f"{val_acc:.4f}{' *' if improved else '  '} "
          f"{seconds:6.1f}s  {n_train / seconds:7.0f} docs/s")


def save_checkpoint(s: _Session, state: _Progress, opt, sched, np_rng, epoch: int) -> None:
    """checkpoint.pt: the last finished epoch with everything --resume needs."""
    rng = rng_state(np_rng, s.world)  # collective: every rank takes part
    if s.world.is_main:
        save({**s.header(), "state_dict": {k: v.cpu() for k, v in s.model.state_dict().items()},
              "best_state_dict": state.best_state, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
              "rng": rng, "epoch": epoch, "history": state.history, "best": state.best},
             s.run_dir / "checkpoint.pt")


# ---------------------------------------------------------------------------
# Helpers.


def _val_counts(model: TextCNN, split: Split) -> torch.Tensor:
    """float (2,): right and all for accuracy; for a multi-label model, twice the true
    labels chosen, and the labels chosen plus those true (micro-F1 = the ratio)."""
    logits = torch.from_numpy(predict_logits(model, split))
    truth = split.labels.cpu()
    if truth.dim() == 2:
        chosen = model.chosen(logits).float()
        return torch.stack([2 * (chosen * truth).sum(), chosen.sum() + truth.sum()])
    return torch.tensor([float((logits.argmax(1) == truth).sum()), float(len(truth))])


def _lr_lambda(total_steps: int, warmup: int):
    """Linear warm-up, then a cosine from 1 to 0 over the remaining steps."""
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return f
