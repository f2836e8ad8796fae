"""The benchmark suite: reference models built, then measured side by side, from one TOML file.

``benchmarks/suite.toml`` lists models by recipe. For each model the runner prepares what is
missing under a work folder (``runs/bench-suite`` by default, git-ignored): a checkpoint with
*random weights* (latency does not depend on weight values, so no training is needed and the
results say so), its ONNX export (:func:`edgeseq.export.export_checkpoint`), and optimized variants
(:func:`edgeseq.optimization.optimize`: INT8 static/dynamic/mixed). Then one :func:`edgeseq.bench.bench`
call per model measures the PyTorch eager baseline and every ONNX backend on the variants it applies
to, and the reports go to the output folder with a summary of the targets. Building models is
orchestration, so the suite lives beside the main pipeline, not in the benchmark package.

Suite file::

    [suite]
    backends = ["torch", "ort-cpu", "openvino-f32", "openvino"]
    batches = [1]
    threads = [2]            # omit: the physical cores
    min_time_s = 2.0
    rounds = 10              # interleave the rows (see edgeseq.bench.interleave)
    spinning = false         # onnxruntime intra-op spin-waiting (its own default is on; recorded per row)

    [[model]]
    name = "resnet18-rows-lstm"
    recipe = "models/resnet18-rows-lstm.toml"
    variants = ["fp32", "int8-static", "int8-mixed"]    # files to prepare and measure
    openvino_variants = ["fp32", "int8-static"]          # files OpenVINO reads as well
    widths = [64, 128, 256]                              # optional sweep of a dynamic width
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from edgeseq.bench.modelinfo import ModelRef
from edgeseq.bench.options import BenchOptions, TimingOptions
from edgeseq.bench.report import write_reports
from edgeseq.bench.result import BenchResult, BenchRow
from edgeseq.bench.runner import bench
from edgeseq.checkpoint import save_checkpoint
from edgeseq.config import from_dict, load_config, read_toml
from edgeseq.cpu import usable_physical_cores
from edgeseq.errors import ConfigError
from edgeseq.export import export_checkpoint
from edgeseq.graphs import load_graph
from edgeseq.nn import build_model
from edgeseq.optimization import OptimizeConfig, optimize, random_samples
from edgeseq.optimization.conv_weights import unshift_conv_weight_zero_points
from edgeseq.runtime.metadata import metadata_of

DEFAULT_WORK_DIR = "runs/bench-suite"
SYMMETRIC_SUFFIX = "-symmetric"  # the same INT8 variant with Conv weights at zero point 0 (OpenVINO's fast encoding)
RANDOM_WEIGHTS_NOTE = "random weights: latency does not depend on weight values; accuracy figures are not meaningful"
CALIBRATION_SAMPLES = 32  # random inputs: the int8 graph's structure (hence its speed) does not depend on them
IDLE_LOAD_PER_CORE = 0.5  # "idle": 1-minute load at most half a process per core
IDLE_POLL_S = 15.0
# A row's time cap: three times its minimum, and never below the benchmark's default cap.
MAX_TIME_PER_MIN_TIME = 3
# Targets from the issue, as fractions of the PyTorch eager p50 at batch 1.
TARGET_ORT_FP32_VS_EAGER = 0.6
TARGET_BEST_VS_EAGER = 0.20

Log = Callable[[str], None]


@dataclass
class SuiteModel:
    """One model of the suite."""

    name: str
    recipe: str
    variants: list[str] = field(default_factory=lambda: ["fp32"])
    openvino_variants: list[str] = field(default_factory=lambda: ["fp32"])
    batches: list[int] | None = None
    widths: list[int] | None = None
    backends: list[str] | None = None

    def __post_init__(self) -> None:
        if "fp32" not in self.variants:
            raise ConfigError(f"model {self.name!r}: variants must include 'fp32' (the reference); got {self.variants}")
        unknown = [v for v in self.openvino_variants if v not in self.variants]
        if unknown:
            raise ConfigError(f"model {self.name!r}: openvino_variants {unknown} are not in variants {self.variants}")


@dataclass
class Suite:
    """A parsed suite file."""

    backends: list[str]
    batches: list[int]
    threads: list[int] | None
    min_time_s: float
    models: list[SuiteModel]
    rounds: int = 1
    spinning: bool = False
    name: str = "edgeseq benchmark suite"
    base_dir: str = "."


_SUITE_DEFAULTS: dict[str, Any] = {
    "name": "edgeseq benchmark suite",
    "backends": ["torch", "ort-cpu", "openvino-f32", "openvino"],
    "batches": [1],
    "threads": None,
    "min_time_s": 2.0,
    "rounds": 1,
    "spinning": False,
}


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite TOML file (recipe paths are relative to the repository root / cwd).

    Raises:
        ConfigError: missing file, bad TOML, unknown keys or values.
    """
    path = Path(path)
    data = read_toml(path)
    table = dict(data.get("suite", {}))
    models = data.get("model", [])
    if not isinstance(models, list) or not models:
        raise ConfigError(f"{path}: expected at least one [[model]] table")
    unknown = set(data) - {"suite", "model"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(unknown)}; expected [suite] and [[model]]")
    suite_models = [from_dict(SuiteModel, m, prefix=f"model[{i}]") for i, m in enumerate(models)]
    try:
        suite = Suite(models=suite_models, **{k: table.get(k, v) for k, v in _SUITE_DEFAULTS.items()})
    except TypeError as exc:
        raise ConfigError(f"{path}: [suite]: {exc}") from None
    extra = set(table) - set(_SUITE_DEFAULTS)
    if extra:
        raise ConfigError(f"{path}: [suite] unknown keys {sorted(extra)}; expected {sorted(_SUITE_DEFAULTS)}")
    if not isinstance(suite.spinning, bool):
        raise ConfigError(f"{path}: [suite] spinning: got {suite.spinning!r}; expected true or false")
    BenchOptions(backends=suite.backends, batches=suite.batches, threads=suite.threads)  # validates
    return suite


