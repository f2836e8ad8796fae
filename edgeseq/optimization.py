"""Optimize an edgeseq ONNX model for the edge: graph optimization, INT8, FP16, ORT format — each re-checked.

:func:`optimize` builds the requested variants with onnxruntime's own tools (one module per pass
under :mod:`edgeseq.passes`), opens each in a child process first (a crashing session becomes a
rejected row, never a dead caller), runs it on the held-out samples beside FP32 (accuracy or CER,
agreement, max difference, size, batch-1 latency), rejects variants over the allowed accuracy
drop, and names the fastest accepted variant for the target device.

Variants:
    fp32          the input model, copied (the reference)
    ort-opt       onnxruntime's offline-optimized graph at ``graph_level``
    int8-static   static QDQ, per-channel weights, calibrated on samples
    int8-dynamic  dynamic quantization of LSTM/MatMul/Gemm only (never Conv: docs/traps.md #11)
    int8-mixed    static QDQ for the convolutional part + dynamic for LSTM/MatMul/Gemm
    fp16          float16 with float32 inputs/outputs (for CUDA)
    ort           the ORT format (.ort) of ``ort_source`` plus its reduced-operator config (mobile)
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.accuracy import DEFAULT_LATENCY_RUNS, DEFAULT_MAX_ACCURACY_DROP, Outputs, Score, accuracy_drop
from edgeseq.config import _choice, from_dict
from edgeseq.errors import ConfigError, EdgeseqError, InputError, ModelFileError
from edgeseq.fileio import ensure_writable_dir, sha256_file, write_bytes_atomic, write_json_atomic, write_text_atomic
from edgeseq.passes.calibration import SampleSet
from edgeseq.passes.cpuinfo import (
    CpuFeatures,
    Int8Choice,
    choose_conv_kernel,
    choose_int8_settings,
    detect_cpu_features,
)
from edgeseq.passes.sandbox import SessionCheck, check_session
from edgeseq.runtime.metadata import metadata_of

VARIANTS = ("fp32", "ort-opt", "int8-static", "int8-dynamic", "int8-mixed", "fp16", "ort")
PRECISIONS = {
    "fp32": "fp32",
    "ort-opt": "fp32",
    "int8-static": "int8",
    "int8-dynamic": "int8",
    "int8-mixed": "int8",
    "fp16": "fp16",
    "ort": "as source",
}
TARGETS = ("cpu", "cuda", "mobile")
GRAPH_LEVEL_NAMES = ("basic", "extended", "all")
SESSION_LEVELS = ("disable", "basic", "extended", "all")
QUANT_TYPE_CHOICES = ("auto", "quint8", "qint8")
CONV_KERNEL_CHOICES = ("auto", "gemm", "symmetric")
CALIBRATION_CHOICES = ("minmax", "entropy", "percentile")
REPORT_JSON = "optimize_report.json"
REPORT_MD = "optimize_report.md"
# Samples used to measure the gate when no labelled data is given at all: random inputs, agreement only.
RANDOM_EVAL_SAMPLES = 16


@dataclass
class OptimizeConfig:
    """The ``[optimize]`` table of an export profile (errors name ``optimize.<key>``)."""

    variants: list[str] = field(
        default_factory=lambda: ["fp32", "ort-opt", "int8-static", "int8-dynamic", "int8-mixed"]
    )
    target: str = "cpu"  # cpu | cuda | mobile: which device the recommendation is for
    calibration_method: str = "minmax"  # minmax | entropy | percentile (onnxruntime CalibrationMethod)
    calibration_samples: int = 64  # samples fed to the calibrator
    per_channel: bool = True  # per-output-channel weight scales (accuracy on ResNet-style convs)
    activation_type: str = "auto"  # auto | quint8 | qint8 ("auto": picked for the CPU, see passes.cpuinfo)
    weight_type: str = "auto"  # auto | quint8 | qint8
    reduce_range: bool | str = "auto"  # true | false | "auto" (7-bit weights only on x86 without VNNI)
    conv_kernel: str = "auto"  # auto | gemm | symmetric: which onnxruntime INT8 conv kernel (see passes.conv_weights)
    exclude_first_conv: bool = False  # keep the first convolution in float (it sees raw pixels)
    nodes_to_exclude: list[str] = field(default_factory=list)  # node names kept in float by static quantization
    dynamic_op_types: list[str] = field(default_factory=lambda: ["LSTM", "MatMul", "Gemm"])
    graph_level: str = "extended"  # ort-opt level: basic | extended | all ("all" is machine-specific)
    session_graph_level: str = "all"  # session level used to measure every variant
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP  # points of accuracy (or CER) a variant may lose
    min_agreement: float | None = None  # percent of predictions that must equal FP32's (None: not checked)
    fp16_keep_io_types: bool = True  # float32 inputs/outputs with Cast nodes at the boundaries
    fp16_op_block_list: list[str] | None = None  # op types kept float32 (None: onnxruntime's default list)
    ort_source: str = "fp32"  # the variant converted to the .ort format
    ort_target_platform: str | None = None  # "arm" | "amd64" | None (the conversion tool's default)
    threads: int = 0  # intra-op threads for measuring; 0: the physical cores
    latency_runs: int = DEFAULT_LATENCY_RUNS  # batch-1 runs per variant (median reported); 0 skips latency
    eval_batch: int = 32  # batch size when running the evaluation samples
    max_eval_samples: int = 2000  # cap on held-out samples for the gate
    session_check_timeout_s: float = 120.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.variants:
            raise ConfigError("optimize.variants: got an empty list; expected some of: " + ", ".join(VARIANTS))
        for name in self.variants:
            _choice("optimize.variants", name, VARIANTS)
        if len(set(self.variants)) != len(self.variants):
            raise ConfigError(f"optimize.variants: got duplicates in {self.variants!r}; expected each variant once")
        _choice("optimize.target", self.target, TARGETS)
        _choice("optimize.calibration_method", self.calibration_method, CALIBRATION_CHOICES)
        _choice("optimize.activation_type", self.activation_type, QUANT_TYPE_CHOICES)
        _choice("optimize.weight_type", self.weight_type, QUANT_TYPE_CHOICES)
        _choice("optimize.conv_kernel", self.conv_kernel, CONV_KERNEL_CHOICES)
        if not isinstance(self.reduce_range, bool) and self.reduce_range != "auto":
            raise ConfigError(f'optimize.reduce_range: got {self.reduce_range!r}; expected true, false or "auto"')
        _choice("optimize.graph_level", self.graph_level, GRAPH_LEVEL_NAMES)
        _choice("optimize.session_graph_level", self.session_graph_level, SESSION_LEVELS)
        if "Conv" in self.dynamic_op_types:
            raise ConfigError(
                "optimize.dynamic_op_types: got 'Conv'; dynamic Conv becomes ConvInteger, about 2x slower than FP32 "
                "on CPU (use int8-static or int8-mixed for convolutions)"
            )
        if not self.dynamic_op_types:
            raise ConfigError('optimize.dynamic_op_types: got an empty list; expected e.g. ["LSTM", "MatMul", "Gemm"]')
        if self.max_accuracy_drop != self.max_accuracy_drop:  # NaN
            raise ConfigError("optimize.max_accuracy_drop: got NaN; expected a number of points")
        if self.min_agreement is not None and not 0 <= self.min_agreement <= 100:
            raise ConfigError(f"optimize.min_agreement: got {self.min_agreement!r}; expected a percentage 0..100")
        if "ort" in self.variants and self.ort_source != "fp32" and self.ort_source not in self.variants:
            raise ConfigError(
                f"optimize.ort_source: got {self.ort_source!r}, which is not among optimize.variants; "
                "expected 'fp32' or one of the requested variants"
            )
        if self.ort_source in ("ort",) or self.ort_source not in VARIANTS:
            raise ConfigError(f"optimize.ort_source: got {self.ort_source!r}; expected a non-ort variant name")
        if self.ort_target_platform not in (None, "arm", "amd64"):
            raise ConfigError(
                f'optimize.ort_target_platform: got {self.ort_target_platform!r}; expected "arm" or "amd64"'
            )
        for key in ("calibration_samples", "eval_batch", "max_eval_samples"):
            if getattr(self, key) < 1:
                raise ConfigError(f"optimize.{key}: got {getattr(self, key)!r}; expected a positive integer")
        for key in ("threads", "latency_runs"):
            if getattr(self, key) < 0:
                raise ConfigError(f"optimize.{key}: got {getattr(self, key)!r}; expected a non-negative integer")
        if self.session_check_timeout_s <= 0:
            raise ConfigError(f"optimize.session_check_timeout_s: got {self.session_check_timeout_s!r}; expected > 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OptimizeConfig:
        """Build from the raw ``[optimize]`` table (unknown keys and wrong types raise ConfigError)."""
        return from_dict(cls, data, prefix="optimize")

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)

    def ordered_variants(self) -> list[str]:
        """The requested variants in build order; fp32 (the reference) always first."""
        wanted = set(self.variants) | {"fp32"}
        return [name for name in VARIANTS if name in wanted]


@dataclass
class VariantResult:
    """One row of the report."""

    name: str
    precision: str
    path: str | None = None
    size_bytes: int | None = None
    status: str = "rejected"  # reference | accepted | rejected
    reason: str = ""
    score: Score | None = None
    delta: float | None = None  # metric minus FP32's metric, in points
    speedup: float | None = None  # FP32 p50 / this p50
    ops_left_float: dict[str, int] | None = None
    op_histogram: dict[str, int] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    session_graph_level: str = ""
    build_s: float = 0.0

    @property
    def usable(self) -> bool:
        """Accepted by the gate (or the FP32 reference)."""
        return self.status in ("reference", "accepted")

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        out = asdict(self)
        out["score"] = self.score.to_json() if self.score else None
        return out


@dataclass
class OptimizeResult:
    """Everything :func:`optimize` did: one row per variant and the recommendation."""

    model: str
    out_dir: str
    target: str
    variants: list[VariantResult]
    recommended: str | None
    recommendation_reason: str
    config: dict[str, Any]
    cpu: dict[str, Any]
    int8: dict[str, Any]
    calibration: str
    evaluation: str
    providers: list[str]
    environment: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def variant(self, name: str) -> VariantResult:
        """The row for ``name``.

        Raises:
            KeyError: no such variant was built.
        """
        for row in self.variants:
            if row.name == name:
                return row
        raise KeyError(name)

    @property
    def all_optimized_rejected(self) -> bool:
        """Whether every variant other than fp32 was rejected (and at least one was asked for)."""
        others = [row for row in self.variants if row.name != "fp32"]
        return bool(others) and not any(row.usable for row in others)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (what ``optimize_report.json`` holds)."""
        out = asdict(self)
        out["variants"] = [row.to_json() for row in self.variants]
        return out

    def table(self) -> str:
        """The report as a Markdown table."""
        header = [
            "variant",
            "precision",
            "size",
            "metric",
            "Δ vs fp32",
            "agreement",
            "max diff",
            "p50 ms",
            "× fp32",
            "status",
            "ops left float",
        ]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in self.variants:
            s = row.score
            metric = f"{s.metric_name} {s.metric:.2f}%" if s and s.metric is not None else "–"
            status = row.status + (f": {row.reason}" if row.reason else "")
            if row.name == self.recommended:
                status = "**recommended** " + status
            cells = [
                row.name,
                row.precision,
                _size(row.size_bytes),
                metric,
                f"{row.delta:+.2f}" if row.delta is not None else "–",
                f"{s.agreement:.1f}%" if s and s.agreement is not None else "–",
                f"{s.max_abs_diff:.3g}" if s and s.max_abs_diff is not None else "–",
                f"{s.p50_ms:.2f}" if s and s.p50_ms is not None else "–",
                f"{1 / row.speedup:.2f}" if row.speedup else "–",
                status,
                ", ".join(f"{k}×{v}" for k, v in row.ops_left_float.items())
                if row.ops_left_float
                else ("none" if row.ops_left_float == {} else "–"),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(f"Recommended for {self.target}: {self.recommended or 'none'} — {self.recommendation_reason}")
        return "\n".join(lines)


def _size(n: int | None) -> str:
    if n is None:
        return "–"
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


@dataclass
class _Context:
    """What the variant builders share during one :func:`optimize` call."""

    model: Path
    out: Path
    work: Path
    config: OptimizeConfig
    int8: Int8Choice
    calibration: SampleSet | None
    input_name: str
    built: dict[str, Path] = field(default_factory=dict)
    _preprocessed: Path | None = None

    def preprocessed(self) -> Path:
        """The model after ``quant_pre_process`` (made once, shared by the INT8 variants)."""
        if self._preprocessed is None:
            from edgeseq.passes.int8_static import preprocess_for_quantization

            self._preprocessed = preprocess_for_quantization(self.model, self.work / "preprocessed.onnx")
        return self._preprocessed


def _first_conv(model_path: Path) -> list[str]:
    from edgeseq.passes.graphinfo import load_graph

    for node in load_graph(model_path).graph.node:
        if node.op_type == "Conv":
            return [node.name]
    return []


def _static_settings(ctx: _Context, op_types: list[str] | None):
    from edgeseq.passes.int8_static import StaticQuantSettings

    exclude = list(ctx.config.nodes_to_exclude)
    if ctx.config.exclude_first_conv:
        exclude += _first_conv(ctx.preprocessed())
    return StaticQuantSettings(
        per_channel=ctx.config.per_channel,
        activation_type=ctx.int8.activation_type,
        weight_type=ctx.int8.weight_type,
        reduce_range=ctx.int8.reduce_range,
        calibration_method=ctx.config.calibration_method,
        op_types=op_types,
        nodes_to_exclude=exclude,
    )


def _need_calibration(ctx: _Context) -> SampleSet:
    if ctx.calibration is None or len(ctx.calibration) == 0:
        raise InputError("needs calibration samples (--calibration DATA or --checkpoint CKPT)")
    return ctx.calibration


def _build_fp32(ctx: _Context, dst: Path) -> dict[str, Any]:
    write_bytes_atomic(dst, ctx.model.read_bytes())
    return {}


def _build_ort_opt(ctx: _Context, dst: Path) -> dict[str, Any]:
    from edgeseq.passes.graphopt import PORTABILITY, optimize_graph

    optimize_graph(ctx.model, dst, ctx.config.graph_level)
    return {"graph_level": ctx.config.graph_level, "portability": PORTABILITY[ctx.config.graph_level]}


def _build_int8_static(ctx: _Context, dst: Path) -> dict[str, Any]:
    from edgeseq.passes.calibration import SampleReader
    from edgeseq.passes.int8_static import quantize_static_qdq

    samples = _need_calibration(ctx)
    settings = _static_settings(ctx, None)
    qdq = ctx.work / "static-qdq.onnx"
    quantize_static_qdq(ctx.preprocessed(), qdq, SampleReader(samples, ctx.input_name), settings)
    shifted = _apply_conv_kernel(ctx, qdq, dst)
    return {**settings.to_json(), **shifted, "calibration_samples": len(samples)}


def _build_int8_dynamic(ctx: _Context, dst: Path) -> dict[str, Any]:
    from edgeseq.passes.int8_dynamic import quantize_dynamic_ops

    ops = ctx.config.dynamic_op_types
    quantize_dynamic_ops(
        ctx.preprocessed(), dst, ops, per_channel=False, reduce_range=ctx.int8.reduce_range, weight_type="QInt8"
    )
    return {"op_types": list(ops), "reduce_range": ctx.int8.reduce_range, "weight_type": "QInt8"}


def _build_int8_mixed(ctx: _Context, dst: Path) -> dict[str, Any]:
    from edgeseq.passes.calibration import SampleReader
    from edgeseq.passes.int8_dynamic import quantize_dynamic_ops
    from edgeseq.passes.int8_static import quantize_static_qdq, static_op_types

    samples = _need_calibration(ctx)
    ops = ctx.config.dynamic_op_types
    # the static pass leaves the dynamic pass's op types alone, so each node is quantized by one pass only
    settings = _static_settings(ctx, static_op_types(exclude=ops))
    static_tmp = ctx.work / "mixed-static.onnx"
    quantize_static_qdq(ctx.preprocessed(), static_tmp, SampleReader(samples, ctx.input_name), settings)
    shifted = _apply_conv_kernel(ctx, static_tmp, ctx.work / "mixed-static-kernel.onnx")
    quantize_dynamic_ops(
        ctx.work / "mixed-static-kernel.onnx",
        dst,
        ops,
        per_channel=False,
        reduce_range=ctx.int8.reduce_range,
        weight_type="QInt8",
    )
    return {
        "static": settings.to_json(),
        **shifted,
        "dynamic_op_types": list(ops),
        "calibration_samples": len(samples),
    }


def _apply_conv_kernel(ctx: _Context, src: Path, dst: Path) -> dict[str, Any]:
    """Copy ``src`` to ``dst``, moving Conv weights to zero point -1 when the GEMM conv kernel was chosen."""
    if ctx.int8.conv_kernel != "gemm":
        write_bytes_atomic(dst, src.read_bytes())
        return {"conv_kernel": "symmetric", "conv_weights_shifted": 0}
    from edgeseq.passes.conv_weights import shift_conv_weight_zero_points

    return {"conv_kernel": "gemm", "conv_weights_shifted": shift_conv_weight_zero_points(src, dst)}


def _build_fp16(ctx: _Context, dst: Path) -> dict[str, Any]:
    from edgeseq.passes.fp16 import convert_fp16

    convert_fp16(ctx.model, dst, ctx.config.fp16_keep_io_types, ctx.config.fp16_op_block_list)
    return {"keep_io_types": ctx.config.fp16_keep_io_types, "op_block_list": ctx.config.fp16_op_block_list}


def _build_ort(ctx: _Context, dst: Path) -> dict[str, Any]:
    from edgeseq.passes.ortformat import convert_to_ort

    source = ctx.built.get(ctx.config.ort_source)
    if source is None:
        raise InputError(f"ort_source {ctx.config.ort_source!r} was not built (it was rejected or failed)")
    out = convert_to_ort(source, dst, ctx.config.ort_target_platform)
    return {
        "source": ctx.config.ort_source,
        "config_file": out.config.name,
        "target_platform": ctx.config.ort_target_platform,
    }


_BUILDERS: dict[str, Callable[[_Context, Path], dict[str, Any]]] = {
    "fp32": _build_fp32,
    "ort-opt": _build_ort_opt,
    "int8-static": _build_int8_static,
    "int8-dynamic": _build_int8_dynamic,
    "int8-mixed": _build_int8_mixed,
    "fp16": _build_fp16,
    "ort": _build_ort,
}


def _resolve_int8(config: OptimizeConfig, cpu: CpuFeatures) -> Int8Choice:
    auto = choose_int8_settings(cpu)
    names = {"quint8": "QUInt8", "qint8": "QInt8"}
    activation = auto.activation_type if config.activation_type == "auto" else names[config.activation_type]
    weight = auto.weight_type if config.weight_type == "auto" else names[config.weight_type]
    reduce_range = auto.reduce_range if config.reduce_range == "auto" else bool(config.reduce_range)
    if config.conv_kernel == "auto":
        # the zero-point -1 encoding only pays off on this (AMX) machine's CPU: not for GPUs or phones
        conv_kernel = choose_conv_kernel(cpu, activation, weight) if config.target == "cpu" else "symmetric"
    else:
        conv_kernel = config.conv_kernel
    if conv_kernel == "gemm" and (activation, weight) != ("QUInt8", "QInt8"):
        # s8 activations on onnxruntime's general conv path hit its S8S8 GEMM (~40x slower than U8S8 here)
        raise ConfigError(
            f'optimize.conv_kernel: "gemm" needs quint8 activations and qint8 weights; got {activation} and '
            f'{weight} (set conv_kernel = "symmetric" or "auto")'
        )
    user_set = [
        k for k in ("activation_type", "weight_type", "reduce_range", "conv_kernel") if getattr(config, k) != "auto"
    ]
    reason = auto.reason + (
        "; conv kernel gemm: Conv weights at zero point -1 so onnxruntime runs them on its U8S8 GEMM (AMX)"
        if conv_kernel == "gemm"
        else ""
    )
    reason += f"; set by the profile: {', '.join(user_set)}" if user_set else ""
    return Int8Choice(activation, weight, reduce_range, reason, conv_kernel)


def _copy_metadata(src_props: dict[str, str], dst: Path, variant: dict[str, Any]) -> None:
    """Put the source model's edgeseq metadata (and which variant this is) into ``dst`` if a pass dropped it."""
    import json

    import onnx

    model = onnx.load(str(dst))
    have = {p.key: p.value for p in model.metadata_props}
    wanted = {**src_props, "edgeseq.variant": json.dumps(variant, sort_keys=True, default=str)}
    if all(have.get(k) == v for k, v in wanted.items()):
        return
    del model.metadata_props[:]
    for key, value in {**have, **wanted}.items():
        model.metadata_props.add(key=key, value=value)
    from edgeseq.fileio import atomic_path

    with atomic_path(dst) as tmp:
        onnx.save(model, str(tmp))


def _providers(target: str) -> tuple[list[str], list[str]]:
    import onnxruntime as ort

    if target == "cuda":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"], []
        return ["CPUExecutionProvider"], [
            "target is cuda but CUDAExecutionProvider is not available: every variant was measured on CPU, "
            "so FP16 latency here says nothing about the GPU"
        ]
    return ["CPUExecutionProvider"], []


def random_samples(model: Any, count: int, seed: int, metadata: Any = None) -> SampleSet:
    """Random inputs of the loaded ONNX ``model``'s own size and dtype: dynamic axes take the preprocessing
    height/width from the metadata (a 1-pixel-tall image would measure nothing real), else 1."""
    import numpy as np

    from edgeseq.passes.calibration import SampleSet as _Set

    dims = model.graph.input[0].type.tensor_type.shape.dim
    shape = [d.dim_value if d.dim_value > 0 else 0 for d in dims]
    uint8 = False
    if metadata is not None:
        pre = metadata.preprocess
        h_axis, w_axis = (1, 2) if metadata.input.layout == "NHWC" else (2, 3)
        for axis, size in ((h_axis, pre.get("height")), (w_axis, pre.get("width"))):
            if axis < len(shape) and not shape[axis] and size:
                shape[axis] = int(size)
        uint8 = metadata.input.dtype == "uint8"
    shape = [d or 1 for d in shape][1:]
    rng = np.random.default_rng(seed)
    if uint8:
        arrays = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(count)]
    else:
        arrays = [rng.standard_normal(shape).astype(np.float32) for _ in range(count)]
    return _Set(arrays, None, "random inputs")


