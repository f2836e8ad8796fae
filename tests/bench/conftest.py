"""Fixtures for the bench tests: a tiny CRNN-shaped ONNX model built directly with onnx.helper.

Built without torch so it is instant; node names follow torch's exporter (``/backbone/...``,
``/sequencer/...``, ``/rnn/...``, ``/head/...``) so the per-stage mapping can be tested on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

TINY_HEIGHT = 8
TINY_WIDTH = 16
TINY_HIDDEN = 8
TINY_CLASSES = 5  # alphabet "abcd" + blank


def make_tiny_ctc_onnx(path: Path) -> Path:
    """images (N, 1, 8, W) float -> logits (N, W, 5); dynamic batch and width; edgeseq metadata."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgeseq.runtime.metadata import InputSpec, ModelMetadata

    rng = np.random.default_rng(0)

    def init(name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), name)

    h, c = TINY_HIDDEN, 4
    inits = [
        init("conv_w", (c, 1, 3, 3)),
        init("lstm_w", (1, 4 * h, c)),
        init("lstm_r", (1, 4 * h, h)),
        init("fc_w", (h, TINY_CLASSES)),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axes_h"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axes_dir"),
    ]
    nodes = [
        helper.make_node("Conv", ["images", "conv_w"], ["c1"], name="/backbone/body/conv/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="/backbone/body/relu/Relu"),
        helper.make_node("ReduceMean", ["r1", "axes_h"], ["m1"], name="/sequencer/ReduceMean", keepdims=0),
        helper.make_node("Transpose", ["m1"], ["seq"], name="/sequencer/Transpose", perm=[2, 0, 1]),
        helper.make_node("LSTM", ["seq", "lstm_w", "lstm_r"], ["y"], name="/rnn/lstm/LSTM", hidden_size=h),
        helper.make_node("Squeeze", ["y", "axes_dir"], ["y2"], name="/rnn/Squeeze"),
        helper.make_node("Transpose", ["y2"], ["y3"], name="/head/Transpose", perm=[1, 0, 2]),
        helper.make_node("MatMul", ["y3", "fc_w"], ["logits"], name="/head/fc/MatMul"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_ctc",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 1, TINY_HEIGHT, "width"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "time", TINY_CLASSES])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    meta = ModelMetadata(
        task="ctc",
        alphabet="abcd",
        preprocess={
            "height": TINY_HEIGHT,
            "width": TINY_WIDTH,
            "color": "L",
            "mean": [0.5],
            "std": [0.5],
            "resize": "height",
        },
        input=InputSpec(dynamic_axes={"0": "batch", "3": "width"}),
    )
    for key, value in meta.to_props().items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    path.with_suffix(".json").write_text(json.dumps({"parity": {"worst": {"logits": {"max_abs": 1e-7}}}}))
    return path


@pytest.fixture(scope="session")
def tiny_dims() -> dict[str, int]:
    """The tiny model's sizes (conftest modules cannot be imported by the test files)."""
    return {"height": TINY_HEIGHT, "width": TINY_WIDTH, "hidden": TINY_HIDDEN, "classes": TINY_CLASSES, "channels": 4}


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CTC model file (session-scoped: built once)."""
    return make_tiny_ctc_onnx(tmp_path_factory.mktemp("bench_model") / "tiny.onnx")


class FakeClock:
    """A ``time.perf_counter_ns`` stand-in that only moves when told: timing tests never depend on how well
    ``time.sleep`` keeps time on a loaded machine."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now

    def advance_s(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.now += round(seconds * 1e9)


@pytest.fixture
def fake_clock() -> FakeClock:
    """A fresh :class:`FakeClock` at 0 ns."""
    return FakeClock()