# ---------------------------------------------------------------------------------------------
# Building the models


def prepare_model(model: SuiteModel, work_dir: Path, *, log: Log = print) -> dict[str, Path]:
    """Make (or reuse) the checkpoint, the FP32 export and the optimized variants of one model.

    Returns:
        ``{"checkpoint": ..., "<variant>": path, ...}``. Variants the optimizer rejected or
        could not build are absent (the caller reports them).
    """
    folder = work_dir / model.name
    ckpt_path = folder / "random.pt"
    fp32_path = folder / "model.onnx"
    if not ckpt_path.is_file():
        log(f"  {model.name}: building a random-weight checkpoint from {model.recipe}")
        _random_checkpoint(model.recipe, ckpt_path)
    if not fp32_path.is_file():
        log(f"  {model.name}: exporting ONNX")
        export_checkpoint(ckpt_path, fp32_path)
    out: dict[str, Path] = {"checkpoint": ckpt_path, "fp32": fp32_path}
    wanted = [v for v in model.variants if v != "fp32"]
    variant_dir = folder / "variants"
    missing = [v for v in wanted if not (variant_dir / f"{v}.onnx").is_file()]
    if missing:
        log(f"  {model.name}: optimizing ({', '.join(missing)})")
        _optimize(fp32_path, variant_dir, wanted)
    out.update({v: variant_dir / f"{v}.onnx" for v in wanted if (variant_dir / f"{v}.onnx").is_file()})
    for v in [v for v in wanted if v in model.openvino_variants and v.startswith("int8") and v in out]:
        copy = _symmetric_copy(out[v], folder / "variants-symmetric" / f"{v}.onnx")
        if copy is not None:
            out[v + SYMMETRIC_SUFFIX] = copy
    return out