def _recommend(rows: list[VariantResult], target: str, measured_on_cuda: bool) -> tuple[str | None, str]:
    usable = [r for r in rows if r.usable]
    if target == "mobile":
        ort_row = next((r for r in usable if r.name == "ort"), None)
        if ort_row:
            return "ort", "the ORT format for mobile/minimal builds, accepted by the gate"
        return None, "no accepted .ort variant (add 'ort' to optimize.variants)"
    if target == "cuda" and not measured_on_cuda:
        fp16 = next((r for r in usable if r.name == "fp16"), None)
        if fp16:
            return "fp16", "accepted by the gate; latency was measured on CPU, not on the GPU"
        return "fp32", "no accepted fp16 variant; latency was measured on CPU, not on the GPU"
    candidates = [r for r in usable if r.name != "ort" and (target == "cuda" or r.precision != "fp16")]
    timed = [r for r in candidates if r.score and r.score.p50_ms is not None]
    if not timed:
        return ("fp32", "no latency measured; the reference model") if candidates else (None, "nothing accepted")
    best = min(timed, key=lambda r: r.score.p50_ms)  # type: ignore[union-attr]
    return best.name, f"the fastest accepted variant ({best.score.p50_ms:.2f} ms p50 at batch 1)"  # type: ignore[union-attr]


