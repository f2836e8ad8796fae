"""What a (quantized) ONNX graph contains: op histogram and the compute ops still running in float."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

# Where the time goes in CNN -> RNN models; the rest (Relu, pooling, reshapes) is cheap.
COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm", "LSTM", "GRU", "RNN")
RNN_OPS = ("LSTM", "GRU", "RNN")


def load_graph(path: str | Path) -> Any:
    """``onnx.load`` without external data (sizes and op types are all we read)."""
    import onnx

    return onnx.load(str(path), load_external_data=False)


def op_histogram(model: Any) -> dict[str, int]:
    """Count of nodes per op type in the main graph, most frequent first."""
    return dict(Counter(node.op_type for node in model.graph.node).most_common())


def float_compute_ops(model: Any) -> dict[str, int]:
    """Compute ops left in float: float LSTM/GRU/RNN nodes, and Conv/MatMul/Gemm whose data input is not dequantized.

    Integer kernels (``ConvInteger``, ``DynamicQuantizeLSTM``, ``MatMulInteger``, ...) have other op
    types and so never count; a QDQ node (float op between DequantizeLinear/QuantizeLinear) is fused
    into an integer kernel by onnxruntime and does not count either.
    """
    producers = {out: node.op_type for node in model.graph.node for out in node.output}
    left: Counter[str] = Counter()
    for node in model.graph.node:
        if node.op_type in RNN_OPS:
            left[node.op_type] += 1  # onnxruntime has no QDQ fusion for RNNs: a QDQ-wrapped LSTM still runs in float
        elif node.op_type in COMPUTE_OPS and producers.get(node.input[0]) != "DequantizeLinear":
            left[node.op_type] += 1
    return dict(left)


def qdq_wrapped(model: Any, op_type: str) -> int:
    """How many ``op_type`` nodes read their data input and their weight from DequantizeLinear nodes."""
    producers = {out: node.op_type for node in model.graph.node for out in node.output}
    return sum(
        1
        for node in model.graph.node
        if node.op_type == op_type
        and len(node.input) > 1
        and producers.get(node.input[0]) == "DequantizeLinear"
        and producers.get(node.input[1]) == "DequantizeLinear"
    )
