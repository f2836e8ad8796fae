"""``edgeseq export CHECKPOINT -o model.onnx``: one verified ONNX graph plus its manifest."""

from __future__ import annotations

import argparse
import dataclasses

from edgeseq.cli.common import print_json, require_file_arg
from edgeseq.errors import require


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``export`` verb."""
    p = subparsers.add_parser(
        "export",
        help="export a checkpoint to one ONNX graph (verified against PyTorch)",
        description="Export an edgeseq checkpoint to ONNX: native RNN nodes, dynamic batch and sequence axis, "
        "metadata for the runtime, a JSON manifest beside the model. Flags override the profile.",
    )
    p.add_argument("checkpoint", help="checkpoint .pt file or run folder (best.pt / last.pt)")
    p.add_argument("-o", "--output", required=True, help="destination .onnx file (manifest written beside it)")
    p.add_argument("--profile", help="export profile TOML, e.g. export/cpu-fp32.toml")
    p.add_argument("--opset", type=int, help="ONNX opset (default 18; 14-20; dynamo needs >= 18)")
    p.add_argument("--exporter", choices=("auto", "torchscript", "dynamo"), help="exporter path (default auto)")
    p.add_argument("--static", action="store_true", default=None, help="fixed shapes (no dynamic batch/width)")
    p.add_argument(
        "--preprocess-in-graph",
        action="store_true",
        default=None,
        help="uint8 NHWC pixels in; normalisation inside the graph",
    )
    p.add_argument("--probabilities", action="store_true", default=None, help="add a softmax output")
    p.add_argument("--simplify", action="store_true", default=None, help="simplify with onnxslim, then re-verify")
    p.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        default=None,
        help="skip the parity check during export (structural checks still run)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export and print a short summary."""
    # the library (torch) is imported by the handler only, so `edgeseq --help` stays fast
    require("torch", "train")
    require("onnx", "train")
    from edgeseq.export import ExportOptions, export_checkpoint

    require_file_arg(args.checkpoint, "checkpoint")
    if args.profile:
        from edgeseq.profiles import load_profile

        options = load_profile(args.profile).export
    else:
        options = ExportOptions()
    overrides = {
        key: getattr(args, key)
        for key in ("opset", "exporter", "static", "preprocess_in_graph", "probabilities", "simplify", "verify")
        if getattr(args, key) is not None
    }
    options = ExportOptions(**{**dataclasses.asdict(options), **overrides})
    result = export_checkpoint(args.checkpoint, args.output, options)
    if args.json:
        print_json(result.to_json())
    else:
        print(result.summary())
    return 0