def _environment(threads: int) -> dict[str, Any]:
    import platform

    import onnxruntime as ort

    return {
        "onnxruntime": ort.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "threads": threads,
        "cpu_count": os.cpu_count(),
    }


def _manifest(row: VariantResult, source: Path, source_sha: str, cpu: CpuFeatures) -> dict[str, Any]:
    return {
        "kind": "edgeseq.optimization.variant",
        "variant": row.name,
        "precision": row.precision,
        "file": Path(row.path).name if row.path else None,
        "sha256": sha256_file(row.path) if row.path else None,
        "size_bytes": row.size_bytes,
        "made_from": {"model": str(source), "sha256": source_sha},
        "settings": row.settings,
        "op_histogram": row.op_histogram,
        "ops_left_float": row.ops_left_float,
        "gate": {
            "status": row.status,
            "reason": row.reason,
            "score": row.score.to_json() if row.score else None,
            "delta": row.delta,
        },
        "session_graph_level": row.session_graph_level,
        "made_on_cpu": cpu.to_json(),
        "notes": row.notes,
    }


def _write_variant_manifest(row: VariantResult, source: Path, source_sha: str, cpu: CpuFeatures) -> None:
    """``<variant>.json`` beside the file: the shared manifest (edgeseq.manifest) plus an ``optimize`` section."""
    info = _manifest(row, source, source_sha, cpu)
    path = Path(row.path or "")
    if path.suffix == ".onnx":
        from edgeseq.manifest import write_manifest

        write_manifest(path, optimize=info)
    else:  # .ort is not ONNX: describe_onnx cannot read it
        write_json_atomic(
            path.with_suffix(".json"), {"format": "edgeseq-manifest/1", "file": path.name, "optimize": info}
        )


