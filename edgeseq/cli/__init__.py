"""The ``edgeseq`` command line: one thin module per verb under ``edgeseq.cli``.

Each verb module defines ``add_parser(subparsers)`` and ``run(args) -> int`` and imports the
library inside ``run``, so ``edgeseq --help`` and ``edgeseq predict`` never import torch.
Errors become one line on stderr (:func:`edgeseq.cli.common.describe_failure`): exit code 2 for usage,
config and input errors and for files the system refused, 1 for a check that ran and failed (parity, an
accuracy gate, a benchmark regression), 70 for a bug (anything else), 130 for Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType

from edgeseq import __version__
from edgeseq.cli.common import describe_failure
from edgeseq.errors import EXIT_INTERRUPTED, EXIT_USAGE

# Order is the order `edgeseq --help` lists them in.
VERBS = (
    "pipeline",
    "train",
    "evaluate",
    "export",
    "validate",
    "optimize",
    "bench",
    "predict",
    "web",
    "models",
)


def _verb_modules() -> Iterator[tuple[str, ModuleType]]:
    """Each verb with its module, in VERBS order (a verb whose module is absent is left out)."""
    for verb in VERBS:
        name = f"edgeseq.cli.{verb}_cmd"
        if importlib.util.find_spec(name) is not None:
            yield verb, importlib.import_module(name)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per verb."""
    parser = argparse.ArgumentParser(
        prog="edgeseq",
        description="Train CNN→sequence→RNN image models, export one ONNX graph, validate, optimize, "
        "benchmark and run it on the edge.",
    )
    parser.add_argument("--version", action="version", version=f"edgeseq {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for _verb, module in _verb_modules():
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (see ``edgeseq.errors``: 0, 1, 2, 70 or 130)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"edgeseq {args.verb}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        message, code = describe_failure(exc)
        print(f"edgeseq {args.verb}: {message}", file=sys.stderr)
        return code
