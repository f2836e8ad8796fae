"""``edgeseq export CHECKPOINT -o model.onnx``: one verified ONNX graph plus its manifest."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from edgeseq.cli.common import print_json, require_file_arg, str_list
from edgeseq.errors import InputError, ParityError, require

OPTION_FLAGS = (
    "opset",
    "exporter",
    "static",
    "preprocess_in_graph",
    "probabilities",
    "simplify",
    "verify",
    "require_native_rnn",
)


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
    p.add_argument(
        "--require-native-rnn",
        action="store_true",
        default=None,
        help="refuse RNN cells (LSTMCell/GRUCell loops) instead of exporting fixed-length loops unrolled",
    )
    q = p.add_argument_group("models quantized in PyTorch")
    q.add_argument(
        "--torch-quantized",
        choices=("dynamic",),
        help="export the model as PyTorch runs it after quantize_dynamic (LSTM/GRU/Linear to qint8, as EasyOCR "
        "does on CPU): the float copy with the dequantized weights, its ONNX int8 variants, and both parity figures",
    )
    q.add_argument(
        "--int8-variants",
        type=str_list,
        default=None,
        help="with --torch-quantized: ONNX int8 variants to build (default int8-dynamic; int8-mixed calibrates "
        "on the checkpoint's training data)",
    )
    q.add_argument("--int8-dir", help="with --torch-quantized: folder for the variants (default <model>.int8/)")
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
    overrides = {key: getattr(args, key) for key in OPTION_FLAGS if getattr(args, key) is not None}
    options = ExportOptions(**{**dataclasses.asdict(options), **overrides})
    if args.torch_quantized:
        return _run_torch_quantized(args, options)
    if args.int8_variants or args.int8_dir:
        raise InputError("--int8-variants and --int8-dir need --torch-quantized dynamic")
    result = export_checkpoint(args.checkpoint, args.output, options)
    if args.json:
        print_json(result.to_json())
    else:
        print(result.summary())
    return 0


def _run_torch_quantized(args: argparse.Namespace, options: Any) -> int:
    """Export the checkpoint's model quantized as PyTorch runs it; exit 1 (ParityError) when figure 2 fails."""
    from edgeseq.pipeline.torch_quantized import DEFAULT_INT8_VARIANTS, export_checkpoint_torch_quantized

    variants = args.int8_variants or list(DEFAULT_INT8_VARIANTS)
    result = export_checkpoint_torch_quantized(
        args.checkpoint, args.output, options, variants=variants, int8_dir=args.int8_dir
    )
    if args.json:
        print_json(result.to_json())
    else:
        print(result.summary())
    if not result.passed:
        failed = [f"{c.variant}: {c.report.failures[0] if c.report else c.reason}" for c in result.int8 if not c.passed]
        raise ParityError(f"ONNX int8 vs PyTorch int8: {'; '.join(failed)}")
    return 0
