"""The main job as named phases: prepare → train → export → validate → optimize → bench → summary.

Each stage is a call of the library function its CLI verb wraps and returns that function's typed
result; :class:`StageResults` collects them and their times, and :func:`run_pipeline` writes the summary.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from edgeseq.bench import BenchOptions, BenchResult, bench, write_reports
from edgeseq.config import ExperimentConfig, load_config
from edgeseq.errors import ConfigError, ParityError
from edgeseq.export import ExportOptions, ExportResult, export_checkpoint
from edgeseq.fileio import ensure_writable_dir, write_json_atomic, write_text_atomic
from edgeseq.optimization import OptimizeConfig, OptimizeResult, load_samples, optimize
from edgeseq.parity import validate_and_record
from edgeseq.pipeline.summary import format_summary, summary_rows
from edgeseq.profiles import load_profile
from edgeseq.training import TrainResult, train

STAGES = ("train", "export", "validate", "optimize", "bench")
DEFAULT_RECIPE = "digits-rows-lstm"  # a shipped recipe (edgeseq.presets): found from any folder
# What each stage writes into the run folder, and which stages use another stage's output: running a stage
# makes the outputs of the stages after it describe an older model, so they count as replaced too.
STAGE_OUTPUTS = {
    "train": ("train",),
    "export": ("model.onnx", "model.json"),
    "validate": ("parity.json",),
    "optimize": ("optimized",),
    "bench": ("bench",),
}
DEPENDENTS = {
    "train": ("export", "validate", "optimize", "bench"),
    "export": ("validate", "optimize", "bench"),
    "validate": (),
    "optimize": ("bench",),
    "bench": (),
}
SUMMARY_FILES = ("summary.json", "summary.md")
# Widths for the latency-vs-timesteps curve of a CTC model (issue 5 asks for 100, 200 and 400 px).
CTC_BENCH_WIDTHS = [100, 200, 400]

Log = Callable[[str], None]
_T = TypeVar("_T")


@dataclass
class PipelineOptions:
    """Which stages run and how (defaults: everything, CPU profiles, a short benchmark)."""

    stages: list[str] = field(default_factory=lambda: list(STAGES))
    # A profile name under export/ or a TOML path; None: the built-in defaults, which equal
    # export/cpu-fp32.toml and export/cpu-int8.toml (a test keeps them equal) and need no checkout.
    export_profile: str | None = None
    optimize_profile: str | None = None
    bench_backends: list[str] = field(default_factory=lambda: ["ort-cpu", "torch"])
    bench_batches: list[int] = field(default_factory=lambda: [1, 8])
    bench_min_time_s: float = 0.5
    parity_samples: int = 16  # real test samples in the parity check, beside random inputs
    # Replace what an earlier run left in the folder (the outputs of the stages that run and of the stages
    # after them). Without it such a folder is refused: one folder never mixes two runs.
    overwrite: bool = False

    def __post_init__(self) -> None:
        # Refuse a bad benchmark setting now, not after minutes of training and optimizing.
        BenchOptions(backends=self.bench_backends, batches=self.bench_batches, min_time_s=self.bench_min_time_s)
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown or not self.stages:
            raise ConfigError(
                f"--stages: got {','.join(self.stages) or 'nothing'}; expected some of {','.join(STAGES)}"
            )
        order = [s for s in STAGES if s in self.stages]
        if order != list(dict.fromkeys(self.stages)):
            self.stages = order  # stages always run in pipeline order; listing order does not matter
        if self.parity_samples < 0:
            raise ConfigError(f"parity_samples: got {self.parity_samples}; expected 0 or more real test samples")
        if self.bench_min_time_s <= 0:
            raise ConfigError(f"bench_min_time_s: got {self.bench_min_time_s}; expected a positive number of seconds")


@dataclass
class PipelineResult:
    """What each stage produced, and the summary table."""

    out_dir: str
    stages: dict[str, Any]  # stage -> its result's JSON
    summary: list[dict[str, Any]]  # one row per model variant
    table: str
    wall_time_s: float
    stage_times_s: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict."""
        return asdict(self)


@dataclass(frozen=True)
class ValidateOutcome:
    """The validate stage: whether ONNX Runtime agreed with PyTorch, the worst differences, the report file."""

    passed: bool
    worst: dict[str, Any]
    report: Path

    def to_json(self) -> dict[str, Any]:
        """The stage's entry in ``PipelineResult.stages``."""
        return {"passed": self.passed, "worst": self.worst, "report": str(self.report)}


@dataclass(frozen=True)
class BenchOutcome:
    """The bench stage: the measurements and the report files written."""

    result: BenchResult
    reports: dict[str, Path]

    def to_json(self) -> dict[str, Any]:
        """The stage's entry in ``PipelineResult.stages``."""
        return {"reports": {k: str(v) for k, v in self.reports.items()}, "rows": len(self.result.rows)}


