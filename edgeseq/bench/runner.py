"""``bench()``: measure models across backends, batches, threads and input widths/heights.

Inputs are derived from each model's edgeseq metadata (layout, dtype, channels, height, width;
uint8 NHWC when preprocessing is inside the graph) and filled with random data from a fixed
seed: latency does not depend on the values. Each row is measured in a fresh process by
default (``BenchOptions.isolate``) so its peak RSS is its own.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edgeseq.bench.backends import BACKENDS, INT8_OPS, MeasureSpec, measure, measure_isolated
from edgeseq.errors import ConfigError, InputError, ModelFileError

SCHEMA = "edgeseq-bench/1"
# A 1-minute load average above cores + this means other processes competed for the cores during a row.
BUSY_LOAD_MARGIN = 0.5
BUSY_NOTE = (
    "other processes competed for the cores during this row (load_avg_1m above the cores): its latency is inflated"
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
        spinning: onnxruntime intra-op spin-waiting (off by default, ONNX-TRAPS #15; recorded per row).
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
        if self.min_time_s < 0 or self.max_time_s < self.min_time_s:
            raise ConfigError(
                f"min_time_s/max_time_s: got {self.min_time_s}/{self.max_time_s}; expected 0 <= min <= max"
            )


@dataclass
class ModelRef:
    """A model to benchmark, with the names shown in reports (defaults from its manifest or file name)."""

    path: str
    name: str = ""
    variant: str = ""
    backends: list[str] | None = None  # ONNX backends for this file only (None: all of BenchOptions.backends)


@dataclass
class BenchRow:
    """One measured (or skipped) configuration."""

    model: str
    variant: str
    backend: str
    precision: str  # what actually ran (e.g. OpenVINO's bf16)
    model_precision: str  # what the graph computes in
    provider: str
    batch: int
    threads: int
    spinning: bool
    input_shape: list[int]
    input_dtype: str
    model_path: str
    model_size_mb: float
    timesteps: int | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    mean_ms: float | None = None
    std_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    n: int = 0
    images_per_s: float | None = None
    session_create_ms: float | None = None
    cold_ms: float | None = None
    peak_rss_mb: float | None = None
    rss_before_mb: float | None = None
    rss_isolated: bool = True
    load_avg_1m: float | None = None  # 1-minute load average when the row started (other work on the cores)
    gflops_per_inference: float | None = None
    achieved_gflops_s: float | None = None
    peak_fp32_gflops_s: float | None = None
    stages_ms: dict[str, float] = field(default_factory=dict)
    accuracy: float | None = None
    parity_max_abs_diff: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def key(self) -> tuple:
        """What identifies a row across runs (used by ``bench compare``)."""
        return (
            self.model,
            self.variant,
            self.backend,
            self.precision,
            self.batch,
            self.threads,
            tuple(self.input_shape),
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchRow:
        """Rebuild from :meth:`to_json` output (unknown keys from newer versions are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class BenchResult:
    """Every row of a benchmark run with the environment card it ran on."""

    rows: list[BenchRow]
    env: dict[str, Any]
    options: dict[str, Any]
    created: str = ""
    schema: str = SCHEMA
    notes: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)  # suite: the targets, checked

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (the full record)."""
        return {
            "schema": self.schema,
            "created": self.created,
            "env": self.env,
            "options": self.options,
            "notes": self.notes,
            "targets": self.targets,
            "rows": [r.to_json() for r in self.rows],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchResult:
        """Rebuild from :meth:`to_json` output.

        Raises:
            InputError: not an edgeseq benchmark record.
        """
        if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("rows"), list):
            raise InputError(f"not an edgeseq benchmark result; expected JSON with schema {SCHEMA!r} and rows")
        return cls(
            rows=[BenchRow.from_json(r) for r in data["rows"]],
            env=data.get("env", {}),
            options=data.get("options", {}),
            created=data.get("created", ""),
            notes=list(data.get("notes", [])),
            targets=list(data.get("targets", [])),
        )

    @classmethod
    def load(cls, path: str | Path) -> BenchResult:
        """Read a result JSON file."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"benchmark result {str(path)!r} not found; expected a JSON file from `edgeseq bench`")
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError(f"{str(path)!r} is not valid JSON; expected a result from `edgeseq bench --out`") from None


# ---------------------------------------------------------------------------------------------
# Model inspection