def _build(row: VariantResult, ctx: _Context, dst: Path) -> bool:
    """Run the variant's pass; a failure becomes the row's reason (fatal only for fp32)."""
    started = time.perf_counter()
    try:
        row.settings = _BUILDERS[row.name](ctx, dst)
    except EdgeseqError as exc:
        if row.name == "fp32":
            raise
        row.reason = f"not built: {exc}"
        return False
    except Exception as exc:  # onnxruntime's tools raise plain exceptions on graphs they cannot handle
        if row.name == "fp32":
            raise ModelFileError(f"cannot copy the input model: {exc}") from None
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        row.reason = f"not built: {type(exc).__name__}: {first}"
        return False
    finally:
        row.build_s = time.perf_counter() - started
    row.path = str(dst)
    row.size_bytes = dst.stat().st_size
    if row.settings.get("conv_weights_shifted"):
        row.notes.append(
            "Conv weights at zero point -1 (conv_kernel gemm): tuned for onnxruntime on AMX CPUs like this one; "
            'use conv_kernel = "symmetric" for other CPUs or OpenVINO'
        )
    return True


def _describe(row: VariantResult, dst: Path, src_props: dict[str, str]) -> None:
    """Restore the edgeseq metadata, then record the op histogram and the compute ops left in float."""
    from edgeseq.passes.graphinfo import float_compute_ops, load_graph, op_histogram

    _copy_metadata(src_props, dst, {"name": row.name, "precision": row.precision})
    row.size_bytes = dst.stat().st_size
    graph = load_graph(dst)
    row.op_histogram = op_histogram(graph)
    if row.precision == "int8":
        row.ops_left_float = float_compute_ops(graph)


