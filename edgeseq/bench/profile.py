"""Where the time goes: per-stage latency from onnxruntime's profiler, and FLOPs from the graph.

Stages are the parts of an edgeseq model: ``preprocess`` (when it is in the graph), ``cnn``
(the backbone), ``sequencing`` (feature map → sequence), ``rnn`` and ``head``. A node is mapped
by the module path torch's exporter puts in its name (``/backbone/...``, ``/sequencer/...``,
``/rnn/...``, ``/head/...``). onnxruntime's optimizer renames some nodes (a Conv rewritten to the
NCHWc layout is named after its output, layout reorders get generated names), so nodes without
a module path fall back to their op type. What cannot be placed is reported as ``other``.

The profiler run itself belongs to the onnxruntime backend (:func:`edgeseq.bench.ort_backend.profile_ort`);
this module maps its events, and the graph's FLOPs, to the stages.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from edgeseq.graphs import dims

STAGES = ("preprocess", "cnn", "sequencing", "rnn", "head", "other")
# Module-path fragments in node names -> stage. Checked in order; first hit wins.
NAME_PREFIXES = (
    ("/preprocess", "preprocess"),
    ("/backbone", "cnn"),
    ("/sequencer", "sequencing"),
    ("/rnn", "rnn"),
    ("/head", "head"),
    ("images", "cnn"),  # nodes named after the graph input (e.g. its QuantizeLinear) feed the backbone
)
# Op types -> stage for nodes whose names carry no module path.
OP_STAGES = {
    **dict.fromkeys(
        (
            "Conv",
            "FusedConv",
            "QLinearConv",
            "ConvInteger",
            "NhwcConv",
            "ReorderInput",
            "ReorderOutput",
            "MaxPool",
            "AveragePool",
            "GlobalAveragePool",
            "BatchNormalization",
            "Relu",
            "Clip",
            "HardSwish",
            "Sigmoid",
        ),
        "cnn",
    ),
    **dict.fromkeys(("Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "ReduceMean"), "sequencing"),
    **dict.fromkeys(("LSTM", "GRU", "RNN", "DynamicQuantizeLSTM"), "rnn"),
    # in-graph preprocessing (edgeseq.export.rewrites.InGraphPreprocess): cast, scale, normalise; its
    # nodes sit in the wrapper ("/model/Cast") outside the backbone/sequencer/rnn/head modules
    **dict.fromkeys(("Cast", "Sub", "Div"), "preprocess"),
    **dict.fromkeys(
        ("Gemm", "MatMul", "FusedMatMul", "QLinearMatMul", "MatMulInteger", "Softmax", "LogSoftmax"), "head"
    ),
}


def stage_of(node_name: str, op_type: str) -> str:
    """The model stage a node belongs to: by its module path, else by its op type, else ``other``."""
    for fragment, stage in NAME_PREFIXES:
        if node_name.startswith(fragment) or (fragment.startswith("/") and f"{fragment}/" in node_name):
            return stage
    return OP_STAGES.get(op_type, "other")


# ---------------------------------------------------------------------------------------------
# onnxruntime profiler


def parse_profile(events: list[dict[str, Any]], *, skip_runs: int = 1) -> dict[str, float]:
    """Per-stage milliseconds per inference from onnxruntime profile events.

    Node events are assigned to the ``model_run`` they fall in; the first ``skip_runs`` runs
    (cold) are dropped and the rest averaged.
    """
    runs = sorted(
        (e["ts"], e["ts"] + e["dur"]) for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"
    )
    kept = runs[skip_runs:] if len(runs) > skip_runs else runs
    if not kept:
        return {}
    totals: dict[str, float] = defaultdict(float)
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        ts = e["ts"]
        if not any(start <= ts <= end for start, end in kept):
            continue
        name = e["name"][: -len("_kernel_time")]
        totals[stage_of(name, e.get("args", {}).get("op_name", ""))] += e["dur"] / 1e3  # µs -> ms
    return {stage: totals[stage] / len(kept) for stage in STAGES if totals.get(stage)}


# ---------------------------------------------------------------------------------------------
# FLOPs from the graph


def _attr(node: Any, name: str, default: Any = None) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _node_flops(node: Any, shapes: dict[str, list[int]]) -> int:
    """FLOPs of one node (multiply and add counted separately), 0 for ops we do not count."""
    op = node.op_type
    if op in ("Conv", "ConvInteger", "QLinearConv"):
        x_in, w_in = (node.input[0], node.input[1]) if op != "QLinearConv" else (node.input[0], node.input[3])
        out, w = shapes.get(node.output[0]), shapes.get(w_in)
        if not out or not w:
            return 0
        # out (N, Cout, ...spatial), w (Cout, Cin/group, ...kernel): 2 * outputs * Cin/group * kernel
        return 2 * int(np.prod(out)) * int(np.prod(w[1:]))
    if op in ("MatMul", "MatMulInteger", "QLinearMatMul", "Gemm"):
        a_in = node.input[0]
        out = shapes.get(node.output[0])
        a = shapes.get(a_in)
        if not out or not a:
            return 0
        k = a[-1] if not (op == "Gemm" and _attr(node, "transA", 0)) else a[0]
        return 2 * int(np.prod(out)) * int(k)
    if op in ("LSTM", "GRU", "RNN"):
        x, w = shapes.get(node.input[0]), shapes.get(node.input[1])
        if not x or not w:
            return 0
        seq, batch, inp = (x[1], x[0], x[2]) if _attr(node, "layout", 0) else (x[0], x[1], x[2])
        directions, gates_hidden = w[0], w[1]  # W: (directions, gates*hidden, input)
        hidden = int(_attr(node, "hidden_size", gates_hidden // {"LSTM": 4, "GRU": 3, "RNN": 1}[op]))
        # input projection + recurrent projection for every gate, every step, every direction
        return 2 * directions * seq * batch * gates_hidden * (inp + hidden)
    return 0


def count_flops(model_path: str | Path, input_shape: list[int]) -> dict[str, float] | None:
    """Estimate FLOPs per inference for ``input_shape``, per stage and in total.

    Counts Conv, MatMul/Gemm and LSTM/GRU/RNN (the ops that carry almost all the arithmetic in
    these models), quantized forms included; elementwise ops are ignored. Returns ``None``
    when onnx is not installed or the graph's shapes cannot be inferred.
    """
    try:
        import onnx
    except ImportError:
        return None
    try:
        inferred = _inferred_at(onnx.load(str(model_path), load_external_data=False), input_shape)
    except Exception:  # noqa: BLE001 - a FLOP estimate is optional; any failure means "unknown"
        return None
    if inferred is None:
        return None
    shapes = _known_shapes(inferred.graph)
    per_stage: dict[str, float] = defaultdict(float)
    for node in inferred.graph.node:
        flops = _node_flops(node, shapes)
        if flops:
            per_stage[stage_of(node.name, node.op_type)] += flops
    if not per_stage:
        return None
    result = {stage: per_stage[stage] for stage in STAGES if per_stage.get(stage)}
    result["total"] = float(sum(per_stage.values()))
    return result


def _inferred_at(model: Any, input_shape: list[int]) -> Any:
    """``model`` with its (first) input fixed to ``input_shape``, shapes inferred; None on a rank mismatch."""
    import onnx

    initializers = {init.name for init in model.graph.initializer}
    graph_input = next(i for i in model.graph.input if i.name not in initializers)
    declared = graph_input.type.tensor_type.shape.dim
    if len(declared) != len(input_shape):
        return None
    for d, v in zip(declared, input_shape, strict=True):
        d.ClearField("dim_param")
        d.dim_value = int(v)
    return onnx.shape_inference.infer_shapes(model, data_prop=True)


def _known_shapes(graph: Any) -> dict[str, list[int]]:
    """Every fully known tensor shape of an inferred graph, initializers included."""
    shapes: dict[str, list[int]] = {}
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        d = dims(vi)
        if all(isinstance(v, int) for v in d):
            shapes[vi.name] = [int(v) for v in d if v is not None]
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes
