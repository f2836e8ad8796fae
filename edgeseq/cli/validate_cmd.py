"""``edgeseq validate model.onnx --checkpoint CKPT``: PyTorch vs ONNX Runtime parity report."""

from __future__ import annotations

import argparse
import sys

from edgeseq.cli.common import int_list, print_json, require_file_arg
from edgeseq.errors import InputError, ParityError, require

DEFAULT_SAMPLES = 16  # real test-split images compared besides the random inputs


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``validate`` verb."""
    p = subparsers.add_parser(
        "validate",
        help="compare an ONNX model with its checkpoint (PyTorch vs ONNX Runtime)",
        description="Run the checkpoint's PyTorch model and the ONNX model on ONNX Runtime (CPU) on random inputs "
        "(batch sizes, input sizes) and real samples; print a table, write a JSON report; exit 1 over tolerance.",
    )
    p.add_argument("model", help="the .onnx file")
    p.add_argument("--checkpoint", required=True, help="the checkpoint it was exported from")
    p.add_argument("--report", help="JSON report path (default: <model>.parity.json beside the model)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of the table")
    p.add_argument(
        "--samples",
        type=int,
        default=DEFAULT_SAMPLES,
        help=f"real test-split samples to compare (default {DEFAULT_SAMPLES}; 0: random inputs only)",
    )
    p.add_argument("--batch-sizes", type=int_list, default=[1, 2, 7], help="batch sizes (default 1,2,7)")
    p.add_argument("--sizes", type=int_list, help="sizes of the dynamic image axis (default: chosen automatically)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate; exit 1 (ParityError) when over tolerance."""
    require("torch", "train")
    from edgeseq.manifest import read_manifest
    from edgeseq.parity import validate_and_record  # torch: imported by the handler only

    require_file_arg(args.model, "ONNX model")
    require_file_arg(args.checkpoint, "checkpoint")
    if args.samples < 0:
        raise InputError(f"--samples: got {args.samples}; expected 0 or more")
    if (read_manifest(args.model).get("torch_quantization") or {}).get("kind"):
        return _run_torch_quantized(args)
    report, data, report_path = validate_and_record(
        args.model,
        args.checkpoint,
        report_path=args.report,
        samples=args.samples,
        batch_sizes=tuple(args.batch_sizes),
        sizes=args.sizes,
    )
    for note in data["notes"]:
        print(f"edgeseq validate: note: {note}", file=sys.stderr)
    if args.json:
        print_json(data)
    else:
        print(report.to_table())
        print(f"report: {report_path}")
    if not report.passed:
        raise ParityError(
            f"{len(report.failures)} parity problem(s) in {args.model}; first: {report.failures[0]}; see {report_path}"
        )
    return 0


def _run_torch_quantized(args: argparse.Namespace) -> int:
    """A model exported with ``--torch-quantized``: both parity figures (float vs dequantized, int8 vs int8)."""
    from edgeseq.pipeline.torch_quantized import figure_lines, validate_torch_quantized

    report, checks, data, report_path = validate_torch_quantized(
        args.model,
        args.checkpoint,
        report_path=args.report,
        samples=args.samples,
        batch_sizes=tuple(args.batch_sizes),
        sizes=args.sizes,
    )
    for note in data["notes"]:
        print(f"edgeseq validate: note: {note}", file=sys.stderr)
    if args.json:
        print_json(data)
    else:
        print("parity 1: float ONNX vs the dequantized PyTorch model")
        print(report.to_table())
        for check in checks:
            if check.report is not None:
                print(f"parity 2: ONNX {check.variant} vs the PyTorch int8 model")
                print(check.report.to_table())
        print(figure_lines(report, checks))
        print(f"report: {report_path}")
    failures = [f"float: {f}" for f in report.failures[:1]]
    failures += [f"{c.variant}: {c.report.failures[0] if c.report else c.reason}" for c in checks if not c.passed]
    if failures:
        raise ParityError(f"parity problem(s) in {args.model}: {'; '.join(failures)}; see {report_path}")
    return 0
