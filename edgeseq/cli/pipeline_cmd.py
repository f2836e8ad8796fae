"""``edgeseq pipeline [RECIPE] --out DIR``: train → export → validate → optimize → benchmark."""

from __future__ import annotations

import argparse
from typing import Any

from edgeseq.cli.common import add_set_option, finite_float, int_list, print_json, str_list
from edgeseq.errors import require


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``pipeline`` verb."""
    p = sub.add_parser(
        "pipeline",
        help="the main job: train, export, validate, optimize and benchmark a recipe",
        description="Run a recipe from its data to a validated, optimized, measured ONNX model and print a "
        "summary table (variant, precision, size, accuracy, p50, p99, images/s). Default recipe: "
        "digits-rows-lstm (the bundled digits data). A folder holding an earlier run is refused unless --force.",
    )
    p.add_argument(
        "recipe", nargs="?", default=None, help="recipe TOML, or a shipped recipe's name (default: digits-rows-lstm)"
    )
    p.add_argument("--out", "-o", required=True, help="run folder")
    p.add_argument(
        "--stages",
        type=str_list,
        default=None,
        help="comma-separated subset of train,export,validate,optimize,bench (default: all)",
    )
    p.add_argument(
        "--export-profile", default=None, help="export profile name or TOML (default: the settings of cpu-fp32)"
    )
    p.add_argument(
        "--optimize-profile", default=None, help="optimize profile name or TOML (default: the settings of cpu-int8)"
    )
    p.add_argument(
        "--parity-samples", type=int, default=None, help="real test samples in the validate stage (default 16)"
    )
    p.add_argument("--backend", type=str_list, default=None, help="benchmark backends (default ort-cpu,torch)")
    p.add_argument("--batch", type=int_list, default=None, help="benchmark batch sizes (default 1,8)")
    p.add_argument("--min-time", type=finite_float, default=None, help="seconds of timed runs per benchmark row")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace what an earlier run left in --out (without it, a folder whose outputs this run would "
        "replace is refused)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_set_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the pipeline and print its summary table (or the whole result as JSON with ``--json``)."""
    require("torch", "train")
    from edgeseq.pipeline import PipelineOptions, run_pipeline

    kwargs: dict[str, Any] = {
        "export_profile": args.export_profile,
        "optimize_profile": args.optimize_profile,
        "overwrite": args.force,
    }
    if args.stages:
        kwargs["stages"] = args.stages
    if args.backend:
        kwargs["bench_backends"] = args.backend
    if args.batch:
        kwargs["bench_batches"] = args.batch
    if args.min_time is not None:
        kwargs["bench_min_time_s"] = args.min_time
    if args.parity_samples is not None:
        kwargs["parity_samples"] = args.parity_samples
    result = run_pipeline(args.recipe, args.out, args.overrides, PipelineOptions(**kwargs))
    if args.json:
        print_json(result.to_json())
    else:
        print(f"\n{result.table}\n\nrun folder: {result.out_dir} ({result.wall_time_s:.0f} s)")
    return 0
