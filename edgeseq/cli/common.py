"""Small helpers shared by the verb modules (argument parsing, the error boundary; no library imports)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from edgeseq.errors import (
    EXIT_INTERNAL,
    EXIT_USAGE,
    ConfigError,
    EdgeseqError,
    first_line,
)


def int_list(text: str) -> list[int]:
    """Parse ``"1,8,32"`` into ``[1, 8, 32]`` (an argparse ``type=``)."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def finite_float(text: str) -> float:
    """Parse a finite, non-negative number (an argparse ``type=``): ``nan`` and ``inf`` are refused."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite, non-negative number, got {text!r}")
    return value


def str_list(text: str) -> list[str]:
    """Parse ``"a,b"`` into ``["a", "b"]``."""
    values = [part.strip() for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return values


def add_set_option(parser: argparse.ArgumentParser, example: str = "train.epochs=3") -> None:
    """``--set key=value`` (repeatable) config overrides; ``example`` is a key this verb accepts."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config value, e.g. --set {example} (repeatable)",
    )


def print_json(obj: Any) -> None:
    """Print one JSON document to stdout."""
    json.dump(obj, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def require_file_arg(path: str, what: str) -> None:
    """Raise a one-line ConfigError when a path argument does not exist."""
    if not Path(path).exists():
        raise ConfigError(f"{what} {path!r} not found")


def describe_failure(exc: BaseException) -> tuple[str, int]:
    """The one stderr line (without the ``edgeseq VERB:`` prefix) and the exit code for an exception.

    * an :class:`~edgeseq.errors.EdgeseqError`: its message and its class's exit code (1 or 2);
    * an ``OSError`` (disk full, name too long, no permission, ...): the reason and the path, exit 2;
    * ``MemoryError``: out of memory, exit 2 (the sizes asked for need more memory than there is);
    * an ONNX Runtime exception that escaped the library's wrapping: exit 2, with ONNX Runtime's first line;
    * anything else is a bug in edgeseq: "internal error", exit 70, so scripts can tell it from a failed check.
    """
    if isinstance(exc, EdgeseqError):
        return f"error: {exc}", exc.exit_code
    if isinstance(exc, OSError):
        return f"error: {_os_error_line(exc)}", EXIT_USAGE
    if isinstance(exc, MemoryError):
        return (
            "error: out of memory; expected inputs, sizes or batches that fit this machine's memory "
            "(see EDGESEQ_MEMORY_LIMIT in the README)",
            EXIT_USAGE,
        )
    if type(exc).__module__.startswith("onnxruntime"):
        return f"error: onnxruntime failed: {first_line(exc, 300, with_type=True)}", EXIT_USAGE
    return (
        f"internal error: {first_line(exc, 300, with_type=True)} (a bug in edgeseq; re-run with --debug for the "
        "traceback)",
        EXIT_INTERNAL,
    )


def _os_error_line(exc: OSError) -> str:
    """``"No space left on device: 'out/model.onnx'"``: the reason, then the path(s) involved, on one line."""
    reason = exc.strerror or first_line(exc, 200)
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    where = " -> ".join(repr(_shorten(str(p))) for p in paths)
    return f"{reason}: {where}" if where else f"{reason} (errno {exc.errno})" if exc.errno else reason


def _shorten(path: str, limit: int = 200) -> str:
    """A path kept to one readable line (names over NAME_MAX can be thousands of characters)."""
    return path if len(path) <= limit else f"{path[: limit // 2]}...{path[-limit // 2 :]}"
