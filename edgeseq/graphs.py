"""Reading ONNX graphs: the one node walker, the one op histogram and small inspection helpers.

Every stage that looks inside a graph (export verification, the manifest, optimization reports, the
browser operator check) walks nodes with :func:`iter_nodes`, so If/Loop/Scan bodies count everywhere
alike. :func:`op_histogram` has one meaning, the manifest's ``op_histogram`` key: every node of the
model, subgraphs included, ``{op_type: count}`` sorted by op name.

onnx is imported inside the functions that need it: importing this module costs nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RNN_OPS = ("LSTM", "GRU", "RNN")
# Where the time goes in CNN -> RNN models; the rest (Relu, pooling, reshapes) is cheap.
COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm", "LSTM", "GRU", "RNN")


def load_graph(path: str | Path) -> Any:
    """``onnx.load`` without external data (sizes, shapes and op types are all the callers read).

    Args:
        path: an ONNX file.

    Returns:
        The ``onnx.ModelProto``; initializers stored as external data stay unloaded.
    """
    import onnx

    return onnx.load(str(path), load_external_data=False)


def iter_nodes(graph: Any) -> Iterator[Any]:
    """Every node of ``graph`` and, recursively, of its subgraphs (If branches, Loop/Scan bodies).

    Args:
        graph: an ``onnx.GraphProto`` (``model.graph``).

    Yields:
        Each ``onnx.NodeProto``, a node before the nodes of its subgraphs.
    """
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from iter_nodes(attr.g)
            for sub in attr.graphs:
                yield from iter_nodes(sub)


def op_histogram(model: Any) -> dict[str, int]:
    """``{op_type: count}`` over the whole model, subgraphs included, sorted by op name.

    This is the meaning of the manifest key ``op_histogram``; ``sum(values())`` is the manifest's ``num_nodes``.
    """
    return dict(sorted(Counter(node.op_type for node in iter_nodes(model.graph)).items()))


def dims(value_info: Any) -> list[int | str | None]:
    """The declared shape of a graph input/output: ints, symbolic names, or None for unknown dims."""
    shape = value_info.type.tensor_type.shape
    out: list[int | str | None] = []
    for d in shape.dim:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def io_specs(model: Any) -> dict[str, list[dict[str, Any]]]:
    """``{"inputs": [...], "outputs": [...]}`` with name, element type and declared shape of each.

    Initializers listed as graph inputs (older exporters do that) are not inputs a caller feeds and are left out.
    """
    import onnx

    initializers = {init.name for init in model.graph.initializer}

    def spec(v: Any) -> dict[str, Any]:
        elem = v.type.tensor_type.elem_type
        return {
            "name": v.name,
            "dtype": onnx.helper.tensor_dtype_to_np_dtype(elem).name if elem else None,
            "shape": dims(v),
        }

    return {
        "inputs": [spec(v) for v in model.graph.input if v.name not in initializers],
        "outputs": [spec(v) for v in model.graph.output],
    }


def rnn_nodes(model: Any) -> list[dict[str, Any]]:
    """Each native LSTM/GRU/RNN node, subgraphs included: op type, direction, hidden size and name."""
    found = []
    for node in iter_nodes(model.graph):
        if node.op_type in RNN_OPS:
            attrs = {a.name: a for a in node.attribute}
            direction = attrs["direction"].s.decode() if "direction" in attrs else "forward"
            hidden = int(attrs["hidden_size"].i) if "hidden_size" in attrs else None
            found.append({"op": node.op_type, "direction": direction, "hidden_size": hidden, "name": node.name})
    return found


def rnn_node_counts(model: Any) -> dict[str, int]:
    """``{"LSTM": n, "GRU": n, "RNN": n, "bidirectional": n}`` (only non-zero entries)."""
    counts: Counter[str] = Counter()
    for node in rnn_nodes(model):
        counts[node["op"]] += 1
        if node["direction"] == "bidirectional":
            counts["bidirectional"] += 1
    return dict(counts)


def float_compute_ops(model: Any) -> dict[str, int]:
    """Compute ops of the main graph left in float: LSTM/GRU/RNN nodes, and Conv/MatMul/Gemm not fed dequantized data.

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
    """How many ``op_type`` nodes of the main graph read their data input and weight from DequantizeLinear nodes."""
    producers = {out: node.op_type for node in model.graph.node for out in node.output}
    return sum(
        1
        for node in model.graph.node
        if node.op_type == op_type
        and len(node.input) > 1
        and producers.get(node.input[0]) == "DequantizeLinear"
        and producers.get(node.input[1]) == "DequantizeLinear"
    )
