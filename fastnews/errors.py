"""The errors fastnews raises for the user: one family, each message one line.

The CLI catches FastnewsError (and OSError) and prints the message as it stands; any
other exception is a bug and says so, with its traceback under --debug. Python callers
catch FastnewsError, or one subclass:

    FastnewsError
    ├── UsageError       options that cannot go together (the CLI exits 2)
    ├── CorpusError      a corpus that cannot be read or used
    │   └── TableError   a CSV/TSV/JSONL row, named by file and line
    ├── GloveError       a GloVe file or store, named by line where it can be
    ├── TrainError       a training setup that cannot work
    ├── ModelFileError   an .onnx file, model.pt or checkpoint that fastnews cannot use
    ├── OutputError      an output that cannot be written as asked
    ├── ParityError      onnxruntime and PyTorch disagree at export
    └── RayMissing       the Ray engine without Ray installed
"""


class FastnewsError(Exception):
    """An error whose message is meant for the user as it stands."""


class UsageError(FastnewsError):
    """Options that cannot be used together, or out of range."""


class CorpusError(FastnewsError):
    """A corpus that cannot be used."""


class TableError(CorpusError):
    """A table that cannot be read as a corpus."""


class GloveError(FastnewsError):
    """A GloVe file or store that cannot be used; the message names the line where it can."""


class TrainError(FastnewsError):
    """A training setup that cannot work."""


class ModelFileError(FastnewsError):
    """A model file (.onnx, model.pt, checkpoint.pt) that fastnews cannot use."""


class OutputError(FastnewsError):
    """An output that cannot be written as asked."""


class ParityError(FastnewsError):
    """onnxruntime and PyTorch disagree; the message gives the largest difference."""


class RayMissing(FastnewsError):
    """The Ray engine was asked for and Ray Data is not installed."""