def _sandbox(
    row: VariantResult,
    dst: Path,
    checker: Callable[..., SessionCheck],
    providers: list[str],
    shape: list[int],
    timeout_s: float,
) -> bool:
    """Open the variant in a child process first; a crash or failure becomes the row's reason."""
    check = checker(dst, row.session_graph_level, providers, shape, timeout_s)
    crashed = check.returncode is not None and check.returncode < 0
    if not check.ok and crashed and row.session_graph_level == "ORT_ENABLE_ALL":
        # docs/traps.md #13: an FP16 LSTM session crashed at ORT_ENABLE_ALL but worked at EXTENDED
        retry = checker(dst, "ORT_ENABLE_EXTENDED", providers, shape, timeout_s)
        if retry.ok:
            row.notes.append(f"ORT_ENABLE_ALL {check.reason}; measured at ORT_ENABLE_EXTENDED — deploy with that level")
            row.session_graph_level = "ORT_ENABLE_EXTENDED"
            check = retry
    if not check.ok:
        row.reason = check.reason
    return check.ok


def _measure(
    row: VariantResult,
    dst: Path,
    evaluation: SampleSet,
    metadata: Any,
    reference: tuple[Score, Outputs] | None,
    config: OptimizeConfig,
    threads: int,
    providers: list[str],
) -> tuple[Score, Outputs, Any] | None:
    """Run the variant on the evaluation samples; (score, outputs, session), or None (with a reason) on failure."""
    from edgeseq.accuracy import evaluate, make_session

    try:
        session = make_session(dst, row.session_graph_level, threads, providers)
        score, outputs = evaluate(
            session, evaluation, metadata, reference[1] if reference else None, 0, config.eval_batch
        )
    except Exception as exc:
        if reference is None:  # the fp32 reference itself: the user's model or samples are at fault
            raise
        row.reason = f"evaluation failed: {type(exc).__name__}: {str(exc)[:200]}"
        return None
    if reference is None:
        score.agreement, score.max_abs_diff = 100.0, 0.0
    row.score = score
    return score, outputs, session