@dataclass
class StageResults:
    """Each stage's typed result (None when it did not run) and its wall time in seconds."""

    train: TrainResult | None = None
    export: ExportResult | None = None
    validate: ValidateOutcome | None = None
    optimize: OptimizeResult | None = None
    bench: BenchOutcome | None = None
    times: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """stage -> its result's JSON, for the stages that ran (the training history is left out)."""
        out: dict[str, Any] = {}
        if self.train is not None:
            out["train"] = self.train.to_json()
            out["train"].pop("history", None)
        for name, result in (("export", self.export), ("validate", self.validate), ("optimize", self.optimize)):
            if result is not None:
                out[name] = result.to_json()
        if self.bench is not None:
            out["bench"] = self.bench.to_json()
        return out


@dataclass(frozen=True)
class PipelineRun:
    """One pipeline invocation: the recipe, the profiles read up front, the run folder and its paths."""

    cfg: ExperimentConfig
    options: PipelineOptions
    out: Path
    log: Log
    export_options: ExportOptions | None
    optimize_table: dict[str, Any]

    @property
    def train_dir(self) -> Path:
        """OUT/train: the training run."""
        return self.out / "train"

    @property
    def checkpoint(self) -> Path:
        """OUT/train/best.pt."""
        return self.train_dir / "best.pt"

    @property
    def onnx_path(self) -> Path:
        """OUT/model.onnx: the exported FP32 model."""
        return self.out / "model.onnx"

    def begin(self, stage: str) -> bool:
        """Whether ``stage`` runs; logs ``== stage`` when it does."""
        if stage in self.options.stages:
            self.log(f"== {stage}")
            return True
        return False


def run_pipeline(
    recipe: str | Path | None,
    out_dir: str | Path,
    overrides: list[str] | None = None,
    options: PipelineOptions | None = None,
    log: Log | None = None,
) -> PipelineResult:
    """Run the recipe's whole path from data to a validated, optimized, measured edge model.

    Args:
        recipe: the training recipe, a file or a shipped recipe's name (default ``digits-rows-lstm``).
        out_dir: the run folder.
        overrides: ``--set`` overrides for the recipe.
        options: stages and their settings.
        log: a callable taking one line of progress text (default: print to stderr, so stdout keeps
            only the result).

    Raises:
        ConfigError: the folder holds outputs of an earlier run that this one would replace
            (``options.overwrite`` replaces them).
        ParityError: ONNX Runtime disagrees with PyTorch (the run stops after writing parity.json).
        EdgeseqError: any stage's own errors.
    """
    run = _prepare(recipe, out_dir, overrides, options, log)
    started = time.perf_counter()
    done = StageResults()
    if run.begin("train"):
        done.train = _timed(done, "train", lambda: _train_stage(run))
    _require_earlier_outputs(run)
    if run.begin("export"):
        done.export = _timed(done, "export", lambda: _export_stage(run))
    if run.begin("validate"):
        done.validate = _timed(done, "validate", lambda: _validate_stage(run))
        if not done.validate.passed:
            raise ParityError(f"ONNX Runtime disagrees with PyTorch beyond tolerance; see {done.validate.report}")
    if run.begin("optimize"):
        done.optimize = _timed(done, "optimize", lambda: _optimize_stage(run))
    if run.begin("bench"):
        optimized = done.optimize
        done.bench = _timed(done, "bench", lambda: _bench_stage(run, optimized))
    return _write_summary(run, done, started)


def _prepare(
    recipe: str | Path | None,
    out_dir: str | Path,
    overrides: list[str] | None,
    options: PipelineOptions | None,
    log: Log | None,
) -> PipelineRun:
    """Load the recipe and the profiles (a bad name fails in a second, not after training), create OUT."""
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    options = options or PipelineOptions()
    cfg = load_config(recipe or DEFAULT_RECIPE, overrides or [])
    export_options = load_profile(options.export_profile).export if options.export_profile else None
    optimize_table = load_profile(options.optimize_profile).optimize if options.optimize_profile else {}
    out = ensure_writable_dir(out_dir)
    _claim_outputs(out, options, log)
    return PipelineRun(cfg, options, out, log, export_options, optimize_table)


def replaced_outputs(out: Path, stages: list[str]) -> list[str]:
    """The outputs in ``out`` that running ``stages`` would replace: theirs and those of the stages after them."""
    affected = [s for s in STAGES if s in stages or any(s in DEPENDENTS[ran] for ran in stages)]
    return [name for stage in affected for name in STAGE_OUTPUTS[stage] if (out / name).exists()]


