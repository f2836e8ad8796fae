"""``edgeseq bench``: latency of ONNX models across backends; ``bench compare`` (CI gate); ``bench suite``.

Three forms share one parser (the first positional picks the form):

    edgeseq bench MODEL.onnx [MORE.onnx ...] [--checkpoint CKPT] [--batch 1,8] [--threads 1,2]
                  [--width 100,200 | --height ...] [--backend ort-cpu,torch,openvino] [--out DIR] [--json]
    edgeseq bench compare BASE.json NEW.json [--tolerance 0.10] [--allow-missing]
    edgeseq bench suite benchmarks/suite.toml [--out benchmarks/results] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import sys

from edgeseq.bench.options import BenchOptions, TimingOptions  # standard library only: --help stays fast
from edgeseq.cli.common import finite_float, int_list, print_json, require_file_arg, str_list
from edgeseq.errors import ConfigError, InputError, RegressionError, require
from edgeseq.fileio import check_output_dir

SUBVERBS = ("compare", "suite")
# The timing defaults are TimingOptions'; --max-time defaults to the larger of its cap and --min-time.
DEFAULT_MIN_TIME_S = TimingOptions.min_time_s
DEFAULT_MAX_TIME_S = TimingOptions.max_time_s


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``bench`` verb: one parser for its three forms (the first positional picks the form)."""
    parser = subparsers.add_parser(
        "bench",
        help="measure latency across backends (ORT CPU/CUDA, PyTorch eager, OpenVINO); compare runs; run the suite",
        description="Measure p50/p90/p99 latency, throughput, cold start and memory of ONNX models side by side "
        "on ONNX Runtime (CPU, CUDA), PyTorch eager (from --checkpoint) and OpenVINO (f32 and its default "
        "precision), with the precision and provider each actually used. "
        "`edgeseq bench compare BASE.json NEW.json` exits 1 when p50 regresses beyond --tolerance or "
        "parity/accuracy changed. `edgeseq bench suite SUITE.toml` prepares and runs the reference suite. "
        "`edgeseq bench compare --help` and `edgeseq bench suite --help` show only that form's options.",
        add_help=False,
    )
    parser.add_argument("-h", "--help", action=_FormHelp, help="show this help message and exit")
    parser.add_argument(
        "models",
        nargs="+",
        metavar="MODEL.onnx | compare BASE NEW | suite SUITE.toml",
        help="ONNX models to measure; or `compare BASE.json NEW.json`; or `suite SUITE.toml`",
    )
    _add_sweep_arguments(parser)
    _add_timing_arguments(parser)
    _add_output_arguments(parser)
    _add_compare_arguments(parser)
    _add_suite_arguments(parser)
    parser.set_defaults(func=run)


# The options each secondary form reads (by argparse dest), for its own --help.
FORM_OPTIONS = {
    "compare": ("tolerance", "allow_missing", "normalize", "json"),
    "suite": ("out", "only", "wait_idle", "work_dir", "min_time", "rounds", "in_process", "json"),
}
FORM_USAGE = {
    "compare": "edgeseq bench compare BASE.json NEW.json [--tolerance FRAC] [--allow-missing] [--normalize] [--json]",
    "suite": "edgeseq bench suite SUITE.toml [--out DIR] [--only NAMES] [--wait-idle S] [--work-dir DIR] ...",
}
FORM_DESCRIPTION = {
    "compare": "Compare two `edgeseq bench` JSON results row by row: exit 1 when a row's p50 grew beyond "
    "--tolerance, or parity/accuracy changed (the CI gate).",
    "suite": "Prepare the suite file's models (train or build them, export, optimize) and measure them side by "
    "side in one run; writes JSON, CSV, Markdown and plots to --out (default benchmarks/results).",
}