def _time_side_by_side(
    rows: list[VariantResult], sessions: dict[str, Any], evaluation: SampleSet, config: OptimizeConfig
) -> None:
    """Batch-1 median latency of every measured variant, in interleaved rounds; fills p50 and speed-up."""
    import numpy as np

    from edgeseq.accuracy import interleaved_latency_ns

    times = interleaved_latency_ns(sessions, evaluation.inputs[0], config.latency_runs, seed=config.seed)
    by_name = {row.name: row for row in rows}
    for name, samples in times.items():
        score = by_name[name].score
        if score is not None:
            score.p50_ms = float(np.median(samples)) / 1e6
            score.latency_runs = len(samples)
    fp32 = by_name["fp32"].score
    for row in rows:
        if row.score and row.score.p50_ms and fp32 and fp32.p50_ms:
            row.speedup = fp32.p50_ms / row.score.p50_ms


def _apply_gate(row: VariantResult, reference: Score, config: OptimizeConfig) -> None:
    """Fill delta, status and reason from the variant's score against FP32's."""
    from edgeseq.accuracy import gate

    score = row.score
    if score is None:
        return
    drop = accuracy_drop(reference, score)
    if drop is not None:
        row.delta = (drop if score.metric_name == "cer" else -drop) + 0.0  # + 0.0: no "-0.00" in tables
    accepted, row.reason = gate(reference, score, config.max_accuracy_drop, config.min_agreement)
    row.status = "accepted" if accepted else "rejected"


