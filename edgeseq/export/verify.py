"""Structural checks of an exported graph: validity, native RNN nodes, symbolic dynamic axes.

These catch the traps ``onnx.checker`` lets through (docs/traps.md #1, #2, #9): a declared dynamic
axis frozen to the example's size in an input *or* an output, and an RNN unrolled into per-timestep
ops or a ``Loop``/``Scan``. Every ``nn.LSTM``/``nn.GRU``/``nn.RNN`` layer must be a native node of the
*main* graph; the only loops with an RNN-like body allowed are those of scripted decoder loops over cells
(:mod:`edgeseq.export.loops`), and only as many as the model has. Numbers (torch vs ONNX Runtime) are checked by :mod:`edgeseq.parity`.
Node walking and shapes come from :mod:`edgeseq.graphs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgeseq.errors import ExportError, first_line
from edgeseq.export.plan import ExportPlan
from edgeseq.graphs import RNN_OPS, dims, iter_nodes, rnn_nodes

# A Loop/Scan body holding a matrix product and a gate non-linearity is an RNN written out step by step.
_LOOP_OPS = ("Loop", "Scan")
_MATMUL_OPS = {"MatMul", "Gemm"}
_GATE_OPS = {"Sigmoid", "Tanh"}


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


def main_graph_rnn_nodes(model: Any) -> list[dict[str, Any]]:
    """The native RNN nodes of the main graph (not inside a Loop/Scan/If body), as :func:`edgeseq.graphs.rnn_nodes`.

    A scripted decoder's cells become one-step LSTM nodes inside its Loop body; the encoder's must stay outside.
    """
    import onnx

    top = onnx.GraphProto()
    top.node.extend(n for n in model.graph.node if n.op_type in RNN_OPS)
    return rnn_nodes(onnx.ModelProto(graph=top))


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
        raise ExportError(f"onnx.checker rejected the exported graph: {first_line(exc)}") from None
    model = onnx.load(path, load_external_data=False)
    try:
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.shape_inference.InferenceError, RuntimeError) as exc:
        raise ExportError(f"ONNX shape inference failed on the exported graph: {first_line(exc)}") from None
    return model


def check_structure(proto: Any, plan: ExportPlan) -> None:
    """Native RNN nodes as planned, no step-by-step RNN loop, every planned dynamic axis symbolic.

    Raises:
        ExportError: naming the first problem found.
    """
    loops = unrolled_loops(proto)
    if len(loops) > plan.decoder_loops:
        allowed = f" (the model's scripted cell loops account for {plan.decoder_loops})" if plan.decoder_loops else ""
        raise ExportError(f"the graph runs an RNN step by step in {loops}{allowed}; expected native LSTM/GRU/RNN nodes")
    nodes = main_graph_rnn_nodes(proto)
    if len(nodes) < plan.expected_rnn_layers:
        raise ExportError(
            f"found {len(nodes)} native RNN node(s) for {plan.expected_rnn_layers} RNN layer(s): the RNN was unrolled or turned into a loop"
        )
    bidi = sum(n["direction"] == "bidirectional" for n in nodes)
    if bidi < plan.expected_bidirectional:
        raise ExportError(
            f"found {bidi} bidirectional RNN node(s) for {plan.expected_bidirectional} bidirectional layer(s)"
        )
    problems = frozen_axes(proto, plan.axes)
    if problems:
        raise ExportError("dynamic axes lost: " + "; ".join(problems))
