"""Data-parallel training over several processes: torch.distributed + DistributedDataParallel.

Launch with torchrun (one process per GPU, or several CPU processes):

    torchrun --nproc-per-node 2 -m fastnews train ...
    fastnews train --nproc 2 ...          # the same: it re-runs itself under torchrun

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK in each process; without them the
process is a world of one and nothing here talks to anyone.

How train.py uses it: every rank builds the same list of length-bucketed global
batches (same seed), and takes every world-th document of each batch. The loss of a
shard is its sum divided by the *global* batch size, times the world size, so DDP's
average of the ranks' gradients is exactly the gradient of the global batch's mean
loss, even when the last batch does not split evenly. A rank whose shard is empty
(a last batch smaller than the world) runs one document with weight 0, so every rank
takes part in every gradient all-reduce and none waits forever.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from fastnews.errors import TrainError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    launched: bool = False  # under torchrun, even as its only process (--nproc 1: NCCL with one GPU)

    @property
    def enabled(self) -> bool:
        return self.size > 1 or self.launched

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: np.ndarray) -> tuple[np.ndarray, float]:
        """This rank's documents of a global batch, and their loss weight (0 for a stand-in)."""
        mine = batch[self.rank::self.size]
        if mine.shape[0] == 0:
            return batch[:1], 0.0
        return mine, 1.0

    def all_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def gather(self, obj) -> list:
        """obj from every rank, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj):
        """Rank 0's obj, on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def world_from_env() -> World:
    env = os.environ
    size = int(env.get("WORLD_SIZE", "1"))
    return World(rank=int(env.get("RANK", "0")), size=size, local_rank=int(env.get("LOCAL_RANK", "0")),
                 local_size=int(env.get("LOCAL_WORLD_SIZE", str(size))), launched="LOCAL_RANK" in env)


def init(world: World, device: torch.device) -> torch.device:
    """Join the process group (NCCL on GPUs, gloo on CPU); returns this rank's device."""
    if not world.enabled:
        return device
    if device.type == "cuda":
        if world.local_size > torch.cuda.device_count():
            raise TrainError(f"{world.local_size} processes on this machine but {torch.cuda.device_count()} "
                             "CUDA device(s): use at most one process per GPU")
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def shutdown(world: World) -> None:
    if world.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


# torchrun, minus its Python traceback and failure table when a worker fails: each
# worker has already said what went wrong, in one line.
_TORCHRUN = """
import logging, os, sys
os.environ["LOGLEVEL"] = "CRITICAL"  # read by torch.distributed.elastic's loggers as they are made
from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import parse_args, run
logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
del os.environ["LOGLEVEL"]  # not for the workers
try:
    run(parse_args(sys.argv[1:]))
except ChildFailedError as exc:
    codes = [f.exitcode for f in exc.failures.values()]
    sys.exit(next((c for c in codes if c > 0), 1))
except (KeyboardInterrupt, SignalException):  # Ctrl-C: the workers saved and said so
    sys.exit(130)
"""


def launch(nproc: int, argv: list[str]) -> int:
    """Run `python -m fastnews <argv>` (less its --nproc) in nproc processes under torchrun;
    its exit status.

    --standalone gives a single-machine rendezvous on a free port. For several machines,
    call torchrun yourself with --nnodes and --rdzv-endpoint."""
    cmd = [sys.executable, "-c", _TORCHRUN, "--standalone", f"--nproc-per-node={nproc}",
           "-m", "fastnews", *_without_nproc(argv)]
    # torchrun would set 1 thread per process and warn; share the cores out instead.
    env = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // nproc)), **os.environ}
    return subprocess.call(cmd, env=env)


def _without_nproc(argv: list[str]) -> list[str]:
    """argv less --nproc N / --nproc=N (torchrun would take it for its own --nproc-per-node)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("--device cuda was asked for, but torch sees no CUDA device "
                         f"(torch {torch.__version__}); use --device cpu or auto")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise TrainError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)