def optimize(
    model: str | Path,
    out_dir: str | Path,
    config: OptimizeConfig | None = None,
    *,
    calibration: SampleSet | None = None,
    evaluation: SampleSet | None = None,
    session_checker: Callable[..., SessionCheck] = check_session,
    cpu: CpuFeatures | None = None,
) -> OptimizeResult:
    """Build, check and gate the configured variants of ``model`` into ``out_dir``.

    Args:
        model: an ONNX model (ideally from ``edgeseq export``, whose metadata gives the task and labels).
        out_dir: folder for ``<variant>.onnx`` (or ``ort.ort``), ``<variant>.json`` manifests and the reports.
        config: the options (defaults: :class:`OptimizeConfig`).
        calibration: preprocessed samples for static quantization (``edgeseq.passes.calibration``).
        evaluation: held-out samples for the gate; without targets only agreement is measured.
            ``None``: random inputs (agreement and max difference only).
        session_checker: opens a variant in a child process (see ``edgeseq.passes.sandbox.check_session``).
        cpu: the CPU to choose INT8 settings for (default: this machine's).

    Returns:
        An :class:`OptimizeResult`; it is also written to ``out_dir/optimize_report.json`` and ``.md``.

    Raises:
        ModelFileError: ``model`` is missing or not an ONNX model, or FP32 itself cannot be run.
        ConfigError / InputError: bad options or samples.
    """
    import onnx

    from edgeseq.passes.graphopt import GRAPH_LEVELS
    from edgeseq.runtime.session import physical_cores, usable_cpus

    config = config or OptimizeConfig()
    model = Path(model)
    if not model.is_file():
        raise ModelFileError(f"model {str(model)!r} not found; expected an .onnx file")
    try:
        proto = onnx.load(str(model), load_external_data=False)
    except Exception as exc:
        raise ModelFileError(f"cannot read {str(model)!r} as ONNX: {exc}") from None
    out = ensure_writable_dir(out_dir)
    if out.resolve() == model.resolve().parent and model.name in {f"{v}.onnx" for v in VARIANTS}:
        raise InputError(f"output folder {str(out)!r} would overwrite the input {model.name}; choose another -o")
    metadata = metadata_of(proto)
    src_props = {p.key: p.value for p in proto.metadata_props}
    input_name = proto.graph.input[0].name
    cpu = cpu or detect_cpu_features()
    int8 = _resolve_int8(config, cpu)
    threads = config.threads or physical_cores()  # never more threads than cores (docs/traps.md #15)
    if threads > usable_cpus():
        raise ConfigError(
            f"optimize.threads: got {threads}; expected at most {usable_cpus()}, the CPUs this process may use"
        )
    providers, notes = _providers(config.target)
    if evaluation is None:
        evaluation = random_samples(proto, RANDOM_EVAL_SAMPLES, config.seed, metadata)
        notes.append("no evaluation samples given: random inputs, agreement and max difference only")
    if len(evaluation) > config.max_eval_samples:
        from edgeseq.passes.calibration import take

        evaluation = take(evaluation, config.max_eval_samples, config.seed)
    if metadata is None:
        notes.append("the model has no edgeseq metadata: treated as classification (argmax of the first output)")
    if calibration is not None and len(calibration) > config.calibration_samples:
        from edgeseq.passes.calibration import take

        calibration = take(calibration, config.calibration_samples, config.seed)
    session_level = GRAPH_LEVELS[config.session_graph_level]
    source_sha = sha256_file(model)

    rows: list[VariantResult] = []
    reference: tuple[Score, Outputs] | None = None
    sessions: dict[str, Any] = {}  # kept open so latency is measured side by side at the end
    first_shape = [1, *evaluation.inputs[0].shape]
    with tempfile.TemporaryDirectory(prefix="edgeseq-optimize-") as work:
        ctx = _Context(model, out, Path(work), config, int8, calibration, input_name)
        for name in config.ordered_variants():
            row = VariantResult(name=name, precision=PRECISIONS[name], session_graph_level=session_level)
            if name == "ort":
                row.precision = PRECISIONS[config.ort_source]
            rows.append(row)
            dst = out / (f"{name}.ort" if name == "ort" else f"{name}.onnx")
            if not _build(row, ctx, dst):
                continue
            if dst.suffix == ".onnx":
                _describe(row, dst, src_props)
            if not _sandbox(row, dst, session_checker, providers, first_shape, config.session_check_timeout_s):
                if name == "fp32":
                    raise ModelFileError(f"the input model cannot be run by onnxruntime: {row.reason}")
                continue
            measured = _measure(row, dst, evaluation, metadata, reference, config, threads, providers)
            if measured is None:
                continue
            score, outputs, sessions[name] = measured
            if reference is None:  # fp32 comes first and becomes the reference
                reference = (score, outputs)
                row.status = "reference"
            else:
                _apply_gate(row, reference[0], config)
            if row.usable:
                ctx.built[name] = dst
        if config.latency_runs and sessions:
            _time_side_by_side(rows, sessions, evaluation, config)
        sessions.clear()
    measured_on_cuda = "CUDAExecutionProvider" in providers
    recommended, why = _recommend(rows, config.target, measured_on_cuda)
    result = OptimizeResult(
        model=str(model),
        out_dir=str(out),
        target=config.target,
        variants=rows,
        recommended=recommended,
        recommendation_reason=why,
        config=config.to_json(),
        cpu=cpu.to_json(),
        int8=int8.to_json(),
        calibration=calibration.source if calibration is not None else "none",
        evaluation=f"{evaluation.source} ({len(evaluation)} samples)",
        providers=providers,
        environment=_environment(threads),
        notes=notes,
    )
    for row in rows:
        if row.path:
            _write_variant_manifest(row, model, source_sha, cpu)
    write_json_atomic(out / REPORT_JSON, result.to_json())
    write_text_atomic(out / REPORT_MD, result.table() + "\n")
    return result


