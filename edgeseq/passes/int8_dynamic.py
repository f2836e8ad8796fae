"""Dynamic INT8 quantization restricted to the RNN and linear layers (``quantize_dynamic``).

By default ``quantize_dynamic`` also turns Conv into ``ConvInteger``, which made a CNN+LSTM model
about 2× *slower* than FP32 on onnxruntime 1.32 (docs/traps.md #11, onnxruntime#17389): we always pass
an explicit ``op_types_to_quantize``. LSTM becomes ``DynamicQuantizeLSTM``; GRU and RNN stay float.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edgeseq.errors import ConfigError
from edgeseq.fileio import atomic_path
from edgeseq.passes.int8_static import _quiet_quantizer

DEFAULT_DYNAMIC_OP_TYPES = ("LSTM", "MatMul", "Gemm")
# Conv would become ConvInteger (slow, see module docstring): refuse it rather than ship a slower model.
_REFUSED = {"Conv": "Conv becomes ConvInteger, about 2x slower than FP32 on CPU; use int8-static for convolutions"}


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
    with atomic_path(dst) as tmp, _quiet_quantizer():
        quantize_dynamic(
            str(src),
            str(tmp),
            op_types_to_quantize=list(op_types),
            per_channel=per_channel,
            reduce_range=reduce_range,
            weight_type=getattr(QuantType, weight_type),
        )
    return Path(dst)
