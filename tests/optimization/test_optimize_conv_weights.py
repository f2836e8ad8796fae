"""The "gemm" conv kernel choice: Conv weights move to zero point -1 and the outputs stay bit-identical."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from edgeseq.optimization import OptimizeConfig, OptimizeResult, optimize
from edgeseq.optimization.conv_weights import (
    conv_weight_dequantizers,
    shift_conv_weight_zero_points,
    unshift_conv_weight_zero_points,
)


def _conv_weight_zero_points(path: str | Path) -> list[np.ndarray]:
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return [inits[node.input[2]] for node in conv_weight_dequantizers(model)]


@pytest.fixture(scope="module")
def by_kernel(tiny_lstm: Path, labelled_by, tmp_path_factory: pytest.TempPathFactory) -> dict[str, OptimizeResult]:
    samples = labelled_by(tiny_lstm, 32)
    out = {}
    for kernel in ("symmetric", "gemm"):
        config = OptimizeConfig(
            variants=["int8-static", "int8-mixed"], conv_kernel=kernel, latency_runs=0, max_accuracy_drop=100.0
        )
        out[kernel] = optimize(
            tiny_lstm, tmp_path_factory.mktemp(kernel), config, calibration=samples, evaluation=samples
        )
    return out


@pytest.mark.parametrize("variant", ["int8-static", "int8-mixed"])
def test_gemm_kernel_shifts_every_conv_weight(by_kernel: dict[str, OptimizeResult], variant: str) -> None:
    symmetric = _conv_weight_zero_points(by_kernel["symmetric"].variant(variant).path)
    gemm = _conv_weight_zero_points(by_kernel["gemm"].variant(variant).path)
    assert len(symmetric) == len(gemm) == 2  # the tiny model's two convolutions
    assert all(np.all(zp == 0) for zp in symmetric)
    assert all(zp.dtype == np.int8 and np.all(zp == -1) for zp in gemm)
    details = by_kernel["gemm"].variant(variant).settings
    assert details["conv_kernel"] == "gemm" and details["conv_weights_shifted"] == 2
    assert any("zero point -1" in note for note in by_kernel["gemm"].variant(variant).notes)
    assert not any("zero point -1" in note for note in by_kernel["symmetric"].variant(variant).notes)
    assert by_kernel["gemm"].int8["conv_kernel"] == "gemm"


@pytest.mark.parametrize("variant", ["int8-static", "int8-mixed"])
def test_gemm_kernel_outputs_are_bit_identical(by_kernel: dict[str, OptimizeResult], variant: str) -> None:
    # (q - 1) - (-1) == q: the same dequantized weights, only onnxruntime's kernel choice differs; exact equality
    # is the claim, so no tolerance
    x = np.random.default_rng(3).standard_normal((8, 1, 16, 16)).astype(np.float32)
    outs = [
        ort.InferenceSession(by_kernel[k].variant(variant).path, providers=["CPUExecutionProvider"]).run(
            None, {"images": x}
        )[0]
        for k in ("symmetric", "gemm")
    ]
    np.testing.assert_array_equal(outs[0], outs[1])


def _one_conv(weight: np.ndarray, zero_point: np.ndarray, shared: bool = False) -> onnx.ModelProto:
    """x -> Conv(x, DQ(W)) [-> Conv(., DQ(W)) when shared]; per-channel scale 0.1."""
    out_ch = weight.shape[0]
    inits = [
        numpy_helper.from_array(weight, "W"),
        numpy_helper.from_array(np.full(out_ch, 0.1, np.float32), "Ws"),
        numpy_helper.from_array(zero_point, "Wz"),
    ]
    nodes = [
        helper.make_node("DequantizeLinear", ["W", "Ws", "Wz"], ["Wf"], axis=0),
        helper.make_node("Conv", ["x", "Wf"], ["y0"], pads=[1, 1, 1, 1]),
    ]
    last = "y0"
    if shared:
        nodes += [
            helper.make_node("DequantizeLinear", ["W", "Ws", "Wz"], ["Wf2"], axis=0),
            helper.make_node("Conv", ["y0", "Wf2"], ["y1"], pads=[1, 1, 1, 1]),
        ]
        last = "y1"
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TP.FLOAT, [1, weight.shape[1], 4, 4])],
        [helper.make_tensor_value_info(last, TP.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _shift(model: onnx.ModelProto, tmp_path: Path) -> tuple[int, onnx.ModelProto]:
    src, dst = tmp_path / "src.onnx", tmp_path / "dst.onnx"
    onnx.save(model, str(src))
    changed = shift_conv_weight_zero_points(src, dst)
    return changed, onnx.load(str(dst))


def _zero_point(model: onnx.ModelProto, node_index: int = 0) -> np.ndarray:
    """The zero point the ``node_index``-th DequantizeLinear reads (the pass gives moved weights fresh ones)."""
    dequantizers = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    return _init(model, dequantizers[node_index].input[2])


def _init(model: onnx.ModelProto, name: str) -> np.ndarray:
    return next(numpy_helper.to_array(i) for i in model.graph.initializer if i.name == name)


@pytest.mark.parametrize(
    ("weight", "zero_point", "shifted"),
    [
        (np.array([[[[-127, 0, 127]] * 3]] * 2, np.int8).repeat(2, 1), np.zeros(2, np.int8), True),
        (np.array([[[[-128, 0, 127]] * 3]] * 2, np.int8).repeat(2, 1), np.zeros(2, np.int8), False),  # full range
        (np.array([[[[-5, 0, 5]] * 3]] * 2, np.int8).repeat(2, 1), np.array([0, 3], np.int8), False),  # asymmetric
        (np.array([[[[1, 128, 255]] * 3]] * 2, np.uint8).repeat(2, 1), np.full(2, 128, np.uint8), False),  # uint8
    ],
    ids=["symmetric", "full-range", "asymmetric", "uint8"],
)
def test_only_symmetric_restricted_int8_weights_move(
    weight: np.ndarray, zero_point: np.ndarray, shifted: bool, tmp_path: Path
) -> None:
    model = _one_conv(weight, zero_point)
    changed, out = _shift(model, tmp_path)
    assert changed == int(shifted)
    if shifted:
        np.testing.assert_array_equal(_init(out, "W"), weight.astype(np.int16) - 1)
        np.testing.assert_array_equal(_zero_point(out), np.full(2, -1, np.int8))
    else:
        np.testing.assert_array_equal(_init(out, "W"), weight)
        np.testing.assert_array_equal(_zero_point(out), zero_point)


def test_a_per_tensor_weight_moves_too(tmp_path: Path) -> None:
    weight = np.random.default_rng(2).integers(-127, 128, (2, 2, 3, 3)).astype(np.int8)
    model = _one_conv(weight, np.zeros(2, np.int8))
    dq = model.graph.node[0]
    del dq.attribute[:]  # per-tensor: scalar scale and zero point, no axis
    for init in model.graph.initializer:
        if init.name in ("Ws", "Wz"):
            value = numpy_helper.to_array(init)[0]
            init.CopyFrom(numpy_helper.from_array(np.array(value, dtype=value.dtype), init.name))
    changed, out = _shift(model, tmp_path)
    assert changed == 1 and _zero_point(out).shape == () and int(_zero_point(out)) == -1
    x = np.random.default_rng(1).standard_normal((1, 2, 4, 4)).astype(np.float32)
    run = lambda m: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})  # noqa: E731
    np.testing.assert_array_equal(run(model)[0], run(out)[0])


def test_a_shared_weight_moves_once_and_computes_the_same(tmp_path: Path) -> None:
    weight = np.random.default_rng(0).integers(-127, 128, (2, 2, 3, 3)).astype(np.int8)
    model = _one_conv(weight, np.zeros(2, np.int8), shared=True)
    changed, out = _shift(model, tmp_path)
    assert changed == 1
    np.testing.assert_array_equal(_init(out, "W"), weight.astype(np.int16) - 1)
    x = np.random.default_rng(1).standard_normal((1, 2, 4, 4)).astype(np.float32)
    run = lambda m: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})  # noqa: E731
    np.testing.assert_array_equal(run(model)[0], run(out)[0])


def test_a_zero_point_shared_by_two_weights_is_never_changed_under_the_other(tmp_path: Path) -> None:
    # W1 can move, W2 (full range) cannot; both read the same zero-point tensor "Wz"
    w1 = np.random.default_rng(3).integers(-127, 128, (2, 2, 3, 3)).astype(np.int8)
    w2 = w1.copy()
    w2[0, 0, 0, 0] = -128
    model = _one_conv(w1, np.zeros(2, np.int8), shared=True)
    model.graph.initializer.append(numpy_helper.from_array(w2, "W2"))
    model.graph.node[2].input[0] = "W2"  # the second dequantizer reads W2 with the shared "Wz"
    changed, out = _shift(model, tmp_path)
    assert changed == 1
    assert int(_zero_point(out, 0)[0]) == -1 and int(_zero_point(out, 1)[0]) == 0
    x = np.random.default_rng(1).standard_normal((1, 2, 4, 4)).astype(np.float32)
    run = lambda m: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})  # noqa: E731
    np.testing.assert_array_equal(run(model)[0], run(out)[0])


def test_unshift_restores_the_symmetric_file(by_kernel: dict[str, OptimizeResult], tmp_path: Path) -> None:
    back = tmp_path / "back.onnx"
    assert unshift_conv_weight_zero_points(by_kernel["gemm"].variant("int8-static").path, back) == 2
    assert all(np.all(zp == 0) for zp in _conv_weight_zero_points(back))
    x = np.random.default_rng(4).standard_normal((4, 1, 16, 16)).astype(np.float32)
    outs = [
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
        for p in (by_kernel["symmetric"].variant("int8-static").path, back)
    ]
    np.testing.assert_array_equal(outs[0], outs[1])
