"""Small helpers shared by the verb modules (argument parsing only; no library imports)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edgeseq.errors import ConfigError


def int_list(text: str) -> list[int]:
    """Parse ``"1,8,32"`` into ``[1, 8, 32]`` (an argparse ``type=``)."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


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
