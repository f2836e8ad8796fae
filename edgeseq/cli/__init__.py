"""The ``edgeseq`` command line: one thin module per verb under ``edgeseq.cli``.

Each verb module defines ``add_parser(subparsers)`` and ``run(args) -> int`` and imports the
library inside ``run``, so ``edgeseq --help`` and ``edgeseq predict`` never import torch.
Errors become one line on stderr: exit code 2 for usage, config and input errors, 1 for a check
that ran and failed (parity, an accuracy gate, a benchmark regression).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType

from edgeseq import __version__
from edgeseq.errors import EdgeseqError

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
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EdgeseqError as exc:
        if args.debug:
            raise
        print(f"edgeseq {args.verb}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"edgeseq {args.verb}: interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        if args.debug:
            raise
        print(f"edgeseq {args.verb}: error: {exc.strerror or exc}: {exc.filename!r}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: keep it to one line unless --debug asks for the traceback
        if args.debug:
            raise
        print(
            f"edgeseq {args.verb}: internal error: {type(exc).__name__}: {exc} (re-run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