def _symmetric_copy(int8_path: Path, copy: Path) -> Path | None:
    """A copy of an INT8 file with its Conv weights at zero point 0; None when the file already is.

    On AMX CPUs the optimizer stores Conv weights at zero point -1 for onnxruntime's GEMM kernel
    (optimization.conv_weights). OpenVINO runs that encoding about 7x slower than the symmetric one
    (measured: 11.97 vs 1.58 ms on resnet18-rows-lstm), so a shifted INT8 file that OpenVINO reads
    also gets a symmetric copy (the exact inverse): each runtime is shown both encodings.
    """
    if copy.is_file() and copy.stat().st_mtime >= int8_path.stat().st_mtime:
        return copy
    copy.parent.mkdir(parents=True, exist_ok=True)
    if unshift_conv_weight_zero_points(int8_path, copy) == 0:
        copy.unlink()  # already symmetric: the file itself is the symmetric row
        return None
    return copy


def _random_checkpoint(recipe: str, path: Path) -> None:
    """A checkpoint of the recipe's model with random weights (seeded), in the training's checkpoint format."""
    cfg = load_config(recipe)
    cfg.model.pretrained = None
    cfg.model.weights_path = None
    ctc = cfg.model.head == "ctc"
    labels = [] if ctc else [str(i) for i in range(cfg.model.num_classes or 10)]
    num_outputs = len(cfg.data.alphabet) + 1 if ctc else len(labels)
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.preprocess, num_outputs).eval()
    save_checkpoint(
        path,
        {
            "config": cfg.to_dict(),
            "task": "ctc" if ctc else "classification",
            "labels": labels,
            "alphabet": cfg.data.alphabet if ctc else "",
            "preprocess": asdict(cfg.preprocess),
            "state_dict": model.state_dict(),
            "metrics": {},
            "epoch": 0,
        },
    )


def _optimize(fp32_path: Path, out_dir: Path, variants: list[str]) -> None:
    """The optimizer on random calibration inputs, without its own latency runs (the suite measures)."""
    proto = load_graph(fp32_path)
    # random inputs at the model's own size (dynamic axes: the export example's size, NCHW or NHWC)
    calib = random_samples(proto, CALIBRATION_SAMPLES, 0, metadata_of(proto))
    calib.source = "random inputs (latency benchmark)"
    # FP16 is for CUDA (docs/traps.md #13): let the optimizer check it there
    target = "cuda" if "fp16" in variants else "cpu"
    # latency_runs=0: the suite measures latency itself, side by side
    config = OptimizeConfig(
        variants=["fp32", *variants], calibration_samples=CALIBRATION_SAMPLES, target=target, latency_runs=0
    )
    optimize(fp32_path, out_dir, config, calibration=calib)


# ---------------------------------------------------------------------------------------------
# Running the suite


@dataclass(frozen=True)
class SuiteOverrides:
    """Command-line overrides of the suite file's timing (None: the file's value)."""

    min_time_s: float | None = None
    rounds: int | None = None
    isolate: bool = True


