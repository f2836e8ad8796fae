"""``int8-mixed``: static QDQ for the convolutional part + dynamic quantization for LSTM/MatMul/Gemm."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.optimization.conv_weights import apply_conv_kernel
from edgeseq.optimization.quantization import (
    DEFAULT_DYNAMIC_OP_TYPES,
    quantize_dynamic_ops,
    quantize_static_qdq,
    static_op_types,
)
from edgeseq.optimization.samples import SampleReader
from edgeseq.optimization.variants.base import BuildContext, VariantBuilder, register_variant
from edgeseq.optimization.variants.int8_dynamic import check_dynamic_op_types
from edgeseq.optimization.variants.int8_static import StaticSettings, static_quant_settings


@dataclass
class MixedSettings(StaticSettings):
    """``[optimize]`` keys of ``int8-mixed``: the static keys plus ``dynamic_op_types``."""

    dynamic_op_types: list[str] = field(default_factory=lambda: list(DEFAULT_DYNAMIC_OP_TYPES))

    def __post_init__(self) -> None:
        super().__post_init__()
        check_dynamic_op_types(self.dynamic_op_types)


@register_variant
class Int8MixedBuilder(VariantBuilder[MixedSettings]):
    """Static QDQ convolutions plus dynamically quantized LSTM/MatMul/Gemm."""

    name = "int8-mixed"
    precision = "int8"
    order = 40
    settings_type = MixedSettings

    def build(self, ctx: BuildContext, settings: MixedSettings, dst: Path) -> dict[str, Any]:
        """Quantize statically all but the dynamic op types, apply the conv kernel choice, then quantize those dynamically.

        Raises:
            InputError: no calibration samples.
        """
        samples = ctx.need_calibration()
        ops = settings.dynamic_op_types
        # the static pass leaves the dynamic pass's op types alone, so each node is quantized by one pass only
        quant = static_quant_settings(ctx, settings, static_op_types(exclude=ops))
        static_tmp = ctx.work / "mixed-static.onnx"
        quantize_static_qdq(ctx.preprocessed(), static_tmp, SampleReader(samples, ctx.input_name), quant)
        kernel_tmp = ctx.work / "mixed-static-kernel.onnx"
        shifted = apply_conv_kernel(ctx.int8.conv_kernel, static_tmp, kernel_tmp)
        quantize_dynamic_ops(
            kernel_tmp, dst, ops, per_channel=False, reduce_range=ctx.int8.reduce_range, weight_type="QInt8"
        )
        return {
            "static": quant.to_json(),
            **shifted,
            "dynamic_op_types": list(ops),
            "calibration_samples": len(samples),
        }