def load_profile_optimize(path: str | Path) -> OptimizeConfig:
    """Load an export profile (``edgeseq.profiles.load_profile``) and validate its ``[optimize]`` table.

    Raises:
        ConfigError: a missing or malformed file, or a bad ``optimize.<key>``.
    """
    from edgeseq.profiles import load_profile

    return OptimizeConfig.from_dict(load_profile(path).optimize)


def load_samples(
    model: str | Path,
    config: OptimizeConfig,
    calibration_dir: str | Path | None = None,
    eval_dir: str | Path | None = None,
    checkpoint: str | Path | None = None,
) -> tuple[SampleSet | None, SampleSet | None]:
    """Calibration and evaluation samples for :func:`optimize`, from folders or a checkpoint's data.

    * ``checkpoint``: calibration from the training split, the gate on the test split (needs torch).
    * ``calibration_dir`` with ``eval_dir``: one folder each.
    * ``calibration_dir`` alone: shuffled and cut into ``calibration_samples`` for calibration and the
      rest for the gate (all of it for both when the folder is too small, with a note in ``source``).

    Raises:
        InputError: both a checkpoint and a folder, or unreadable data.
    """
    import onnx

    from edgeseq.passes import calibration as cal

    if checkpoint is not None and calibration_dir is not None:
        raise InputError("got both a checkpoint and a calibration folder; expected one source of samples")
    if checkpoint is None and calibration_dir is None:
        if eval_dir is not None:
            raise InputError("an evaluation folder needs a calibration folder too (--calibration DATA)")
        return None, None
    metadata = metadata_of(onnx.load(str(model), load_external_data=False))
    if metadata is None:
        raise InputError(f"{model}: no edgeseq metadata (task, preprocessing); pass preprocessed arrays from Python")
    if checkpoint is not None:
        return cal.load_checkpoint_data(
            checkpoint, metadata, config.calibration_samples, config.seed, config.max_eval_samples
        )
    # preprocess only what can be used: a folder of thousands of images would otherwise all be decoded
    if eval_dir is not None:
        samples = cal.load_folder(calibration_dir, metadata, limit=config.calibration_samples)  # type: ignore[arg-type]
        held_out = cal.load_folder(eval_dir, metadata, limit=config.max_eval_samples)
        return cal.take(samples, config.calibration_samples, config.seed), held_out
    limit = config.calibration_samples + config.max_eval_samples
    samples = cal.load_folder(calibration_dir, metadata, limit=limit)  # type: ignore[arg-type]
    if len(samples) <= config.calibration_samples:
        samples.source += " (too few samples to hold some out: calibration and gate use the same samples)"
        return samples, samples
    calib, held_out = cal.split(samples, config.calibration_samples, config.seed)
    calib.source = f"{samples.source} ({len(calib)} samples)"
    held_out.source = f"{samples.source} (the {len(held_out)} samples not used for calibration)"
    return calib, held_out