@dataclass
class ModelInfo:
    """What the benchmark needs to know about an ONNX file before running it."""

    ref: ModelRef
    size_mb: float
    sha256: str
    input_name: str
    declared_shape: list[int | str | None]
    layout: str
    dtype: str
    channels: int
    height: int
    width: int
    precision: str
    accuracy: float | None = None
    parity: float | None = None


def read_manifest(model_path: str | Path) -> dict[str, Any]:
    """The manifest JSON beside a model (``X.json`` or ``X.manifest.json``), or ``{}``."""
    path = Path(model_path)
    for candidate in (path.with_suffix(".json"), path.with_name(path.stem + ".manifest.json")):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError, OSError):
                continue
            if isinstance(data, dict):
                return data
    return {}


def _find_number(data: Any, keys: tuple[str, ...]) -> float | None:
    """The first numeric value under one of ``keys`` in a nested dict (breadth first)."""
    queue = [data]
    while queue:
        item = queue.pop(0)
        if not isinstance(item, dict):
            continue
        for key in keys:
            value = item.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        queue.extend(v for v in item.values() if isinstance(v, dict))
    return None


def manifest_figures(manifest: dict[str, Any]) -> tuple[str, float | None, float | None]:
    """(variant, accuracy, parity max |diff|) recorded in a model's manifest.

    An optimized variant's manifest has an ``optimize`` section (its gate score: metric and max
    difference from FP32); an exported model has ``parity`` (worst max |diff| vs PyTorch) and
    its source checkpoint's metrics.
    """
    opt = manifest.get("optimize") if isinstance(manifest.get("optimize"), dict) else {}
    variant = str(manifest.get("variant") or opt.get("variant") or "")
    score = ((opt.get("gate") or {}).get("score") or {}) if opt else {}
    accuracy = score.get("metric") if isinstance(score.get("metric"), (int, float)) else None
    if accuracy is None:
        accuracy = _find_number(manifest.get("accuracy"), ("value", "accuracy", "metric"))
    if accuracy is None:
        source = manifest.get("source_checkpoint") if isinstance(manifest.get("source_checkpoint"), dict) else {}
        accuracy = _find_number(source.get("metrics"), ("test_accuracy", "val_accuracy", "accuracy"))
    parity = score.get("max_abs_diff") if isinstance(score.get("max_abs_diff"), (int, float)) else None
    if parity is None and isinstance(manifest.get("parity"), dict):
        worst = manifest["parity"].get("worst") or {}
        values = [
            w.get("max_abs")
            for w in worst.values()
            if isinstance(w, dict) and isinstance(w.get("max_abs"), (int, float))
        ]
        parity = max(values) if values else None
    return variant, (float(accuracy) if accuracy is not None else None), (float(parity) if parity is not None else None)


def graph_precision(model_path: str | Path) -> str:
    """``"int8"`` when the graph has quantized ops, ``"fp16"`` when its weights are half, else ``"fp32"``."""
    try:
        import onnx
    except ImportError:
        return "unknown"
    model = onnx.load(str(model_path), load_external_data=False)
    ops = {n.op_type for n in model.graph.node}
    if ops & INT8_OPS:
        return "int8"
    halves = sum(1 for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16)
    return "fp16" if halves > len(model.graph.initializer) / 2 else "fp32"


def inspect_model(ref: ModelRef) -> ModelInfo:
    """Read a model's input, metadata, manifest, size and hash.

    Raises:
        ModelFileError: not a readable ONNX file.
    """
    import onnxruntime as ort

    from edgeseq.fileio import sha256_file
    from edgeseq.runtime.metadata import ModelMetadata
    from edgeseq.runtime.session import check_external_data, check_model_file

    path = check_model_file(ref.path)
    check_external_data(
        path
    )  # ORT would read a hard-linked outside file (ONNX-TRAPS #20); every backend reads this path
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several unrelated types
        raise ModelFileError(f"cannot load {str(path)!r} with onnxruntime: {str(exc).splitlines()[0][:200]}") from None
    inp = session.get_inputs()[0]
    declared = [d if isinstance(d, int) else None for d in inp.shape]
    props = session.get_modelmeta().custom_metadata_map
    try:
        meta = ModelMetadata.from_props(props)
    except ModelFileError:
        meta = None
    if meta is not None:
        pre = meta.preprocess
        layout, dtype = meta.input.layout, meta.input.dtype
        channels = 1 if pre.get("color", "L") == "L" else 3
        height, width = int(pre.get("height", 0)), int(pre.get("width", 0))
    else:  # a plain ONNX model: read what is declared, assume NCHW float
        layout, dtype = "NCHW", "uint8" if "uint8" in inp.type else "float32"
        if len(declared) != 4:
            raise ModelFileError(
                f"{path.name}: input {inp.name!r} has shape {inp.shape}; without edgeseq metadata expected a 4-D NCHW input"
            )
        channels, height, width = (d or 0 for d in declared[1:])
    if "float16" in inp.type:
        dtype = "float16"
    manifest = read_manifest(path)
    manifest_variant, accuracy, parity = manifest_figures(manifest)
    # an optimized variant is named after the model it was made from, so its rows group with that model's
    made_from = (
        ((manifest.get("optimize") or {}).get("made_from") or {}).get("model")
        if isinstance(manifest.get("optimize"), dict)
        else None
    )
    name = ref.name or str(manifest.get("name") or (Path(made_from).stem if made_from else path.stem))
    variant = ref.variant or manifest_variant
    return ModelInfo(
        ref=ModelRef(str(path), name, variant, ref.backends),
        size_mb=path.stat().st_size / 2**20,
        sha256=sha256_file(path),
        input_name=inp.name,
        declared_shape=declared,
        layout=layout,
        dtype=dtype,
        channels=channels,
        height=height,
        width=width,
        precision=graph_precision(path),
        accuracy=accuracy,
        parity=parity,
    )


