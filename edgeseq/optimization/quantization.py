"""INT8 quantization passes, file in and file out, with onnxruntime.quantization's own tools.

* :func:`preprocess_for_quantization`: ``quant_pre_process`` (shape inference + basic graph optimization).
* :func:`quantize_static_qdq`: static QDQ (``quantize_static``). It quantizes the convolutional part
  well; it leaves LSTM in float and does not quantize GRU at all (docs/traps.md #12) — the mixed
  variant adds dynamic quantization for those.
* :func:`quantize_dynamic_ops`: dynamic quantization restricted to the RNN and linear layers. By
  default ``quantize_dynamic`` also turns Conv into ``ConvInteger``, which made a CNN+LSTM model
  about 2× *slower* than FP32 on onnxruntime 1.32 (docs/traps.md #11, onnxruntime#17389): an explicit
  ``op_types_to_quantize`` is always passed. LSTM becomes ``DynamicQuantizeLSTM``; GRU and RNN stay float.

Every output is written atomically, with its external data when the source has some (models over
2 GiB always do): the model and its ``<name>.data`` are moved into place together
(:func:`edgeseq.fileio.atomic_with_sidecars`). onnxruntime.quantization is imported inside the functions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.errors import ConfigError
from edgeseq.fileio import atomic_with_sidecars
from edgeseq.optimization.external import (
    EXTERNAL_SIZE_THRESHOLD,
    data_file_name,
    has_external_data,
    over_protobuf_limit,
)

CALIBRATION_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
QUANT_TYPES = {"quint8": "QUInt8", "qint8": "QInt8"}
DEFAULT_DYNAMIC_OP_TYPES = ("LSTM", "MatMul", "Gemm")
# Conv would become ConvInteger (slow, see module docstring): refuse it rather than ship a slower model.
_REFUSED = {"Conv": "Conv becomes ConvInteger, about 2x slower than FP32 on CPU; use int8-static for convolutions"}


@dataclass
class StaticQuantSettings:
    """Options passed through to ``quantize_static``."""

    per_channel: bool = True
    activation_type: str = "QUInt8"  # QuantType member name
    weight_type: str = "QInt8"
    reduce_range: bool = False
    calibration_method: str = "minmax"  # minmax | entropy | percentile
    op_types: list[str] | None = None  # None: every op type onnxruntime can quantize statically
    nodes_to_exclude: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


class quiet_quantizer:
    """Silence onnxruntime.quantization's root-logger warnings (pre-processing advice we already follow)."""

    def __enter__(self) -> None:
        self._level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().setLevel(self._level)


def static_op_types(exclude: Sequence[str] = ()) -> list[str]:
    """The op types onnxruntime quantizes in QDQ mode, minus ``exclude``."""
    from onnxruntime.quantization.registry import QDQRegistry

    return sorted(op for op in QDQRegistry if op not in set(exclude))


def preprocess_for_quantization(src: str | Path, dst: str | Path) -> Path:
    """Run ``quant_pre_process`` (shape inference + basic graph optimization) from ``src`` into ``dst``."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    external = has_external_data(src)
    with atomic_with_sidecars(dst) as out:
        quant_pre_process(
            str(src),
            str(out),
            # symbolic shape inference serialises the whole model in memory: impossible over 2 GiB
            # (onnx's own, file-based shape inference still runs)
            skip_symbolic_shape=over_protobuf_limit(src),
            save_as_external_data=external,
            all_tensors_to_one_file=True,
            external_data_location=data_file_name(out.name) if external else None,
            external_data_size_threshold=EXTERNAL_SIZE_THRESHOLD,
        )
    return Path(dst)


def quantize_static_qdq(src: str | Path, dst: str | Path, reader: Any, settings: StaticQuantSettings) -> Path:
    """Quantize ``src`` (already pre-processed) statically in QDQ format into ``dst``.

    Args:
        src: the pre-processed float model.
        dst: the output path.
        reader: an ``onnxruntime.quantization.CalibrationDataReader`` over calibration inputs.
        settings: the quantization options.

    Raises:
        ConfigError: an unknown calibration method or quantization type.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if settings.calibration_method not in CALIBRATION_METHODS:
        raise ConfigError(
            f"calibration_method: got {settings.calibration_method!r}; expected one of: {', '.join(CALIBRATION_METHODS)}"
        )
    method = getattr(CalibrationMethod, CALIBRATION_METHODS[settings.calibration_method])
    external = has_external_data(src)
    with atomic_with_sidecars(dst) as out, quiet_quantizer():
        quantize_static(
            str(src),
            str(out),
            reader,
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=settings.op_types,
            per_channel=settings.per_channel,
            reduce_range=settings.reduce_range,
            activation_type=getattr(QuantType, settings.activation_type),
            weight_type=getattr(QuantType, settings.weight_type),
            nodes_to_exclude=list(settings.nodes_to_exclude) or None,
            calibrate_method=method,
            use_external_data_format=external,
        )
    return Path(dst)


def quantize_dynamic_ops(
    src: str | Path,
    dst: str | Path,
    op_types: Sequence[str] = DEFAULT_DYNAMIC_OP_TYPES,
    per_channel: bool = False,
    reduce_range: bool = False,
    weight_type: str = "QInt8",
) -> Path:
    """Dynamically quantize the ``op_types`` nodes of ``src`` into ``dst``.

    Raises:
        ConfigError: ``op_types`` is empty or names Conv.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if not op_types:
        raise ConfigError("dynamic_op_types: got an empty list; expected op types such as LSTM, MatMul, Gemm")
    for op in op_types:
        if op in _REFUSED:
            raise ConfigError(f"dynamic_op_types: got {op!r}; {_REFUSED[op]}")
    external = has_external_data(src)
    with atomic_with_sidecars(dst) as out, quiet_quantizer():
        quantize_dynamic(
            str(src),
            str(out),
            op_types_to_quantize=list(op_types),
            per_channel=per_channel,
            reduce_range=reduce_range,
            weight_type=getattr(QuantType, weight_type),
            use_external_data_format=external,
        )
    return Path(dst)
