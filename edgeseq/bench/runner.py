"""``bench()``: measure models across backends, batches, threads and input widths/heights.

Inputs are derived from each model's edgeseq metadata (layout, dtype, channels, height, width;
uint8 NHWC when preprocessing is inside the graph) and filled with random data from a fixed
seed: latency does not depend on the values. Each row is measured in a fresh process by
default (``BenchOptions.isolate``) so its peak RSS is its own.

The run is a sequence of named phases: check the request, inspect the models, plan the rows
(:mod:`edgeseq.bench.plan`), measure them (one by one, or interleaved), fill and annotate each row,
and take the environment card.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.bench.envcard import env_card, peak_gflops_estimate
from edgeseq.bench.interleave import measure_interleaved
from edgeseq.bench.modelinfo import ModelInfo, ModelRef, check_sweep, input_shapes, inspect_model
from edgeseq.bench.options import ONNX_BACKENDS, BenchOptions
from edgeseq.bench.plan import BenchJob, plan_jobs
from edgeseq.bench.processes import measure_isolated
from edgeseq.bench.result import SCHEMA, BenchResult, BenchRow
from edgeseq.bench.worker import measure
from edgeseq.cpu import read_cpu_facts, usable_physical_cores
from edgeseq.errors import ConfigError

__all__ = ["SCHEMA", "BenchOptions", "BenchResult", "BenchRow", "ModelInfo", "ModelRef", "bench", "input_shapes"]

# A 1-minute load average above cores + this means other processes competed for the cores during a row.
BUSY_LOAD_MARGIN = 0.5
BUSY_NOTE = (
    "other processes competed for the cores during this row (load_avg_1m above the cores): its latency is inflated"
)
# p90 above this multiple of p50: the row alternated between a fast and a slow mode. Seen with PyTorch
# eager (2 OpenMP threads on 2 cores): whenever another process ran, each op's barrier waited for the
# descheduled thread and calls took ~800 ms instead of ~20 ms; onnxruntime's pool degraded gracefully.
UNSTABLE_P90_RATIO = 3.0
UNSTABLE_NOTE = (
    "p90 is more than 3x p50: the backend alternated between a fast and a slow mode (PyTorch's OpenMP threads "
    "stall whenever another process takes a core); min_ms shows its undisturbed speed"
)

Progress = Callable[[str], None]
TIMING_KEYS = ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "mean_ms", "std_ms", "min_ms", "max_ms", "n")


@dataclass(frozen=True)
class Machine:
    """What the rows are read against: the physical cores this process may use, the FP32 peak of one."""

    cores: int
    peak_gflops_per_core: float | None


@dataclass
class Measured:
    """A measured row's fields as a worker reports them (``skipped`` set when it could not run)."""

    skipped: str | None = None
    provider: str = ""
    precision: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)
    session_create_ms: float | None = None
    cold_ms: float | None = None
    output_shape: list[int] | None = None
    warmup: dict[str, Any] | None = None
    peak_rss_mb: float | None = None
    rss_before_mb: float | None = None
    load_avg_1m: float | None = None
    stages_ms: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measured:
        """From :func:`edgeseq.bench.worker.measure`'s dict (unknown keys ignored)."""
        if "skipped" in data:
            return cls(skipped=str(data["skipped"]))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["stages_ms"] = known.get("stages_ms") or {}
        return cls(**known)


# ---------------------------------------------------------------------------------------------
# The run


def bench(
    models: Sequence[str | Path | ModelRef],
    *,
    checkpoint: str | Path | None = None,
    options: BenchOptions | None = None,
    progress: Progress | None = None,
) -> BenchResult:
    """Benchmark ONNX models (and the PyTorch checkpoint they came from) side by side.

    Args:
        models: ONNX files (or ModelRefs with display names); every ONNX backend runs each one.
        checkpoint: the edgeseq checkpoint for the ``torch`` eager baseline.
        options: what to sweep and how long to measure.
        progress: optional callable taking one line of text per row (the CLI prints it).

    Returns:
        BenchResult with one row per (model, backend, threads, batch, shape).

    Raises:
        ConfigError: bad options, or ``torch`` asked for without a checkpoint.
        ModelFileError: a model cannot be read.
    """
    options = options or BenchOptions()
    _check_request(models, checkpoint, options)
    infos = [inspect_model(m if isinstance(m, ModelRef) else ModelRef(str(m))) for m in models]
    check_sweep(infos, options)
    machine = Machine(usable_physical_cores(), peak_gflops_estimate(read_cpu_facts(), 1))
    jobs = plan_jobs(infos, checkpoint, options.threads or [machine.cores], options)
    rows = _measure_rows(jobs, options, machine, progress or _quiet)
    env = env_card([i.ref.path for i in infos] + ([str(checkpoint)] if checkpoint else []))
    return BenchResult(
        rows=rows,
        env=env.to_json(),
        options=asdict(options),
        created=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        notes=[],
    )


