"""``edgeseq train RECIPE.toml --out DIR`` (also under ``torchrun -m edgeseq train``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeseq.cli.common import add_set_option, print_json
from edgeseq.config import ExperimentConfig, apply_overrides, config_from_dict, load_config
from edgeseq.errors import ConfigError, require


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` verb."""
    p = sub.add_parser(
        "train",
        help="train a model from a recipe",
        description="Train a CNN→sequence→RNN model from a TOML recipe. Writes best.pt, last.pt, metrics.jsonl "
        "and summary.json to --out. Runs under torchrun for DistributedDataParallel.",
    )
    p.add_argument("recipe", nargs="?", help="recipe TOML (optional with --resume: the run's own config is used)")
    p.add_argument("--out", "-o", required=True, help="run folder for checkpoints and logs")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace the run --out holds (without --force or --resume, a folder holding a run is refused)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_set_option(p)
    p.set_defaults(func=run)


def _config(args: argparse.Namespace) -> ExperimentConfig:
    """The recipe with its overrides, or (``--resume`` without a recipe) the run's own config from last.pt."""
    if args.recipe:
        return load_config(args.recipe, args.overrides)
    if args.resume:
        require("torch", "train")
        from edgeseq.checkpoint import load_checkpoint  # torch: imported only when needed

        ckpt = load_checkpoint(Path(args.out) / "last.pt")
        return config_from_dict(apply_overrides(ckpt["config"], args.overrides))
    raise ConfigError("train: expected a recipe TOML (or --resume with --out pointing at an earlier run)")


def run(args: argparse.Namespace) -> int:
    """Train (or resume) and print the result as JSON with ``--json``."""
    cfg = _config(args)
    require("torch", "train")
    from edgeseq.training import train  # torch: imported after the config is known to be valid

    result = train(cfg, args.out, resume=args.resume, overwrite=args.force)
    if args.json:
        print_json(result.to_json())
    return 0
