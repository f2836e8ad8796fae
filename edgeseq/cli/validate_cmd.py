"""``edgeseq validate model.onnx --checkpoint CKPT``: PyTorch vs ONNX Runtime parity report."""

from __future__ import annotations

import argparse
import sys

from edgeseq.cli.common import int_list, print_json, require_file_arg

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


def _source_sha256(onnx_path: str) -> str:
    """The source checkpoint sha256 recorded in the model's edgeseq metadata ("" when absent)."""
    import json

    import onnx

    from edgeseq.errors import ModelFileError

    try:
        proto = onnx.load(onnx_path, load_external_data=False)
    except Exception as exc:  # protobuf decode errors have no common base class
        raise ModelFileError(f"cannot read ONNX model {onnx_path!r}: {str(exc).splitlines()[0][:200]}") from None
    props = {p.key: p.value for p in proto.metadata_props}
    try:
        return str(json.loads(props.get("edgeseq.source_sha256", '""')))
    except json.JSONDecodeError:
        return ""


def run(args: argparse.Namespace) -> int:
    """Validate; exit 1 (ParityError) when over tolerance."""
    from pathlib import Path

    from edgeseq.checkpoint import load_checkpoint
    from edgeseq.errors import InputError, ParityError
    from edgeseq.fileio import sha256_file, write_json_atomic
    from edgeseq.manifest import manifest_path, update_manifest
    from edgeseq.parity import validate_onnx

    require_file_arg(args.model, "ONNX model")
    require_file_arg(args.checkpoint, "checkpoint")
    if args.samples < 0:
        raise InputError(f"--samples: got {args.samples}; expected 0 or more")
    ckpt = load_checkpoint(args.checkpoint)
    ckpt_sha = sha256_file(ckpt["path"])
    source_sha = _source_sha256(args.model)
    if source_sha and source_sha != ckpt_sha:
        print(
            f"edgeseq validate: note: {args.model} was exported from a different checkpoint "
            f"(sha256 {source_sha[:12]}..., this one {ckpt_sha[:12]}...)",
            file=sys.stderr,
        )
    report, info = validate_onnx(
        args.model, ckpt, samples=args.samples, batch_sizes=tuple(args.batch_sizes), sizes=args.sizes
    )
    if info["samples_note"] and args.samples > 0:
        print(f"edgeseq validate: note: no real samples ({info['samples_note']}); random inputs only", file=sys.stderr)
    data = report.to_json()
    data["checkpoint"] = {"path": ckpt.get("path"), "sha256": ckpt_sha, "is_source": source_sha == ckpt_sha}
    data["samples"] = info["samples"]
    report_path = Path(args.report) if args.report else Path(args.model).with_suffix(".parity.json")
    write_json_atomic(report_path, data)
    if manifest_path(args.model).is_file():
        summary = {k: data[k] for k in ("passed", "worst", "tolerances", "sizes", "cases", "checkpoint", "samples")}
        update_manifest(args.model, parity=summary)
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