def run_suite(
    path: str | Path,
    out_dir: str | Path,
    *,
    work_dir: str | Path = DEFAULT_WORK_DIR,
    only: list[str] | None = None,
    min_time_s: float | None = None,
    rounds: int | None = None,
    wait_idle_s: float = 0.0,
    isolate: bool = True,
    log: Log = print,
) -> BenchResult:
    """Prepare and benchmark every model of the suite; write reports and plots into ``out_dir``.

    Args:
        path: the suite TOML.
        out_dir: where ``suite.json/.csv/.md`` and the PNGs go.
        work_dir: where prepared checkpoints and ONNX files are kept (reused on the next run).
        only: model names to run (default: all).
        min_time_s: override the suite's minimum time per row (quick checks).
        rounds: override the suite's interleaving rounds.
        wait_idle_s: before each model, wait up to this long for the machine to go idle
            (1-minute load at most half the cores); the load it started at goes into the notes.
        isolate: a fresh process per row (peak RSS per row).
        log: progress lines.

    Returns:
        The merged BenchResult of all models (also written as ``suite.json``).
    """
    suite = load_suite(path)
    overrides = SuiteOverrides(min_time_s, rounds, isolate)
    results: list[BenchResult] = []
    idle_notes: list[str] = []
    for model in _selected_models(suite, only):
        log(f"{model.name}:")
        files = prepare_model(model, Path(work_dir), log=log)
        refs = _model_refs(model, files, model.backends or suite.backends, log)
        if wait_idle_s > 0:
            load = wait_until_idle(wait_idle_s, log=log)
            idle_notes.append(f"{model.name}: 1-minute load average {load:.2f} when its measurements started")
        results.append(_bench_model(suite, model, files, refs, overrides, log))
    if not results:
        raise ConfigError(f"{path}: no models to run")
    merged = results[0]
    for result in results[1:]:
        merged = _merge(merged, result)
    merged.notes.extend(idle_notes)
    merged.targets = target_lines(merged.rows)
    write_reports(merged, out_dir, stem="suite")
    return merged


def _selected_models(suite: Suite, only: list[str] | None) -> list[SuiteModel]:
    """The suite's models, or those named by ``only``.

    Raises:
        ConfigError: ``only`` names a model the suite does not have.
    """
    models = [m for m in suite.models if not only or m.name in only]
    if only and len(models) != len(set(only)):
        known = [m.name for m in suite.models]
        raise ConfigError(f"--only: got {only}; expected names from the suite: {', '.join(known)}")
    return models


def _bench_model(
    suite: Suite, model: SuiteModel, files: dict[str, Path], refs: list[ModelRef], overrides: SuiteOverrides, log: Log
) -> BenchResult:
    """One :func:`bench` call for a model: its eager baseline (the checkpoint) and its variants' files."""
    backends = model.backends or suite.backends
    min_time = overrides.min_time_s if overrides.min_time_s is not None else suite.min_time_s
    options = BenchOptions(
        backends=backends,
        batches=model.batches or suite.batches,
        threads=suite.threads,
        widths=model.widths,
        min_time_s=min_time,
        max_time_s=max(TimingOptions.max_time_s, (overrides.min_time_s or suite.min_time_s) * MAX_TIME_PER_MIN_TIME),
        isolate=overrides.isolate,
        rounds=(overrides.rounds or suite.rounds) if overrides.isolate else 1,
        spinning=suite.spinning,
    )
    ckpt = files["checkpoint"] if "torch" in backends else None
    result = bench(refs, checkpoint=ckpt, options=options, progress=log)
    result.notes.append(f"{model.name}: {RANDOM_WEIGHTS_NOTE}")
    return result


def _model_refs(model: SuiteModel, files: dict[str, Path], backends: list[str], log: Log) -> list[ModelRef]:
    """The files to measure, each with the backends that read it (OpenVINO only on its variants)."""
    ort_backends = [b for b in backends if b.startswith("ort")]
    refs = []
    for variant in model.variants:
        if variant not in files:
            log(f"  {model.name}: variant {variant} was not built or was rejected by optimize; skipped")
            continue
        ov = [b for b in backends if b.startswith("openvino")] if variant in model.openvino_variants else []
        refs.append(ModelRef(str(files[variant]), model.name, variant, backends=ort_backends + ov))
        if variant + SYMMETRIC_SUFFIX in files:
            name = variant + SYMMETRIC_SUFFIX
            refs.append(ModelRef(str(files[name]), model.name, name, backends=ort_backends + ov))
    return refs


def _load_1m() -> float:
    return os.getloadavg()[0]


