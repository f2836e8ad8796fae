"""Structural checks on an exported ONNX graph: validity, native RNN nodes, symbolic dynamic axes.

These are the checks that catch the traps ``onnx.checker`` lets through (docs/traps.md #1, #2, #9):
a declared dynamic axis frozen to the example's size in an input *or* an output, and an RNN
unrolled into per-timestep ops or a ``Loop``/``Scan``. Numbers (torch vs ONNX Runtime) are checked
by :mod:`edgeseq.parity`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from edgeseq.errors import ExportError

RNN_OPS = ("LSTM", "GRU", "RNN")
# A Loop/Scan body holding a matrix product and a gate non-linearity is an RNN written out step by step.
_LOOP_OPS = ("Loop", "Scan")
_MATMUL_OPS = {"MatMul", "Gemm"}
_GATE_OPS = {"Sigmoid", "Tanh"}


def iter_nodes(graph: Any) -> Iterator[Any]:
    """Every node of ``graph`` and, recursively, of its subgraphs (If/Loop/Scan bodies)."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.g is not None and attr.HasField("g"):
                yield from iter_nodes(attr.g)
            for sub in attr.graphs:
                yield from iter_nodes(sub)


def op_histogram(model: Any) -> dict[str, int]:
    """``{op_type: count}`` over the whole model, subgraphs included, sorted by op name."""
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
    """``{"inputs": [...], "outputs": [...]}`` with name, element type and declared shape of each."""
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
    """Each native LSTM/GRU/RNN node: op type, direction and hidden size."""
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


def unrolled_loops(model: Any) -> list[str]:
    """Names of Loop/Scan nodes whose body looks like a step-by-step RNN (matrix product + gates)."""
    suspicious = []
    for node in iter_nodes(model.graph):
        if node.op_type not in _LOOP_OPS:
            continue
        body_ops = set()
        for attr in node.attribute:
            if attr.HasField("g"):
                body_ops |= {n.op_type for n in iter_nodes(attr.g)}
        if body_ops & _MATMUL_OPS and body_ops & _GATE_OPS:
            suspicious.append(node.name or node.op_type)
    return suspicious


def frozen_axes(model: Any, expected: Mapping[str, Mapping[int, str]]) -> list[str]:
    """Problems with declared dynamic axes: ``expected`` maps a graph input/output name to its dynamic axes.

    An axis passes when the graph declares it symbolic (a ``dim_param``). A fixed size means the
    exporter froze it to the example's value (docs/traps.md #1, #2); an unknown dim is accepted by
    ONNX Runtime but tells the runtime nothing, so it is reported too.
    """
    shapes = {v.name: dims(v) for v in list(model.graph.input) + list(model.graph.output)}
    problems = []
    for name, axes in expected.items():
        if name not in shapes:
            problems.append(f"{name!r} is not a graph input or output (have {sorted(shapes)})")
            continue
        shape = shapes[name]
        for axis, label in sorted(axes.items()):
            axis = int(axis)
            if axis >= len(shape):
                problems.append(f"{name!r} has rank {len(shape)}; declared dynamic axis {axis} ({label}) is missing")
            elif isinstance(shape[axis], int):
                problems.append(
                    f"{name!r} axis {axis} ({label}) is frozen to {shape[axis]}; expected a symbolic dimension"
                )
            elif shape[axis] is None:
                problems.append(f"{name!r} axis {axis} ({label}) has no declared size; expected a symbolic dimension")
    return problems


def check_graph(path: str | Path) -> Any:
    """Run ``onnx.checker`` (full check) and strict shape inference on a saved model; return the proto.

    The path form of the checker is used so models with external data (> 2 GB) work too.

    Raises:
        ExportError: the checker or shape inference rejects the model.
    """
    import onnx

    path = str(path)
    try:
        onnx.checker.check_model(path, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"onnx.checker rejected the exported graph: {_first_line(exc)}") from None
    model = onnx.load(path, load_external_data=False)
    try:
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.shape_inference.InferenceError, RuntimeError) as exc:
        raise ExportError(f"ONNX shape inference failed on the exported graph: {_first_line(exc)}") from None
    return model


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]
