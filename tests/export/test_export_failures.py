"""Exports that must fail loudly, and leave nothing behind when they do."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from torch import nn  # noqa: E402

from edgeseq.errors import ConfigError, ExportError  # noqa: E402
from edgeseq.export import ExportOptions, export_onnx  # noqa: E402
from edgeseq.export.verify import frozen_axes, unrolled_loops  # noqa: E402

AXES = {"images": {0: "batch", 3: "width"}}


class FixedBatchH0(nn.Module):
    """docs/traps.md #7: an initial state registered as a buffer with batch 1."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.rnn = nn.GRU(4 * 16, 8, batch_first=True)
        self.register_buffer("h0", torch.zeros(1, 1, 8))
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.conv(x).flatten(1, 2).permute(0, 2, 1)
        y, _ = self.rnn(f, self.h0)
        return self.fc(y)


class CellLoop(nn.Module):
    """An LSTMCell stepped in Python: exports unrolled, one set of ops per timestep."""

    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(16, 8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.mean(1).permute(0, 2, 1)  # (B, W, H)
        h = c = seq.new_zeros(seq.size(0), 8)
        for t in range(seq.size(1)):
            h, c = self.cell(seq[:, t], (h, c))
        return self.fc(h)


def _leftovers(folder):
    return sorted(p for p in os.listdir(folder) if p.startswith("."))


def test_fixed_batch_h0_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "h0.onnx"
    with pytest.raises(ExportError, match=r"batch.*h0 buffer"):
        export_onnx(FixedBatchH0().eval(), torch.randn(1, 1, 16, 32), path, dynamic_axes=AXES)
    assert not path.exists()


def test_fixed_batch_h0_fails_verification_when_output_axes_are_given(tmp_path):
    """With the output axes declared, no probing happens: the parity run at batch 2 and 7 catches it."""
    path = tmp_path / "h0.onnx"
    axes = {**AXES, "logits": {0: "batch", 1: "time"}}
    with pytest.raises(
        ExportError, match=r"torchscript: ExportError: parity check failed: random input \[2, 1, 16, 32\]: .* failed"
    ):
        export_onnx(
            FixedBatchH0().eval(),
            torch.randn(1, 1, 16, 32),
            path,
            ExportOptions(exporter="torchscript"),
            dynamic_axes=axes,
        )
    assert not path.exists() and _leftovers(tmp_path) == []


def test_unrolled_rnn_is_refused_and_every_strategy_is_listed(tmp_path):
    """With require_native_rnn (edgeseq's behaviour before fixed-length cell loops were exported unrolled)."""
    path = tmp_path / "cell.onnx"
    with pytest.raises(ExportError) as info:
        export_onnx(
            CellLoop().eval(), torch.randn(1, 1, 16, 12), path, ExportOptions(opset=17, require_native_rnn=True)
        )
    message = str(info.value)
    assert "nn.LSTMCell" in message and "unrolled" in message
    assert not path.exists()


def test_auto_lists_each_strategy_and_why_it_failed(tmp_path, monkeypatch):
    """With opset 17 the dynamo paths are skipped: the error still names them and says why."""
    from edgeseq.export import strategies

    def broken(*args, **kwargs):
        raise RuntimeError("tracer exploded")

    monkeypatch.setitem(strategies.STRATEGY_FUNCS, "torchscript", broken)
    path = tmp_path / "m.onnx"
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.LazyLinear(3))
    model(torch.randn(1, 1, 8, 8))
    with pytest.raises(ExportError) as info:
        export_onnx(model.eval(), torch.randn(1, 1, 8, 8), path, ExportOptions(opset=17))
    message = str(info.value)
    assert "torchscript: RuntimeError: tracer exploded" in message
    assert "dynamo: skipped: needs opset >= 18, got 17" in message
    assert "dynamo-ep: skipped" in message


def test_failed_export_keeps_the_previous_file(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"previous model")
    with pytest.raises(ExportError):
        export_onnx(FixedBatchH0().eval(), torch.randn(1, 1, 16, 32), path, dynamic_axes=AXES)
    assert path.read_bytes() == b"previous model"


