"""``fp16``: float16 with float32 inputs/outputs, with onnxruntime's own converter (for CUDA).

Inputs and outputs stay float32 by default (``keep_io_types``): Cast nodes sit at the graph
boundaries, so callers feed the same arrays as for FP32. FP16 is for CUDA: on CPU it is slower
than FP32 and onnxruntime 1.32 segfaulted creating a session for one FP16 LSTM model at
``ORT_ENABLE_ALL`` (docs/traps.md #13) — the optimizer opens every variant in a child process first
(:mod:`edgeseq.optimization.sandbox`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeseq.fileio import atomic_with_sidecars
from edgeseq.optimization.external import has_external_data, save_model
from edgeseq.optimization.variants.base import BuildContext, VariantBuilder, register_variant


def convert_fp16(
    src: str | Path, dst: str | Path, keep_io_types: bool = True, op_block_list: Sequence[str] | None = None
) -> Path:
    """Convert the float32 model ``src`` to float16 into ``dst``.

    Args:
        src: the float32 model.
        dst: the output path.
        keep_io_types: keep float32 graph inputs/outputs (Cast nodes at the boundaries).
        op_block_list: op types to keep in float32; ``None`` uses onnxruntime's default list.
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    external = has_external_data(src)
    model = onnx.load(str(src))
    converted = convert_float_to_float16(
        model, keep_io_types=keep_io_types, op_block_list=list(op_block_list) if op_block_list is not None else None
    )
    with atomic_with_sidecars(dst) as out:
        save_model(converted, out, external)
    return Path(dst)


@dataclass
class Fp16Settings:
    """``[optimize]`` keys of the ``fp16`` variant."""

    fp16_keep_io_types: bool = True  # float32 inputs/outputs with Cast nodes at the boundaries
    fp16_op_block_list: list[str] | None = None  # op types kept float32 (None: onnxruntime's default list)


@register_variant
class Fp16Builder(VariantBuilder[Fp16Settings]):
    """float16 weights and compute, float32 inputs/outputs."""

    name = "fp16"
    precision = "fp16"
    order = 50
    settings_type = Fp16Settings

    def build(self, ctx: BuildContext, settings: Fp16Settings, dst: Path) -> dict[str, Any]:
        """Convert the input model to float16."""
        convert_fp16(ctx.model, dst, settings.fp16_keep_io_types, settings.fp16_op_block_list)
        return {"keep_io_types": settings.fp16_keep_io_types, "op_block_list": settings.fp16_op_block_list}