def input_shapes(info: ModelInfo, batch: int, options: BenchOptions) -> list[tuple[list[int], list[str]]]:
    """The input shapes to run for ``batch``, one per swept width/height, each with notes.

    A sweep asked for on an axis the model declares fixed is not applied; the row says so.
    """
    h_axis, w_axis = (2, 3) if info.layout == "NCHW" else (1, 2)
    base_h = info.height or (info.declared_shape[h_axis] or 0)
    base_w = info.width or (info.declared_shape[w_axis] or 0)
    sweep_axis, values = (w_axis, options.widths) if options.widths else (h_axis, options.heights)
    out: list[tuple[list[int], list[str]]] = []
    for value in values or [None]:
        h, w = base_h, base_w
        notes: list[str] = []
        if value is not None:
            fixed = info.declared_shape[sweep_axis]
            axis_name = "width" if sweep_axis == w_axis else "height"
            if fixed is not None and fixed != value:
                notes.append(f"{axis_name} sweep not applied: the model's {axis_name} is fixed at {fixed}")
            elif sweep_axis == w_axis:
                w = value
            else:
                h = value
        if not h or not w:
            raise InputError(
                f"{Path(info.ref.path).name}: cannot tell the input height/width (declared {info.declared_shape}); "
                "give --height/--width"
            )
        shape = [batch, info.channels, h, w] if info.layout == "NCHW" else [batch, h, w, info.channels]
        if shape not in [s for s, _ in out]:
            out.append((shape, notes))
    return out


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
    row.settings = measured.get("settings", {})
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
    cores = usable_cores(cpu)
    threads_list = options.threads or [cores]
    peak_per_core = peak_gflops_estimate(cpu, 1)
    say = progress or (lambda _line: None)
    rows: list[BenchRow] = []
    notes: list[str] = []

    jobs: list[tuple[BenchRow, MeasureSpec, dict[str, float] | None]] = []

    def run_one(row: BenchRow, spec: MeasureSpec, flops: dict[str, float] | None) -> None:
        jobs.append((row, spec, flops))

    common = dict(
        spinning=options.spinning,
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
                        flops = count_flops(info.ref.path, shape) if options.flops else None
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
        if options.rounds > 1:
            row.settings["interleaved_rounds"] = options.rounds
        rows.append(row)
        say(_progress_line(row))
    env = env_card([i.ref.path for i in infos] + ([str(checkpoint)] if checkpoint else []))
    return BenchResult(
        rows=rows,
        env=env.to_json(),
        options=asdict(options),
        created=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
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
                    accuracy=_find_number(ckpt.get("metrics", {}), ("test_accuracy", "val_accuracy", "accuracy")),
                    notes=list(shape_notes),
                )
                run_one(row, spec, flops)


def _progress_line(row: BenchRow) -> str:
    label = f"{row.model}{'/' + row.variant if row.variant else ''} {row.backend} b{row.batch} t{row.threads} {'x'.join(map(str, row.input_shape))}"
    if row.skipped:
        return f"  {label}: skipped ({row.skipped})"
    return f"  {label}: p50 {row.p50_ms:.3f} ms, p99 {row.p99_ms:.3f} ms, {row.precision} on {row.provider}"