def _claim_outputs(out: Path, options: PipelineOptions, log: Log) -> None:
    """Refuse a folder whose earlier outputs this run would replace, or (``overwrite``) remove them first.

    Raises:
        ConfigError: earlier outputs would be replaced and ``overwrite`` is off.
    """
    present = replaced_outputs(out, options.stages)
    if not present:
        return
    if not options.overwrite:
        raise ConfigError(
            f"run folder {str(out)!r} already holds {', '.join(present)} from an earlier run; running "
            f"{','.join(options.stages)} would mix two runs in one folder: pass --force to replace them, or "
            "choose another --out"
        )
    for name in [*present, *SUMMARY_FILES]:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    log(f"replacing the earlier run's {', '.join(present)} (--force)")


def _timed(done: StageResults, stage: str, call: Callable[[], _T]) -> _T:
    t0 = time.perf_counter()
    result = call()
    done.times[stage] = round(time.perf_counter() - t0, 2)
    return result


def _require_earlier_outputs(run: PipelineRun) -> None:
    """Later stages need the checkpoint (and, without the export stage, the exported model) on disk."""
    stages = set(run.options.stages)
    if {"export", "validate", "optimize", "bench"} & stages and not run.checkpoint.is_file():
        raise ConfigError(f"no checkpoint at {run.checkpoint}; run the 'train' stage first (or add it to --stages)")
    if {"validate", "optimize", "bench"} & stages and "export" not in stages and not run.onnx_path.is_file():
        raise ConfigError(f"no model at {run.onnx_path}; run the 'export' stage first (or add it to --stages)")


def _train_stage(run: PipelineRun) -> TrainResult:
    return train(run.cfg, run.train_dir, log=run.log)


def _export_stage(run: PipelineRun) -> ExportResult:
    exported = export_checkpoint(run.checkpoint, run.onnx_path, run.export_options)
    run.log(exported.summary())
    return exported


def _validate_stage(run: PipelineRun) -> ValidateOutcome:
    report, data, report_path = validate_and_record(
        run.onnx_path, run.checkpoint, report_path=run.out / "parity.json", samples=run.options.parity_samples
    )
    for note in data["notes"]:
        run.log(f"note: {note}")
    run.log(report.to_table())
    return ValidateOutcome(report.passed, report.worst(), report_path)


def _optimize_stage(run: PipelineRun) -> OptimizeResult:
    opt_cfg = OptimizeConfig.from_dict(run.optimize_table)
    calibration, evaluation = load_samples(run.onnx_path, opt_cfg, checkpoint=run.checkpoint)
    optimized = optimize(run.onnx_path, run.out / "optimized", opt_cfg, calibration=calibration, evaluation=evaluation)
    run.log(optimized.table())
    return optimized


def _bench_stage(run: PipelineRun, optimized: OptimizeResult | None) -> BenchOutcome:
    cfg, options = run.cfg, run.options
    widths = CTC_BENCH_WIDTHS if cfg.model.head == "ctc" and cfg.preprocess.resize == "height" else None
    bench_options = BenchOptions(
        backends=options.bench_backends,
        batches=options.bench_batches,
        widths=widths,
        min_time_s=options.bench_min_time_s,
        max_time_s=max(5.0, options.bench_min_time_s * 4),
    )
    result = bench(
        _bench_models(run.onnx_path, optimized), checkpoint=run.checkpoint, options=bench_options, progress=run.log
    )
    return BenchOutcome(result, write_reports(result, run.out / "bench"))


def _bench_models(onnx_path: Path, optimized: OptimizeResult | None) -> list[Path]:
    """FP32 plus every accepted ONNX variant (the .ort file is for mobile runtimes, not measured here)."""
    models = [onnx_path]
    if optimized is not None:
        for row in optimized.variants:
            if row.name != "fp32" and row.usable and row.path and row.path.endswith(".onnx"):
                models.append(Path(row.path))
    return models


def _write_summary(run: PipelineRun, done: StageResults, started: float) -> PipelineResult:
    """The summary rows and table, written to OUT/summary.json and OUT/summary.md."""
    results = done.to_json()
    bench_result = done.bench.result if done.bench is not None else None
    summary = summary_rows(run.cfg, results, done.optimize, bench_result, run.onnx_path)
    table = format_summary(
        summary,
        bench_notes=bench_result.notes if bench_result is not None else [],
        measured_by_bench=bench_result is not None,
    )
    result = PipelineResult(
        out_dir=str(run.out),
        stages=results,
        summary=summary,
        table=table,
        wall_time_s=round(time.perf_counter() - started, 2),
        stage_times_s=done.times,
    )
    write_json_atomic(run.out / "summary.json", result.to_json())
    write_text_atomic(run.out / "summary.md", f"# {run.cfg.name}\n\n```\n{table}\n```\n")
    return result
