"""``edgeseq models``: the registered components (backbones, sequencers, RNNs, heads)."""

from __future__ import annotations

import argparse

from edgeseq.errors import require


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``models`` verb."""
    p = sub.add_parser(
        "models",
        help="list registered backbones, sequencers, RNNs and heads",
        description="List the components a recipe's [model] table can name (model.backbone, model.sequencer, "
        "model.rnn, model.head), each with a one-line description. Needs PyTorch: pip install 'edgeseq[train]'.",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print every registry's names with their one-line descriptions."""
    require("torch", "train")
    from edgeseq.nn import BACKBONES, HEADS, RNNS, SEQUENCERS

    for title, registry in (("backbones", BACKBONES), ("sequencers", SEQUENCERS), ("rnns", RNNS), ("heads", HEADS)):
        print(f"{title}:")
        for name in registry.names():
            print(f"  {name:<20} {registry.describe(name)}")
    return 0