def test_interrupted_export_leaves_nothing_under_the_final_name(tmp_path, monkeypatch, make_model):
    from edgeseq.export import attempts

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(attempts, "check_parity", interrupt)
    model = make_model(3, sequencer="columns", head="ctc")
    path = tmp_path / "model.onnx"
    with pytest.raises(KeyboardInterrupt):
        export_onnx(model, torch.randn(1, 1, 16, 32), path)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"opset": 13}, "export.opset: got 13"),
        ({"opset": 21}, "export.opset: got 21"),
        ({"opset": "18"}, "export.opset"),
        ({"exporter": "onnx"}, "export.exporter: got 'onnx'"),
        ({"exporter": "dynamo", "opset": 17}, "expected opset >= 18"),
        ({"verify": "yes"}, "export.verify"),
    ],
)
def test_options_are_validated(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ExportOptions(**kwargs)


def test_options_from_dict_names_unknown_keys():
    with pytest.raises(ConfigError, match="unknown key 'export.opsett'"):
        ExportOptions.from_dict({"opsett": 18})
    assert ExportOptions.from_dict({"opset": 17, "static": True}) == ExportOptions(opset=17, static=True)


def test_bad_arguments_are_config_errors(tmp_path, make_model):
    model = make_model(3)
    with pytest.raises(ConfigError, match="example_input"):
        export_onnx(model, torch.randn(1, 16, 32), tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match=r"\.onnx"):
        export_onnx(model, torch.randn(1, 1, 16, 32), tmp_path / "m.bin")
    with pytest.raises(ConfigError, match="dynamic_axes: unknown names"):
        export_onnx(model, torch.randn(1, 1, 16, 32), tmp_path / "m.onnx", dynamic_axes={"input": {0: "batch"}})
    with pytest.raises(ConfigError, match=r"dynamic_axes\['images'\]: got \{'w': 'width'\}; expected \{axis: name\}"):
        export_onnx(model, torch.randn(1, 1, 16, 32), tmp_path / "m.onnx", dynamic_axes={"images": {"w": "width"}})
    with pytest.raises(ConfigError, match="metadata: got dict; expected"):
        export_onnx(model, torch.randn(1, 1, 16, 32), tmp_path / "m.onnx", metadata={"task": "ctc"})


def test_dynamic_axes_as_a_list_is_torchs_short_form(tmp_path, make_model, graph_dims):
    model = make_model(3, sequencer="columns", head="ctc")
    export_onnx(model, torch.randn(1, 1, 16, 32), tmp_path / "m.onnx", dynamic_axes={"images": [0, 3]})
    assert graph_dims(tmp_path / "m.onnx")["images"] == ["images_dim0", 1, 16, "images_dim3"]


def test_frozen_axes_are_reported(tmp_path, make_model):
    model = make_model(3, sequencer="columns", head="ctc")
    path = tmp_path / "static.onnx"
    export_onnx(model, torch.randn(1, 1, 16, 32), path, ExportOptions(static=True))
    proto = onnx.load(str(path))
    problems = frozen_axes(proto, {"images": {0: "batch", 3: "width"}, "logits": {1: "time"}})
    assert problems == [
        "'images' axis 0 (batch) is frozen to 1; expected a symbolic dimension",
        "'images' axis 3 (width) is frozen to 32; expected a symbolic dimension",
        "'logits' axis 1 (time) is frozen to 8; expected a symbolic dimension",
    ]


def test_loop_with_rnn_like_body_is_detected():
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [helper.make_node("MatMul", ["h", "w"], ["m"]), helper.make_node("Sigmoid", ["m"], ["h_out"])],
        "body",
        [helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, 4])],
    )
    loop = helper.make_node("Loop", ["n", "cond", "h0"], ["h_final"], body=body, name="unrolled_lstm")
    graph = helper.make_graph([loop], "g", [], [])
    assert unrolled_loops(helper.make_model(graph)) == ["unrolled_lstm"]
