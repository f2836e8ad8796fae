"""edgeseq.graphs: one node walker (subgraphs included) and one op histogram (the manifest's meaning)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgeseq import graphs  # noqa: E402
from edgeseq.manifest import describe_onnx  # noqa: E402


def _branch(name: str, op: str) -> onnx.GraphProto:
    """A one-node subgraph ``y = op(x_outer)`` (subgraphs may read outer-scope values)."""
    return helper.make_graph(
        [helper.make_node(op, ["x"], [f"{name}_y"], name=f"{name}_{op}")],
        name,
        [],
        [helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, None)],
    )


def _loop_body() -> onnx.GraphProto:
    """A Loop body holding an If whose branches hold a bidirectional LSTM and a Tanh: three levels deep."""
    lstm = helper.make_node(
        "LSTM", ["x", "W", "R"], ["lstm_y"], name="inner_lstm", hidden_size=2, direction="bidirectional"
    )
    inner_then = helper.make_graph(
        [lstm], "inner_then", [], [helper.make_tensor_value_info("lstm_y", TensorProto.FLOAT, None)]
    )
    inner_if = helper.make_node(
        "If", ["cond"], ["if_y"], name="inner_if", then_branch=inner_then, else_branch=_branch("inner_else", "Tanh")
    )
    identity = helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_identity")
    return helper.make_graph(
        [identity, inner_if],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("if_y", TensorProto.FLOAT, None),
        ],
    )


def _nested_model() -> onnx.ModelProto:
    """Main graph: Relu, an If (Sigmoid | Sigmoid) and a Loop whose body nests an If with an LSTM."""
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node(
            "If",
            ["cond"],
            ["if_out"],
            name="outer_if",
            then_branch=_branch("then", "Sigmoid"),
            else_branch=_branch("else", "Sigmoid"),
        ),
        helper.make_node("Loop", ["trip", "cond"], ["loop_scan"], name="loop", body=_loop_body()),
    ]
    graph = helper.make_graph(
        nodes,
        "main",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, None]),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("trip", TensorProto.INT64, []),
            helper.make_tensor_value_info("W", TensorProto.FLOAT, [2, 8, 3]),
            helper.make_tensor_value_info("R", TensorProto.FLOAT, [2, 8, 2]),
        ],
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, ["batch", 3, None])],
        initializer=[
            numpy_helper.from_array(np.zeros((2, 8, 3), np.float32), "W"),
            numpy_helper.from_array(np.zeros((2, 8, 2), np.float32), "R"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_iter_nodes_walks_if_and_loop_subgraphs_depth_first():
    # a node comes before its subgraphs' nodes; subgraphs in attribute order (onnx.helper sorts by name: else, then)
    names = [node.name for node in graphs.iter_nodes(_nested_model().graph)]
    assert names == [
        "relu",
        "outer_if",
        "else_Sigmoid",
        "then_Sigmoid",
        "loop",
        "body_identity",
        "inner_if",
        "inner_else_Tanh",
        "inner_lstm",
    ]


def test_op_histogram_counts_the_whole_model_sorted_by_op_name():
    model = _nested_model()
    histogram = graphs.op_histogram(model)
    assert histogram == {"Identity": 1, "If": 2, "LSTM": 1, "Loop": 1, "Relu": 1, "Sigmoid": 2, "Tanh": 1}
    assert list(histogram) == sorted(histogram)  # by name, not by frequency
    assert sum(histogram.values()) == 9 != len(model.graph.node)  # subgraph nodes count too


def test_manifest_op_histogram_is_the_graphs_one(tmp_path):
    path = tmp_path / "nested.onnx"
    onnx.save(_nested_model(), str(path))
    described = describe_onnx(path)
    assert described["op_histogram"] == graphs.op_histogram(graphs.load_graph(path))
    assert described["num_nodes"] == 9
    assert described["rnn_nodes"] == {"LSTM": 1, "bidirectional": 1}  # found inside the Loop body's If


def test_dims_io_specs_and_rnn_nodes():
    model = _nested_model()
    assert graphs.dims(model.graph.input[0]) == ["batch", 3, None]
    specs = graphs.io_specs(model)
    # W and R are initializers listed as graph inputs: not something a caller feeds
    assert [s["name"] for s in specs["inputs"]] == ["x", "cond", "trip"]
    assert specs["inputs"][0] == {"name": "x", "dtype": "float32", "shape": ["batch", 3, None]}
    assert specs["outputs"] == [{"name": "r", "dtype": "float32", "shape": ["batch", 3, None]}]
    assert graphs.rnn_nodes(model) == [
        {"op": "LSTM", "direction": "bidirectional", "hidden_size": 2, "name": "inner_lstm"}
    ]


def test_float_compute_ops_and_qdq_wrapped_read_the_main_graph():
    nodes = [
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["x"], name="dq_x"),
        helper.make_node("DequantizeLinear", ["wq", "s", "z"], ["w"], name="dq_w"),
        helper.make_node("MatMul", ["x", "w"], ["y"], name="qdq_matmul"),
        helper.make_node("MatMul", ["y", "w"], ["y2"], name="float_matmul"),
        helper.make_node("Gemm", ["y2", "w"], ["y3"], name="float_gemm"),
    ]
    graph = helper.make_graph(nodes, "q", [], [helper.make_tensor_value_info("y3", TensorProto.FLOAT, None)])
    model = helper.make_model(graph)
    assert graphs.float_compute_ops(model) == {"MatMul": 1, "Gemm": 1}
    assert graphs.qdq_wrapped(model, "MatMul") == 1
    assert graphs.qdq_wrapped(model, "Gemm") == 0


def test_load_graph_leaves_external_data_unloaded(tmp_path):
    model = _nested_model()
    path = tmp_path / "ext.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, location="ext.onnx.data", size_threshold=0)
    loaded = graphs.load_graph(path)
    assert all(init.data_location == TensorProto.EXTERNAL for init in loaded.graph.initializer)
    assert all(not init.raw_data for init in loaded.graph.initializer)


def test_passes_graphinfo_reexports_the_graph_helpers(monkeypatch):
    """The deprecated shim (one release) re-exports these objects and warns when imported."""
    import importlib
    import sys

    monkeypatch.delitem(sys.modules, "edgeseq.passes.graphinfo", raising=False)  # warns on first import only
    with pytest.warns(DeprecationWarning, match=r"edgeseq\.passes\.graphinfo is deprecated"):
        graphinfo = importlib.import_module("edgeseq.passes.graphinfo")
    assert graphinfo.float_compute_ops is graphs.float_compute_ops
    assert graphinfo.qdq_wrapped is graphs.qdq_wrapped
    assert graphinfo.load_graph is graphs.load_graph