class _FormHelp(argparse.Action):
    """``-h``: the help of the form the first positional picks (``compare``, ``suite``), else the whole verb's."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:  # noqa: A002 - argparse's name
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, *_args: object) -> None:
        models = getattr(namespace, "models", None) or []
        form = models[0] if models and models[0] in FORM_OPTIONS else None
        if form is None:
            parser.print_help()
        else:
            _form_parser(parser, form).print_help()
        parser.exit()


def _form_parser(parser: argparse.ArgumentParser, form: str) -> argparse.ArgumentParser:
    """A parser for ``bench <form>`` alone, made of the options that form reads (for its help text)."""
    sub = argparse.ArgumentParser(
        prog=f"edgeseq bench {form}", usage=FORM_USAGE[form], description=FORM_DESCRIPTION[form], add_help=False
    )
    for action in parser._actions:  # argparse has no public way to share an option between parsers
        if action.dest in FORM_OPTIONS[form]:
            sub._add_action(action)
    return sub


def _add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """What to measure: the eager baseline, backends, batches, threads, the dynamic axis."""
    parser.add_argument(
        "--checkpoint", metavar="CKPT", help="edgeseq checkpoint for the PyTorch eager baseline (backend torch)"
    )
    parser.add_argument(
        "--backend",
        type=str_list,
        default=None,
        metavar="LIST",
        help="comma-separated: ort-cpu, ort-cuda, torch, openvino, openvino-f32 (default: ort-cpu, "
        "plus torch with --checkpoint)",
    )
    parser.add_argument("--batch", type=int_list, default=[1], metavar="LIST", help="batch sizes (default 1)")
    parser.add_argument(
        "--threads",
        type=int_list,
        default=None,
        metavar="LIST",
        help="intra-op threads (default: the physical cores; more oversubscribes)",
    )
    sweep = parser.add_mutually_exclusive_group()
    sweep.add_argument("--width", type=int_list, default=None, metavar="LIST", help="widths for a dynamic width axis")
    sweep.add_argument(
        "--height", type=int_list, default=None, metavar="LIST", help="heights for a dynamic height axis"
    )


def _add_timing_arguments(parser: argparse.ArgumentParser) -> None:
    """How long each row is timed (defaults from TimingOptions), and how the rows share the machine."""
    parser.add_argument(
        "--min-time",
        type=finite_float,
        default=None,
        metavar="S",
        help=f"minimum timed seconds per row (default {DEFAULT_MIN_TIME_S:g}; suite: the suite file's)",
    )
    parser.add_argument(
        "--min-runs",
        type=int,
        default=TimingOptions.min_runs,
        metavar="N",
        help=f"minimum timed runs per row (default {TimingOptions.min_runs})",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=TimingOptions.warmup_runs,
        metavar="N",
        help=f"untimed warm-up runs per row (default {TimingOptions.warmup_runs})",
    )
    parser.add_argument(
        "--max-time",
        type=finite_float,
        default=None,
        metavar="S",
        help=f"cap on timed seconds per row (default {DEFAULT_MAX_TIME_S:g}, or --min-time when that is longer)",
    )
    parser.add_argument(
        "--spinning", action="store_true", help="let onnxruntime threads spin-wait (off by default; recorded)"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="measure every row in this process (faster; peak RSS is then not per row)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        metavar="N",
        help="interleave rows: split each row's timing into N rounds, rows in random order per round "
        f"(fair ratios on a busy machine; default {BenchOptions.rounds}; suite: the suite file's)",
    )


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The profile, the report files, JSON instead of the table."""
    parser.add_argument("--no-profile", action="store_true", help="skip the per-stage onnxruntime profile")
    parser.add_argument("--out", metavar="DIR", help="write JSON, CSV, Markdown and PNG plots into DIR")
    parser.add_argument("--json", action="store_true", help="print the JSON record instead of the table")


def _add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """``bench compare``: the gate's tolerance and what it forgives."""
    parser.add_argument(
        "--tolerance",
        type=finite_float,
        default=None,
        metavar="FRAC",
        help="compare: allowed p50 growth, e.g. 0.10 (default 0.10)",
    )
    parser.add_argument("--allow-missing", action="store_true", help="compare: do not fail on rows absent from NEW")
    parser.add_argument(
        "--normalize",
        action="store_true",
        help="compare: judge each row's p50 divided by its run's reference row (eager, else ORT FP32): "
        "cancels machine-wide drift on shared runners",
    )


def _add_suite_arguments(parser: argparse.ArgumentParser) -> None:
    """``bench suite``: which models, the idle wait, where prepared models are kept."""
    parser.add_argument("--only", type=str_list, default=None, metavar="NAMES", help="suite: run only these models")
    parser.add_argument(
        "--wait-idle",
        type=finite_float,
        default=0.0,
        metavar="S",
        help="suite: before each model wait up to S seconds for the machine to go idle (load <= cores/2)",
    )
    parser.add_argument(
        "--work-dir",
        default=None,
        metavar="DIR",
        help="suite: where prepared models are kept (default runs/bench-suite)",
    )