def _quiet(_line: str) -> None:
    return None


def _check_request(models: Sequence[object], checkpoint: str | Path | None, options: BenchOptions) -> None:
    """Refuse what cannot run before anything is read or measured."""
    if "torch" in options.backends and checkpoint is None:
        raise ConfigError("--backend torch needs --checkpoint CKPT (the PyTorch eager baseline runs the checkpoint)")
    onnx_backends = [b for b in options.backends if b in ONNX_BACKENDS]
    if onnx_backends and not models:
        raise ConfigError(f"backends {', '.join(onnx_backends)} need at least one ONNX model")


def _measure_rows(jobs: list[BenchJob], options: BenchOptions, machine: Machine, say: Progress) -> list[BenchRow]:
    """Measure every job (interleaved up front, or one at a time as the rows are filled); one line per row."""
    interleaved: list[dict[str, Any]] | None = None
    if options.rounds > 1:
        say(f"  measuring {len(jobs)} rows in {options.rounds} interleaved rounds")
        interleaved = measure_interleaved([job.spec for job in jobs], rounds=options.rounds, seed=options.seed)
    rows = []
    for i, job in enumerate(jobs):
        _plan_notes(job, machine)
        data = interleaved[i] if interleaved is not None else _run_spec(job, options.isolate)
        peak = machine.peak_gflops_per_core if job.spec.backend != "ort-cuda" else None
        _fill_row(job.row, Measured.from_json(data), job.flops, peak)
        _annotate(job.row, options, machine)
        rows.append(job.row)
        say(_progress_line(job.row))
    return rows


def _run_spec(job: BenchJob, isolate: bool) -> dict[str, Any]:
    return measure_isolated(job.spec) if isolate else measure(job.spec)


def _plan_notes(job: BenchJob, machine: Machine) -> None:
    """Notes known before the row runs: oversubscription, and cuDNN's per-shape search on CUDA."""
    row = job.row
    if row.threads > machine.cores:
        row.notes.append(
            f"{row.threads} threads on {machine.cores} physical cores: oversubscribed (expect slower, noisier runs)"
        )
    if job.spec.backend == "ort-cuda":
        row.notes.append("each new input shape pays the cuDNN algorithm search; it is warmed up before timing")


def _annotate(row: BenchRow, options: BenchOptions, machine: Machine) -> None:
    """Notes and settings known after the row ran: a busy machine, a bimodal backend, interleaving."""
    row.rss_isolated = options.isolate
    # Our own measurement adds up to `threads` to the load; more than that is someone else's work.
    if row.load_avg_1m is not None and row.load_avg_1m > machine.cores + BUSY_LOAD_MARGIN:
        row.notes.append(BUSY_NOTE)
    if row.p50_ms and row.p90_ms and row.p90_ms > UNSTABLE_P90_RATIO * row.p50_ms:
        row.notes.append(UNSTABLE_NOTE)
    if options.rounds > 1:
        row.settings["interleaved_rounds"] = options.rounds


def _fill_row(row: BenchRow, measured: Measured, flops: dict[str, float] | None, peak_per_core: float | None) -> None:
    """Copy a worker's report into the row, with throughput and achieved/peak GFLOP/s."""
    if measured.skipped is not None:
        row.skipped = measured.skipped
        return
    for key in TIMING_KEYS:
        setattr(row, key, measured.timing[key])
    row.images_per_s = row.batch * 1e3 / row.p50_ms if row.p50_ms else None
    row.provider = measured.provider
    row.precision = measured.precision
    row.settings = dict(measured.settings)
    if measured.warmup:
        row.settings["warmup"] = measured.warmup  # calls it took to reach a steady latency
    row.session_create_ms = measured.session_create_ms
    row.cold_ms = measured.cold_ms
    row.peak_rss_mb = measured.peak_rss_mb
    row.rss_before_mb = measured.rss_before_mb
    row.load_avg_1m = measured.load_avg_1m
    row.stages_ms = measured.stages_ms
    out_shape = measured.output_shape
    if out_shape and len(out_shape) == 3:  # (batch, time, classes): a CTC model's timesteps
        row.timesteps = out_shape[1]
    if flops and row.p50_ms:
        row.gflops_per_inference = flops["total"] / 1e9
        row.achieved_gflops_s = flops["total"] / (row.p50_ms / 1e3) / 1e9
    if peak_per_core:
        row.peak_fp32_gflops_s = peak_per_core * row.threads


def _progress_line(row: BenchRow) -> str:
    """One line per row for the progress callback."""
    label = f"{row.model}{'/' + row.variant if row.variant else ''} {row.backend} b{row.batch} t{row.threads} {'x'.join(map(str, row.input_shape))}"
    if row.skipped:
        return f"  {label}: skipped ({row.skipped})"
    return f"  {label}: p50 {row.p50_ms:.3f} ms, p99 {row.p99_ms:.3f} ms, {row.precision} on {row.provider}"
