"""``edgeseq web MODEL.onnx -o DIR [--serve]``: a static page that runs the model in the browser."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from edgeseq.cli.common import print_json
from edgeseq.errors import InputError

if TYPE_CHECKING:  # the library is imported by the handler only, so `edgeseq --help` stays fast
    from edgeseq.web.build import WebBuildResult

PAGE_DATA = "page-data.js"  # = edgeseq.web.build.PAGE_DATA (a test keeps them equal)

MAX_PORT = 65535


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``web`` verb."""
    parser = subparsers.add_parser(
        "web",
        help="write an offline web page that runs the model with onnxruntime-web (and serve it)",
        description="Write a static page (model, metadata, bundled onnxruntime-web, JavaScript preprocessing) "
        "that runs an edgeseq ONNX model in the browser: draw or drop an image, see the result and latency.",
    )
    parser.add_argument("model", help="an ONNX model exported by edgeseq")
    parser.add_argument("-o", "--out", required=True, help="output folder for the page")
    parser.add_argument(
        "--backend",
        choices=("auto", "wasm"),
        default="auto",
        help="auto (default): WebGPU where the browser has it, else WebAssembly; wasm: WebAssembly only (half the size)",
    )
    parser.add_argument("--top-k", type=int, default=5, help="classes shown for classification models (default 5)")
    parser.add_argument("--title", default=None, help="page heading (default: the model file name)")
    parser.add_argument(
        "--ort-dist",
        default=None,
        metavar="DIR",
        help="take onnxruntime-web from this dist/ folder instead of the bundled, pinned build",
    )
    parser.add_argument(
        "--no-embed",
        dest="embed",
        action="store_false",
        help="skip page-data.js (the model and runtime again, base64): a smaller folder that must be served; "
        "opened from disk it says so",
    )
    parser.add_argument("--json", action="store_true", help="print the build record as JSON instead of the summary")
    parser.add_argument("--serve", action="store_true", help="serve the page on localhost until Ctrl-C")
    parser.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000; 0 picks a free one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the page, print a summary (JSON with ``--json``), and serve it when asked."""
    from edgeseq.web import build_web, serve

    if args.serve and not 0 <= args.port <= MAX_PORT:  # before the page is written, not after
        raise InputError(f"--port: got {args.port}; expected 0 (any free port) to {MAX_PORT}")
    result = build_web(
        args.model,
        args.out,
        backend=args.backend,
        top_k=args.top_k,
        ort_dist=args.ort_dist,
        title=args.title,
        embed=args.embed,
    )
    if args.json:
        print_json(result.to_json())
    else:
        print(summary(result, args.model, serving=args.serve), flush=True)
    if args.serve:
        serve(result.out_dir, port=args.port)
    return 0


def summary(result: WebBuildResult, model: str, serving: bool) -> str:
    """What was written, what the page runs on, its warnings, and how to open it."""
    kind = "text lines (CTC)" if result.task == "ctc" else "classification"
    runtime = "WebGPU, else WebAssembly" if result.backend == "auto" else "WebAssembly"
    index = Path(result.out_dir) / "index.html"
    lines = [
        f"wrote {result.out_dir}: a {kind} page for {Path(model).name}, {len(result.files)} files, "
        f"{result.total_bytes / 1e6:.1f} MB",
        f"runtime: onnxruntime-web {result.ort_version} ({runtime})",
    ]
    lines += [f"warning: {warning}" for warning in result.warnings]
    if serving:
        return "\n".join(lines)
    if PAGE_DATA in result.files:
        lines.append(f"open it: {index.resolve().as_uri()} (works from disk), or serve it with --serve")
    else:
        lines.append(
            f"open it: serve it (built with --no-embed, it cannot load from disk): "
            f"edgeseq web {model} -o {result.out_dir} --serve, or python3 -m http.server -d {result.out_dir}"
        )
    return "\n".join(lines)
