"""``bench()``: measure models across backends, batches, threads and input widths/heights.

Inputs are derived from each model's edgeseq metadata (layout, dtype, channels, height, width;
uint8 NHWC when preprocessing is inside the graph) and filled with random data from a fixed
seed: latency does not depend on the values. Each row is measured in a fresh process by
default (``BenchOptions.isolate``) so its peak RSS is its own.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.bench.backends import BACKENDS, MeasureSpec, measure, measure_isolated
from edgeseq.bench.modelinfo import ModelInfo, ModelRef, find_number, input_shapes, inspect_model
from edgeseq.bench.result import SCHEMA, BenchResult, BenchRow
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
ONNX_BACKENDS = tuple(b for b in BACKENDS if b != "torch")


@dataclass
class BenchOptions:
    """What to measure and how long.

    Attributes:
        backends: any of ort-cpu, ort-cuda, torch (needs ``checkpoint``), openvino, openvino-f32.
        batches: batch sizes.
        threads: intra-op thread counts; ``None`` = the physical cores this process may use.
        widths, heights: values for a dynamic width/height axis (``None``: the model's default size).
        spinning: onnxruntime intra-op spin-waiting (off by default, docs/traps.md #15; recorded per row).
        min_time_s, min_runs, warmup_runs, max_time_s: see ``time_callable``.
        isolate: measure each row in a fresh Python process so peak RSS is per row.
        rounds: > 1 interleaves the rows: each row's timed calls are split into this many slices and
            every round visits the rows in a random order (fair side-by-side ratios on a machine
            whose load drifts); needs ``isolate``.
        profile: onnxruntime profiler per-stage times for ort-cpu rows.
        flops: estimate FLOPs from the graph and report achieved GFLOP/s.
        seed: seed of the random inputs.
    """

    backends: list[str] = field(default_factory=lambda: ["ort-cpu"])
    batches: list[int] = field(default_factory=lambda: [1])
    threads: list[int] | None = None
    widths: list[int] | None = None
    heights: list[int] | None = None
    spinning: bool = False
    min_time_s: float = 1.0
    min_runs: int = 20
    warmup_runs: int = 3
    max_time_s: float = 30.0
    isolate: bool = True
    rounds: int = 1
    profile: bool = True
    flops: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        for name in self.backends:
            if name not in BACKENDS:
                raise ConfigError(f"--backend: got {name!r}; expected any of {', '.join(BACKENDS)}")
        if not self.backends:
            raise ConfigError("--backend: expected at least one backend")
        for key in ("batches", "threads", "widths", "heights"):
            values = getattr(self, key)
            if values is not None and (not values or any(int(v) < 1 for v in values)):
                raise ConfigError(f"{key}: got {values!r}; expected a non-empty list of positive integers")
        if self.widths and self.heights:
            raise ConfigError("widths and heights: got both; expected a sweep over one dynamic axis at a time")
        if self.rounds < 1 or (self.rounds > 1 and not self.isolate):
            raise ConfigError(f"rounds: got {self.rounds} with isolate={self.isolate}; expected 1, or > 1 with isolate")
        if self.min_runs < 1 or self.warmup_runs < 0:
            raise ConfigError(
                f"min_runs/warmup_runs: got {self.min_runs}/{self.warmup_runs}; expected min_runs >= 1, warmup_runs >= 0"
            )
        if self.min_time_s < 0 or self.max_time_s < self.min_time_s:
            raise ConfigError(
                f"min_time_s/max_time_s: got {self.min_time_s}/{self.max_time_s}; expected 0 <= min <= max"
            )


# ---------------------------------------------------------------------------------------------
# The run


def _fill_row(
    row: BenchRow, measured: dict[str, Any], flops: dict[str, float] | None, peak_per_core: float | None
) -> None:
    if "skipped" in measured:
        row.skipped = measured["skipped"]
        return
    timing = measured["timing"]
    for key in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "mean_ms", "std_ms", "min_ms", "max_ms", "n"):
        setattr(row, key, timing[key])
    row.images_per_s = row.batch * 1e3 / row.p50_ms if row.p50_ms else None
    row.provider = measured["provider"]
    row.precision = measured["precision"]
    row.settings = dict(measured.get("settings", {}))
    if measured.get("warmup"):
        row.settings["warmup"] = measured["warmup"]  # calls it took to reach a steady latency
    row.session_create_ms = measured["session_create_ms"]
    row.cold_ms = measured["cold_ms"]
    row.peak_rss_mb = measured.get("peak_rss_mb")
    row.rss_before_mb = measured.get("rss_before_mb")
    row.load_avg_1m = measured.get("load_avg_1m")
    row.stages_ms = measured.get("stages_ms", {}) or {}
    out_shape = measured.get("output_shape")
    if out_shape and len(out_shape) == 3:  # (batch, time, classes): a CTC model's timesteps
        row.timesteps = out_shape[1]
    if flops and row.p50_ms:
        row.gflops_per_inference = flops["total"] / 1e9
        row.achieved_gflops_s = flops["total"] / (row.p50_ms / 1e3) / 1e9
    if peak_per_core:
        row.peak_fp32_gflops_s = peak_per_core * row.threads


def _run_spec(spec: MeasureSpec, isolate: bool) -> dict[str, Any]:
    return measure_isolated(spec) if isolate else measure(spec)


def bench(
    models: list[str | Path | ModelRef],
    *,
    checkpoint: str | Path | None = None,
    options: BenchOptions | None = None,
    progress: Any = None,
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
    from edgeseq.bench.envcard import env_card, peak_gflops_estimate, read_cpuinfo, usable_cores
    from edgeseq.bench.profile import count_flops

    options = options or BenchOptions()
    if "torch" in options.backends and checkpoint is None:
        raise ConfigError("--backend torch needs --checkpoint CKPT (the PyTorch eager baseline runs the checkpoint)")
    onnx_backends = [b for b in options.backends if b in ONNX_BACKENDS]
    if onnx_backends and not models:
        raise ConfigError(f"backends {', '.join(onnx_backends)} need at least one ONNX model")
    refs = [m if isinstance(m, ModelRef) else ModelRef(str(m)) for m in models]
    infos = [inspect_model(r) for r in refs]
    cpu = read_cpuinfo()
    cores = usable_cores()
    threads_list = options.threads or [cores]
    peak_per_core = peak_gflops_estimate(cpu, 1)
    say = progress or (lambda _line: None)
    rows: list[BenchRow] = []
    notes: list[str] = []

    jobs: list[tuple[BenchRow, MeasureSpec, dict[str, float] | None]] = []

    def run_one(row: BenchRow, spec: MeasureSpec, flops: dict[str, float] | None) -> None:
        jobs.append((row, spec, flops))

    flop_counts: dict[tuple[str, tuple[int, ...]], dict[str, float]] = {}

    def flops_of(path: str, shape: list[int]) -> dict[str, float]:
        # one graph load + shape inference per (model, shape), not per backend and thread count
        key = (path, tuple(shape))
        if key not in flop_counts:
            flop_counts[key] = count_flops(path, shape)
        return flop_counts[key]

    common = dict(
        min_time_s=options.min_time_s,
        min_runs=options.min_runs,
        warmup_runs=options.warmup_runs,
        max_time_s=options.max_time_s,
        seed=options.seed,
    )
    for info in infos:
        wanted = info.ref.backends
        for backend in [b for b in onnx_backends if wanted is None or b in wanted]:
            for threads in threads_list:
                for batch in options.batches:
                    for shape, shape_notes in input_shapes(info, batch, options):
                        flops = flops_of(info.ref.path, shape) if options.flops else None
                        spec = MeasureSpec(
                            backend=backend,
                            model_path=info.ref.path,
                            input_name=info.input_name,
                            shape=shape,
                            dtype=info.dtype,
                            batch=batch,
                            threads=threads,
                            model_precision=info.precision,
                            profile=options.profile and backend == "ort-cpu",
                            spinning=options.spinning and backend.startswith("ort"),  # only onnxruntime spins
                            **common,
                        )
                        row = BenchRow(
                            model=info.ref.name,
                            variant=info.ref.variant,
                            backend=backend,
                            precision=info.precision,
                            model_precision=info.precision,
                            provider="",
                            batch=batch,
                            threads=threads,
                            spinning=options.spinning if backend.startswith("ort") else False,
                            input_shape=shape,
                            input_dtype=info.dtype,
                            model_path=info.ref.path,
                            model_size_mb=info.size_mb,
                            accuracy=info.accuracy,
                            parity_max_abs_diff=info.parity,
                            notes=list(shape_notes),
                        )
                        run_one(row, spec, flops)
    if "torch" in options.backends:  # the baseline first: it is what the other rows are read against
        before = len(jobs)
        _bench_torch(str(checkpoint), infos, threads_list, options, common, run_one)
        jobs[:] = jobs[before:] + jobs[:before]
    if options.rounds > 1:
        from edgeseq.bench.interleave import measure_interleaved

        say(f"  measuring {len(jobs)} rows in {options.rounds} interleaved rounds")
        measured = measure_interleaved([spec for _, spec, _ in jobs], rounds=options.rounds, seed=options.seed)
    else:
        measured = None
    for i, (row, spec, flops) in enumerate(jobs):
        if row.threads > cores:
            row.notes.append(
                f"{row.threads} threads on {cores} physical cores: oversubscribed (expect slower, noisier runs)"
            )
        if spec.backend == "ort-cuda":
            row.notes.append("each new input shape pays the cuDNN algorithm search; it is warmed up before timing")
        result = measured[i] if measured is not None else _run_spec(spec, options.isolate)
        _fill_row(row, result, flops, peak_per_core if spec.backend != "ort-cuda" else None)
        row.rss_isolated = options.isolate
        # Our own measurement adds up to `threads` to the load; more than that is someone else's work.
        if row.load_avg_1m is not None and row.load_avg_1m > cores + BUSY_LOAD_MARGIN:
            row.notes.append(BUSY_NOTE)
        if row.p50_ms and row.p90_ms and row.p90_ms > UNSTABLE_P90_RATIO * row.p50_ms:
            row.notes.append(UNSTABLE_NOTE)
        if options.rounds > 1:
            row.settings["interleaved_rounds"] = options.rounds
        rows.append(row)
        say(_progress_line(row))
    env = env_card([i.ref.path for i in infos] + ([str(checkpoint)] if checkpoint else []))
    return BenchResult(
        rows=rows,
        env=env.to_json(),
        options=asdict(options),
        created=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        notes=notes,
    )


def _bench_torch(
    checkpoint: str, infos: list[ModelInfo], threads_list: list[int], options: BenchOptions, common: dict, run_one
) -> None:
    """Rows for the PyTorch eager baseline, at the same sizes as the first ONNX model's rows.

    The eager model takes the float NCHW tensor that preprocessing produces, so an ONNX model
    with preprocessing inside (uint8 NHWC) is matched by its height and width.
    """
    from edgeseq.bench.profile import count_flops
    from edgeseq.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    pre = ckpt["preprocess"]
    channels = 1 if pre.get("color", "L") == "L" else 3
    name = infos[0].ref.name if infos else Path(checkpoint).stem
    path = Path(ckpt.get("path", checkpoint))
    for threads in threads_list:
        for batch in options.batches:
            if infos:
                first = infos[0]
                pairs = [
                    ((s[2], s[3]) if first.layout == "NCHW" else (s[1], s[2]), s, n)
                    for s, n in input_shapes(first, batch, options)
                ]
            else:
                pairs = [((int(pre["height"]), w), None, []) for w in (options.widths or [int(pre["width"])])]
            for (h, w), onnx_shape, shape_notes in pairs:
                shape = [batch, channels, int(h), int(w)]
                flops = count_flops(first.ref.path, onnx_shape) if (infos and options.flops and onnx_shape) else None
                spec = MeasureSpec(
                    backend="torch",
                    model_path=str(path),
                    input_name="images",
                    shape=shape,
                    dtype="float32",
                    batch=batch,
                    threads=threads,
                    model_precision="fp32",
                    **common,
                )
                row = BenchRow(
                    model=name,
                    variant="eager",
                    backend="torch",
                    precision="fp32",
                    model_precision="fp32",
                    provider="",
                    batch=batch,
                    threads=threads,
                    spinning=False,
                    input_shape=shape,
                    input_dtype="float32",
                    model_path=str(path),
                    model_size_mb=path.stat().st_size / 2**20,
                    accuracy=find_number(ckpt.get("metrics", {}), ("test_accuracy", "val_accuracy", "accuracy")),
                    notes=list(shape_notes),
                )
                run_one(row, spec, flops)


def _progress_line(row: BenchRow) -> str:
    label = f"{row.model}{'/' + row.variant if row.variant else ''} {row.backend} b{row.batch} t{row.threads} {'x'.join(map(str, row.input_shape))}"
    if row.skipped:
        return f"  {label}: skipped ({row.skipped})"
    return f"  {label}: p50 {row.p50_ms:.3f} ms, p99 {row.p99_ms:.3f} ms, {row.precision} on {row.provider}"
