"""Run by test_distributed.py under torchrun: train, but raise KeyboardInterrupt on every
rank as epoch `stop` begins, as Ctrl-C would, leaving the checkpoint of the epoch before."""

import sys

import fastnews.train as tr
from fastnews.config import TrainConfig

data, out, batch_size, stop = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
real, calls = tr.bucketed_batches, [0]


def interrupt_at_epoch_stop(*args, **kwargs):
    calls[0] += 1
    if calls[0] == stop:
        raise KeyboardInterrupt
    return real(*args, **kwargs)


tr.bucketed_batches = interrupt_at_epoch_stop
try:
    tr.train(TrainConfig(data=data, out=out, epochs=3, dropout=0.0, bow_dropout=0.0,
                         batch_size=batch_size, patience=10),
             progress=False)
except KeyboardInterrupt:
    sys.exit(130)
