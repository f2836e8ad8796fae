"""What the benchmark reads from a model file before running it: input, metadata, manifest, precision.

Input shapes come from the edgeseq metadata (layout, dtype, channels, height, width) with the
declared ONNX input shape as the fallback for plain models; the manifest beside the file gives
the variant name and the recorded parity/accuracy figures that ``bench compare`` guards.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeseq.bench.options import BenchOptions
from edgeseq.errors import InputError, ModelFileError, first_line
from edgeseq.manifest import read_manifest
from edgeseq.runtime.limits import check_model_memory
from edgeseq.runtime.metadata import ModelMetadata
from edgeseq.runtime.modelfile.policy import check_model_file
from edgeseq.runtime.options import SessionConfig
from edgeseq.runtime.session import SessionLoadError, open_session

# Ops whose presence means the graph computes in int8 (static QDQ, QOperator or dynamic quantization).
INT8_OPS = frozenset(
    {
        "QuantizeLinear",
        "DequantizeLinear",
        "QLinearConv",
        "QLinearMatMul",
        "ConvInteger",
        "MatMulInteger",
        "DynamicQuantizeLinear",
        "DynamicQuantizeLSTM",
        "DynamicQuantizeMatMul",
    }
)


@dataclass
class ModelRef:
    """A model to benchmark, with the names shown in reports (defaults from its manifest or file name)."""

    path: str
    name: str = ""
    variant: str = ""
    backends: list[str] | None = None  # ONNX backends for this file only (None: all of BenchOptions.backends)


@dataclass
class ModelInfo:
    """What the benchmark needs to know about an ONNX file before running it."""

    ref: ModelRef
    size_mb: float
    sha256: str
    input_name: str
    declared_shape: list[int | None]
    layout: str
    dtype: str
    channels: int
    height: int
    width: int
    precision: str
    accuracy: float | None = None
    parity: float | None = None


def find_number(data: Any, keys: tuple[str, ...]) -> float | None:
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


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def manifest_figures(manifest: dict[str, Any]) -> tuple[str, float | None, float | None]:
    """(variant, accuracy, parity max |diff|) recorded in a model's manifest.

    An optimized variant's manifest has an ``optimize`` section (its gate score: metric and max
    difference from FP32); an exported model has ``parity`` (worst max |diff| vs PyTorch) and
    its source checkpoint's metrics.
    """
    opt = _dict(manifest.get("optimize"))
    variant = str(manifest.get("variant") or opt.get("variant") or "")
    score = _dict(_dict(opt.get("gate")).get("score"))
    accuracy = _number(score.get("metric"))
    if accuracy is None:
        accuracy = find_number(manifest.get("accuracy"), ("value", "accuracy", "metric"))
    if accuracy is None:
        source = _dict(manifest.get("source_checkpoint"))
        accuracy = find_number(source.get("metrics"), ("test_accuracy", "val_accuracy", "accuracy"))
    parity = _number(score.get("max_abs_diff"))
    if parity is None and isinstance(manifest.get("parity"), dict):
        worst = _dict(manifest["parity"].get("worst"))
        values = [v for v in (_number(_dict(w).get("max_abs")) for w in worst.values()) if v is not None]
        parity = max(values) if values else None
    return variant, accuracy, parity


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


@dataclass(frozen=True)
class _Input:
    """The graph input the benchmark feeds, as the file declares it and as its metadata describes it."""

    name: str
    declared: list[int | None]
    layout: str
    dtype: str
    channels: int
    height: int
    width: int


def inspect_model(ref: ModelRef) -> ModelInfo:
    """Read a model's input, metadata, manifest, size and hash.

    Raises:
        ModelFileError: not a readable ONNX file.
        ResourceLimitError: running it once at its declared size needs more memory than the limit.
    """
    # Before any backend reads the file: ORT would follow external data out of the model's folder,
    # even a hard link (docs/traps.md #20); the report also carries the sha256 the rows record.
    report = check_model_file(ref.path)
    check_model_memory(ref.path)  # a memory bomb is refused here, not by the kernel in the middle of a row
    path = Path(ref.path)
    model_input = _read_input(path)
    try:
        manifest = read_manifest(path)
    except ModelFileError:  # the manifest only names the rows and adds figures: benchmark without it
        manifest = {}
    manifest_variant, accuracy, parity = manifest_figures(manifest)
    return ModelInfo(
        ref=ModelRef(
            str(path), ref.name or _display_name(manifest, path), ref.variant or manifest_variant, ref.backends
        ),
        size_mb=path.stat().st_size / 2**20,
        sha256=report.sha256,
        input_name=model_input.name,
        declared_shape=model_input.declared,
        layout=model_input.layout,
        dtype=model_input.dtype,
        channels=model_input.channels,
        height=model_input.height,
        width=model_input.width,
        precision=graph_precision(path),
        accuracy=accuracy,
        parity=parity,
    )


def _read_input(path: Path) -> _Input:
    """The first graph input, read through onnxruntime, with the edgeseq metadata's layout and size.

    Raises:
        ModelFileError: onnxruntime cannot load the file, or a plain model's input is not 4-D.
    """
    try:
        session = open_session(path, SessionConfig(providers="cpu", threads=1))
    except SessionLoadError as exc:
        raise ModelFileError(f"cannot load {str(path)!r} with onnxruntime: {first_line(exc.ort_error, 200)}") from None
    inp = session.get_inputs()[0]
    declared = [d if isinstance(d, int) else None for d in inp.shape]
    try:
        meta: ModelMetadata | None = ModelMetadata.from_props(session.get_modelmeta().custom_metadata_map)
    except ModelFileError:
        meta = None
    dtype = "float16" if "float16" in inp.type else None
    if meta is not None:
        pre = meta.preprocess
        channels = 1 if pre.get("color", "L") == "L" else 3
        height, width = int(pre.get("height", 0)), int(pre.get("width", 0))
        return _Input(inp.name, declared, meta.input.layout, dtype or meta.input.dtype, channels, height, width)
    # a plain ONNX model: read what is declared, assume NCHW float
    if len(declared) != 4:
        raise ModelFileError(
            f"{path.name}: input {inp.name!r} has shape {inp.shape}; without edgeseq metadata expected a 4-D NCHW input"
        )
    channels, height, width = (d or 0 for d in declared[1:])
    plain_dtype = "uint8" if "uint8" in inp.type else "float32"
    return _Input(inp.name, declared, "NCHW", dtype or plain_dtype, channels, height, width)


def _display_name(manifest: dict[str, Any], path: Path) -> str:
    """The manifest's name; an optimized variant is named after the model it was made from, so its rows
    group with that model's; else the file's stem."""
    made_from = _dict(_dict(manifest.get("optimize")).get("made_from")).get("model")
    return str(manifest.get("name") or (Path(made_from).stem if made_from else path.stem))


def check_sweep(infos: list[ModelInfo], options: BenchOptions) -> None:
    """Refuse a width/height sweep that no model can follow (every one declares that axis fixed).

    With several models, one with the axis fixed keeps its size and its rows say so (:func:`input_shapes`).

    Raises:
        InputError: naming the option and the models' fixed sizes.
    """
    if not infos or not (options.widths or options.heights):
        return
    key, values = ("width", options.widths) if options.widths else ("height", options.heights)
    fixed = []
    for info in infos:
        axis = {"NCHW": (2, 3), "NHWC": (1, 2)}.get(info.layout, (2, 3))[key == "width"]
        size = info.declared_shape[axis] if axis < len(info.declared_shape) else None
        if size is None or all(v == size for v in values or []):
            return  # this model follows the sweep (or the sweep is its own size)
        fixed.append(f"{Path(info.ref.path).name}: {size}")
    raise InputError(
        f"--{key}: got {','.join(map(str, values or []))}; every model's {key} is fixed ({'; '.join(fixed)}); "
        f"expected a model with a dynamic {key} (or leave out --{key})"
    )


def input_shapes(info: ModelInfo, batch: int, options: BenchOptions) -> list[tuple[list[int], list[str]]]:
    """The input shapes to run for ``batch``, one per swept width/height, each with notes.

    A sweep asked for on an axis the model declares fixed is not applied; the row says so.
    """
    h_axis, w_axis = (2, 3) if info.layout == "NCHW" else (1, 2)
    base_h = info.height or (info.declared_shape[h_axis] or 0)
    base_w = info.width or (info.declared_shape[w_axis] or 0)
    sweep_axis, values = (w_axis, options.widths) if options.widths else (h_axis, options.heights)
    sweep: list[int | None] = list(values) if values else [None]
    out: list[tuple[list[int], list[str]]] = []
    for value in sweep:
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
