"""``edgeseq evaluate CHECKPOINT [--split test]``."""

from __future__ import annotations

import argparse

from edgeseq.cli.common import print_json
from edgeseq.errors import require


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` verb."""
    p = sub.add_parser(
        "evaluate",
        help="evaluate a checkpoint on its data",
        description="Evaluate a checkpoint on a split of the data its recipe names (the same split as in training).",
    )
    p.add_argument("checkpoint", help="best.pt / last.pt, or a run folder")
    p.add_argument(
        "--split",
        default="test",
        choices=("train", "val", "test"),
        help="which split of the recipe's data (the same deterministic split as in training; default test)",
    )
    p.add_argument("--batch-size", type=int, default=128, help="samples per forward pass (default 128)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the checkpoint's metrics on the split (a table, or JSON with ``--json``)."""
    require("torch", "train")
    from edgeseq.training import evaluate_checkpoint

    metrics = evaluate_checkpoint(args.checkpoint, args.split, args.batch_size)
    if args.json:
        print_json(metrics)
    else:
        for key, value in metrics.items():
            print(f"{key:>12}  {value:.4f}" if isinstance(value, float) else f"{key:>12}  {value}")
    return 0