def run(args: argparse.Namespace) -> int:
    """Dispatch to measuring, ``compare`` or ``suite``."""
    first = args.models[0]
    if first == "compare":
        return _compare(args)
    if first == "suite":
        return _suite(args)
    misplaced = (
        ("--tolerance", args.tolerance),
        ("--only", args.only),
        ("--work-dir", args.work_dir),
        ("--allow-missing", args.allow_missing or None),
        ("--normalize", args.normalize or None),
    )
    for name, value in misplaced:
        if value is not None:
            raise ConfigError(f"{name} applies to `bench compare` / `bench suite`; got it with models to measure")
    return _measure(args)


def _options(args: argparse.Namespace) -> BenchOptions:
    """The BenchOptions of a measuring run: the flags, with TimingOptions' defaults where none was given."""
    backends = args.backend or (["ort-cpu", "torch"] if args.checkpoint else ["ort-cpu"])
    min_time = DEFAULT_MIN_TIME_S if args.min_time is None else args.min_time
    return BenchOptions(
        backends=backends,
        batches=args.batch,
        threads=args.threads,
        widths=args.width,
        heights=args.height,
        spinning=args.spinning,
        min_time_s=min_time,
        min_runs=args.min_runs,
        warmup_runs=args.warmup,
        max_time_s=args.max_time if args.max_time is not None else max(DEFAULT_MAX_TIME_S, min_time),
        isolate=not args.in_process,
        rounds=args.rounds if args.rounds is not None else 1,
        profile=not args.no_profile,
    )


def _measure(args: argparse.Namespace) -> int:
    """``edgeseq bench MODEL.onnx ...``: measure, print the table (or JSON), write the reports."""
    from edgeseq.bench.report import console_table, write_reports
    from edgeseq.bench.runner import bench

    for model in args.models:
        require_file_arg(model, "model")
    if args.checkpoint:
        require_file_arg(args.checkpoint, "checkpoint")
    if args.out:
        check_output_dir(args.out)  # before minutes of measuring, not after
    options = _options(args)
    if "torch" in options.backends:
        require("torch", "train")  # the eager rows build the model from the checkpoint
    progress = None if args.json else _to_stderr
    result = bench(args.models, checkpoint=args.checkpoint, options=options, progress=progress)
    if args.out:
        written = write_reports(result, args.out)
        if not args.json:
            print("wrote " + ", ".join(str(p) for p in written.values()), file=sys.stderr)
    if args.json:
        print_json(result.to_json())
    else:
        print(console_table(result))
    skipped = [row.skipped for row in result.rows if row.skipped]
    if result.rows and len(skipped) == len(result.rows):  # the table says why; the exit code says nothing ran
        raise InputError(f"every row was skipped, nothing was measured; first reason: {skipped[0]}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    """``edgeseq bench compare BASE.json NEW.json``: the CI gate; exit 1 (RegressionError) when it fails."""
    from edgeseq.bench.compare import DEFAULT_TOLERANCE, compare_results
    from edgeseq.bench.result import BenchResult

    if len(args.models) != 3:
        raise ConfigError(f"bench compare: expected BASE.json NEW.json; got {len(args.models) - 1} argument(s)")
    base, new = BenchResult.load(args.models[1]), BenchResult.load(args.models[2])
    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    result = compare_results(base, new, tolerance=tolerance, allow_missing=args.allow_missing, normalize=args.normalize)
    if args.json:
        print_json(result.to_json())
    else:
        print(result.table())
    if not result.passed:
        raise RegressionError(
            f"{len(result.failures)} row(s) regressed beyond {100 * tolerance:.0f}% or changed parity/accuracy "
            f"({', '.join(sorted({d.status for d in result.failures}))})"
        )
    return 0


def _suite(args: argparse.Namespace) -> int:
    """``edgeseq bench suite SUITE.toml``: prepare and measure the suite's models (edgeseq.pipeline.suite)."""
    from edgeseq.bench.report import console_table
    from edgeseq.pipeline.suite import DEFAULT_WORK_DIR, run_suite

    if len(args.models) != 2:
        raise ConfigError(f"bench suite: expected one SUITE.toml; got {len(args.models) - 1} argument(s)")
    require_file_arg(args.models[1], "suite file")
    log = _quiet if args.json else _to_stderr
    result = run_suite(
        args.models[1],
        args.out or "benchmarks/results",
        work_dir=args.work_dir or DEFAULT_WORK_DIR,
        only=args.only,
        min_time_s=args.min_time,
        rounds=args.rounds,
        wait_idle_s=args.wait_idle,
        isolate=not args.in_process,
        log=log,
    )
    if args.json:
        print_json(result.to_json())
    else:
        print(console_table(result))
    return 0


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _quiet(_line: str) -> None:
    return None
