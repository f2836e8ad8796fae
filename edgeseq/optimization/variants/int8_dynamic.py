"""``int8-dynamic``: dynamic quantization of LSTM/MatMul/Gemm only (never Conv: docs/traps.md #11)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.errors import ConfigError
from edgeseq.optimization.quantization import DEFAULT_DYNAMIC_OP_TYPES, quantize_dynamic_ops
from edgeseq.optimization.variants.base import BuildContext, VariantBuilder, register_variant


def check_dynamic_op_types(op_types: Sequence[str]) -> None:
    """Refuse Conv (it becomes ConvInteger, slower than FP32) and an empty list.

    Raises:
        ConfigError: naming ``optimize.dynamic_op_types``.
    """
    if "Conv" in op_types:
        raise ConfigError(
            "optimize.dynamic_op_types: got 'Conv'; dynamic Conv becomes ConvInteger, about 2x slower than FP32 "
            "on CPU (use int8-static or int8-mixed for convolutions)"
        )
    if not op_types:
        raise ConfigError('optimize.dynamic_op_types: got an empty list; expected e.g. ["LSTM", "MatMul", "Gemm"]')


@dataclass
class DynamicSettings:
    """``[optimize]`` keys of dynamic quantization (``int8-dynamic``, and the dynamic half of ``int8-mixed``)."""

    dynamic_op_types: list[str] = field(default_factory=lambda: list(DEFAULT_DYNAMIC_OP_TYPES))

    def __post_init__(self) -> None:
        check_dynamic_op_types(self.dynamic_op_types)


@register_variant
class Int8DynamicBuilder(VariantBuilder[DynamicSettings]):
    """Dynamic INT8 of the RNN and linear layers."""

    name = "int8-dynamic"
    precision = "int8"
    order = 30
    settings_type = DynamicSettings

    def build(self, ctx: BuildContext, settings: DynamicSettings, dst: Path) -> dict[str, Any]:
        """Quantize ``dynamic_op_types`` of the pre-processed model dynamically (int8 weights)."""
        ops = settings.dynamic_op_types
        quantize_dynamic_ops(
            ctx.preprocessed(), dst, ops, per_channel=False, reduce_range=ctx.int8.reduce_range, weight_type="QInt8"
        )
        return {"op_types": list(ops), "reduce_range": ctx.int8.reduce_range, "weight_type": "QInt8"}
