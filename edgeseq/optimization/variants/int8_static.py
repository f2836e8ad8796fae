"""``int8-static``: static QDQ, per-channel weights, calibrated on samples (the convolutional part).

Static QDQ leaves LSTM in float and does not quantize GRU (docs/traps.md #12): ``int8-mixed`` adds
dynamic quantization for those. With the GEMM conv kernel (:mod:`edgeseq.optimization.conv_weights`)
the Conv weights are moved to zero point -1 afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.config import _choice
from edgeseq.graphs import load_graph
from edgeseq.optimization.conv_weights import apply_conv_kernel
from edgeseq.optimization.quantization import StaticQuantSettings, quantize_static_qdq
from edgeseq.optimization.samples import SampleReader
from edgeseq.optimization.variants.base import BuildContext, VariantBuilder, register_variant

CALIBRATION_CHOICES = ("minmax", "entropy", "percentile")


@dataclass
class StaticSettings:
    """``[optimize]`` keys of static quantization (``int8-static``, and the static half of ``int8-mixed``)."""

    calibration_method: str = "minmax"  # minmax | entropy | percentile (onnxruntime CalibrationMethod)
    per_channel: bool = True  # per-output-channel weight scales (accuracy on ResNet-style convs)
    exclude_first_conv: bool = False  # keep the first convolution in float (it sees raw pixels)
    nodes_to_exclude: list[str] = field(default_factory=list)  # node names kept in float

    def __post_init__(self) -> None:
        _choice("optimize.calibration_method", self.calibration_method, CALIBRATION_CHOICES)


def first_conv(model_path: Path) -> list[str]:
    """The name of the first Conv node of the main graph (a one-item list), or ``[]``."""
    for node in load_graph(model_path).graph.node:
        if node.op_type == "Conv":
            return [node.name]
    return []


def static_quant_settings(
    ctx: BuildContext, settings: StaticSettings, op_types: list[str] | None
) -> StaticQuantSettings:
    """The ``quantize_static`` options: the profile's keys with the INT8 choice for this CPU."""
    exclude = list(settings.nodes_to_exclude)
    if settings.exclude_first_conv:
        exclude += first_conv(ctx.preprocessed())
    return StaticQuantSettings(
        per_channel=settings.per_channel,
        activation_type=ctx.int8.activation_type,
        weight_type=ctx.int8.weight_type,
        reduce_range=ctx.int8.reduce_range,
        calibration_method=settings.calibration_method,
        op_types=op_types,
        nodes_to_exclude=exclude,
    )


@register_variant
class Int8StaticBuilder(VariantBuilder[StaticSettings]):
    """Static QDQ INT8, calibrated on samples."""

    name = "int8-static"
    precision = "int8"
    order = 20
    settings_type = StaticSettings

    def build(self, ctx: BuildContext, settings: StaticSettings, dst: Path) -> dict[str, Any]:
        """Calibrate and quantize the pre-processed model, then apply the conv kernel choice.

        Raises:
            InputError: no calibration samples.
        """
        samples = ctx.need_calibration()
        quant = static_quant_settings(ctx, settings, None)
        qdq = ctx.work / "static-qdq.onnx"
        quantize_static_qdq(ctx.preprocessed(), qdq, SampleReader(samples, ctx.input_name), quant)
        shifted = apply_conv_kernel(ctx.int8.conv_kernel, qdq, dst)
        return {**quant.to_json(), **shifted, "calibration_samples": len(samples)}
