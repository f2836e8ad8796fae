"""``edgeseq optimize``: build INT8/FP16/graph-optimized/.ort variants and gate each on accuracy."""

from __future__ import annotations

import argparse

from edgeseq.cli.common import add_set_option, print_json, require_file_arg, str_list


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``optimize`` verb."""
    parser = subparsers.add_parser(
        "optimize",
        help="make faster variants of an ONNX model (INT8, FP16, .ort) and check each one's accuracy",
        description="Build the profile's variants into -o DIR (<variant>.onnx + <variant>.json), measure each "
        "against FP32 on held-out samples (accuracy or CER, agreement, max difference, size, batch-1 latency), "
        "reject those over optimize.max_accuracy_drop, and name the fastest accepted one. Exit code 0 even when "
        "variants are rejected; with --strict, 1 when every variant other than fp32 is rejected.",
    )
    parser.add_argument("model", help="the ONNX model (from `edgeseq export`)")
    parser.add_argument("--profile", help="an export profile with an [optimize] table, e.g. export/cpu-int8.toml")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--calibration",
        metavar="DATA",
        help="image folder (subfolders = labels), text-line folder with labels.tsv, or unlabelled images",
    )
    source.add_argument(
        "--checkpoint", metavar="CKPT", help="use the checkpoint's data: train split to calibrate, test split to gate"
    )
    parser.add_argument(
        "--eval-data",
        metavar="DATA",
        help="held-out folder for the gate (default: the part of --calibration not used to calibrate)",
    )
    parser.add_argument(
        "--variants", type=str_list, help="comma-separated: fp32,ort-opt,int8-static,int8-dynamic,int8-mixed,fp16,ort"
    )
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--strict", action="store_true", help="exit 1 when every variant other than fp32 is rejected")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    add_set_option(parser, example="optimize.max_accuracy_drop=0.5")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Translate arguments, run :func:`edgeseq.optimization.optimize`, print the table or JSON."""
    from edgeseq.config import apply_overrides
    from edgeseq.errors import AccuracyGateError, ConfigError, require

    require("onnx", "optimize")
    if args.checkpoint:
        require("torch", "train")  # the checkpoint's data loaders
    from edgeseq.optimization import OptimizeConfig, load_samples, optimize
    from edgeseq.profiles import load_profile

    require_file_arg(args.model, "model")
    raw = load_profile(args.profile).optimize if args.profile else {}
    overrides = []
    for text in args.overrides:
        if not text.startswith("optimize."):
            raise ConfigError(f"--set {text!r}: expected an optimize.<key>=VALUE override")
        overrides.append(text[len("optimize.") :])
    raw = apply_overrides(raw, overrides)
    if args.variants:
        raw["variants"] = args.variants
    config = OptimizeConfig.from_dict(raw)
    calibration, evaluation = load_samples(args.model, config, args.calibration, args.eval_data, args.checkpoint)
    result = optimize(args.model, args.output, config, calibration=calibration, evaluation=evaluation)
    if args.json:
        print_json(result.to_json())
    else:
        print(result.table())
        print(f"wrote {args.output}/optimize_report.json and optimize_report.md")
    if args.strict and result.all_optimized_rejected:
        raise AccuracyGateError("every variant other than fp32 was rejected by the accuracy gate (--strict)")
    return 0