def wait_until_idle(
    max_wait_s: float,
    *,
    poll_s: float = IDLE_POLL_S,
    log: Log = print,
    clock: Callable[[], int] = time.perf_counter_ns,
    sleep: Callable[[float], None] = time.sleep,
    load_avg: Callable[[], float] = _load_1m,
) -> float:
    """Wait (up to ``max_wait_s``) until the 1-minute load is at most half the usable cores.

    Other processes on the cores inflate every latency and hurt fork-join runtimes (PyTorch's
    OpenMP) far more than others, which skews side-by-side ratios. Returns the load at the end.

    Args:
        max_wait_s: the longest wait in seconds.
        poll_s: seconds between looks at the load.
        log: progress lines.
        clock: a monotonic clock in nanoseconds; sleep: waits that many seconds; load_avg: the 1-minute load.
    """
    limit = IDLE_LOAD_PER_CORE * usable_physical_cores()
    deadline = clock() + int(max_wait_s * 1e9)
    load = load_avg()
    while load > limit and clock() < deadline:
        log(f"  waiting for an idle machine: 1-minute load {load:.2f} > {limit:.2f}")
        sleep(poll_s)
        load = load_avg()
    if load > limit:
        log(f"  the machine is still busy (load {load:.2f}); measuring anyway, the notes say so")
    return load


def _merge(a: BenchResult, b: BenchResult) -> BenchResult:
    env = dict(a.env)
    env["models"] = {**a.env.get("models", {}), **b.env.get("models", {})}
    options = {"per_model": [*a.options.get("per_model", [a.options]), b.options]}
    return BenchResult(rows=a.rows + b.rows, env=env, options=options, created=a.created, notes=a.notes + b.notes)


# ---------------------------------------------------------------------------------------------
# The targets


def _best(rows: list[BenchRow]) -> BenchRow | None:
    ok = [r for r in rows if not r.skipped and r.p50_ms is not None]
    return min(ok, key=_p50) if ok else None


def _p50(row: BenchRow) -> float:
    return row.p50_ms if row.p50_ms is not None else float("inf")


def target_lines(rows: list[BenchRow]) -> list[str]:
    """The issue's targets checked on the batch-1 rows of each model (eager baseline needed)."""
    lines = []
    for model in dict.fromkeys(r.model for r in rows):
        for threads in sorted({r.threads for r in rows if r.model == model}):
            sel = [r for r in rows if r.model == model and r.batch == 1 and r.threads == threads and not r.skipped]
            line = _target_line(sel)
            if line:
                lines.append(f"{model} batch 1, {threads} threads: {line}")
    return lines


def _target_line(sel: list[BenchRow]) -> str | None:
    """The targets of one model at batch 1 and one thread count; None without an eager row."""
    eager = _best([r for r in sel if r.backend == "torch"])
    if eager is None:
        return None
    base = _p50(eager)
    fp32 = _best([r for r in sel if r.backend == "ort-cpu" and r.precision == "fp32"])
    best = _best([r for r in sel if r.backend.startswith("ort-cpu")])
    ov_default = _best([r for r in sel if r.backend == "openvino" and r.model_precision == "fp32"])
    ov_int8 = _best([r for r in sel if r.backend.startswith("openvino") and r.model_precision == "int8"])
    parts = [f"eager {base:.2f} ms"]
    if fp32:
        r = _p50(fp32) / base
        verdict = "meets" if r <= TARGET_ORT_FP32_VS_EAGER else "misses"
        parts.append(f"ORT FP32 {r:.2f}x eager ({verdict} <= {TARGET_ORT_FP32_VS_EAGER}x)")
    if best:
        r = _p50(best) / base
        parts.append(
            f"best ({best.variant or best.precision}, {_p50(best):.2f} ms) {r:.2f}x eager "
            f"({'meets' if r <= TARGET_BEST_VS_EAGER else 'misses'} <= {TARGET_BEST_VS_EAGER}x)"
        )
        for label, other in (("OpenVINO default", ov_default), ("OpenVINO on INT8", ov_int8)):
            if other:
                verdict = "faster than" if _p50(best) < _p50(other) else "NOT faster than"
                parts.append(f"{verdict} {label} ({other.precision}, {_p50(other):.2f} ms)")
    return "; ".join(parts)
