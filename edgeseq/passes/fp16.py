"""FP16 conversion with onnxruntime's own converter (``onnxruntime.transformers.float16``).

Inputs and outputs stay float32 by default (``keep_io_types``): Cast nodes sit at the graph
boundaries, so callers feed the same arrays as for FP32. FP16 is for CUDA: on CPU it is slower
than FP32 and onnxruntime 1.32 segfaulted creating a session for one FP16 LSTM model at
``ORT_ENABLE_ALL`` (docs/traps.md #13) — open the result with :mod:`edgeseq.passes.sandbox` first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edgeseq.fileio import atomic_path


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

    model = onnx.load(str(src))
    converted = convert_float_to_float16(
        model, keep_io_types=keep_io_types, op_block_list=list(op_block_list) if op_block_list is not None else None
    )
    with atomic_path(dst) as tmp:
        onnx.save(converted, str(tmp))
    return Path(dst)
