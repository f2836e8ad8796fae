"""Models quantized in PyTorch: dynamic ones export through their float copy, with two parity figures.

Figure 1 (float ONNX vs the dequantized module) uses the fp32 tolerance; figure 2 (the ONNX int8-dynamic
variant vs the PyTorch-quantized module) uses :data:`edgeseq.parity.INT8_TOLERANCES`, whose comment says
where its numbers come from. Static and PT2E quantization are refused in one line naming the module.
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("torch.ao.nn.quantized.dynamic")

from torch import nn  # noqa: E402

from edgeseq.errors import ExportError, InputError  # noqa: E402
from edgeseq.export import export_onnx  # noqa: E402
from edgeseq.export.quantized import (  # noqa: E402
    dequantize_dynamic,
    inspect_quantization,
    torch_quantize_dynamic,
)
from edgeseq.parity import INT8_TOLERANCES, check_parity  # noqa: E402
from edgeseq.pipeline.torch_quantized import Int8Check, compare_int8, export_torch_quantized  # noqa: E402
from edgeseq.runtime.metadata import ModelMetadata  # noqa: E402

AXES = {"images": {0: "batch", 3: "width"}}
# fp32 figure 1: the float copy runs the same maths on both sides (measured <= 1e-7 on these models)
FLOAT_FIGURE_MAX = 1e-5

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


class BidirectionalLSTM(nn.Module):
    """EasyOCR's sequence block: a BiLSTM and a linear projection."""

    def __init__(self, n_in: int, hidden: int, n_out: int) -> None:
        super().__init__()
        self.rnn = nn.LSTM(n_in, hidden, bidirectional=True, batch_first=True)
        self.linear = nn.Linear(hidden * 2, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        try:  # EasyOCR does the same: a dynamic-quantized LSTM has no flatten_parameters
            self.rnn.flatten_parameters()
        except AttributeError:
            pass
        out, _ = self.rnn(x)
        return self.linear(out)


class EasyOCRStyle(nn.Module):
    """The shape of EasyOCR's recognizer: VGG features, (B, W, C, H), AdaptiveAvgPool2d((None, 1)), two BiLSTMs."""

    def __init__(self, num_classes: int = 37, hidden: int = 32) -> None:
        super().__init__()
        self.FeatureExtraction = nn.Sequential(
            nn.Conv2d(1, 16, 3, 1, 1),
            nn.ReLU(True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(16, 32, 3, 1, 1),
            nn.ReLU(True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, 3, 1, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(True),
            nn.MaxPool2d((2, 1), (2, 1)),
        )
        self.AdaptiveAvgPool = nn.AdaptiveAvgPool2d((None, 1))
        self.SequenceModeling = nn.Sequential(
            BidirectionalLSTM(64, hidden, hidden), BidirectionalLSTM(hidden, hidden, hidden)
        )
        self.Prediction = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.FeatureExtraction(x)
        features = self.AdaptiveAvgPool(features.permute(0, 3, 1, 2)).squeeze(3)  # (B, W', C)
        return self.Prediction(self.SequenceModeling(features))


class EveryKind(nn.Module):
    """Every module kind quantize_dynamic swaps: biGRU (2 layers), LSTM, the three cells, Linear without bias."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(8, 6, num_layers=2, bidirectional=True, batch_first=True)
        self.lstm = nn.LSTM(12, 5, batch_first=True)
        self.lstm_cell = nn.LSTMCell(5, 4)
        self.gru_cell = nn.GRUCell(4, 4)
        self.rnn_cell = nn.RNNCell(4, 3, nonlinearity="relu")
        self.fc = nn.Linear(3, 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.mean(1).permute(0, 2, 1)[..., :8]  # (B, W, 8)
        y, _ = self.lstm(self.gru(seq)[0])
        h, _ = self.lstm_cell(y[:, -1])
        return self.fc(self.rnn_cell(self.gru_cell(h)))


@pytest.fixture
def easyocr_model() -> EasyOCRStyle:
    torch.manual_seed(0)
    model = EasyOCRStyle().eval()
    with torch.no_grad():  # a non-trivial BatchNorm, so folding is exercised too
        bn = model.FeatureExtraction[7]
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    return model


@pytest.fixture
def ctc_model():
    """A tiny edgeseq columns->LSTM->CTC model (random weights) and its metadata."""
    from edgeseq.nn import build_model, tiny_config, tiny_num_outputs

    cfg = tiny_config("test_columns_ctc")
    cfg.model.hidden_size = 16
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.preprocess, tiny_num_outputs(cfg)).eval()
    meta = ModelMetadata(task="ctc", alphabet=cfg.data.alphabet, preprocess=dataclasses.asdict(cfg.preprocess))
    return model, meta


def _op_types(path) -> set[str]:
    from edgeseq.graphs import load_graph, op_histogram

    return set(op_histogram(load_graph(path)))


# --- detection and the float copy ---------------------------------------------------------------------


def test_detects_dynamic_modules_and_nothing_in_a_float_model(easyocr_model):
    assert inspect_quantization(easyocr_model) is None
    found = inspect_quantization(torch_quantize_dynamic(easyocr_model))
    assert found is not None
    assert found.modules == {
        "SequenceModeling.0.rnn": "torch.ao.nn.quantized.dynamic.LSTM",
        "SequenceModeling.0.linear": "torch.ao.nn.quantized.dynamic.Linear",
        "SequenceModeling.1.rnn": "torch.ao.nn.quantized.dynamic.LSTM",
        "SequenceModeling.1.linear": "torch.ao.nn.quantized.dynamic.Linear",
        "Prediction": "torch.ao.nn.quantized.dynamic.Linear",
    }
    assert found.weight_dtypes == ["qint8"]


def test_float_copy_maps_every_kind_exactly():
    """With fp16 weights the quantized modules compute in fp32 on rounded weights, and so does the copy:
    any mistake in names, gate order, directions or cells would show as a large difference."""
    from torch.ao.quantization import quantize_dynamic

    torch.manual_seed(0)
    model = EveryKind().eval()
    kinds = {nn.GRU, nn.LSTM, nn.LSTMCell, nn.GRUCell, nn.RNNCell, nn.Linear}
    quantized = quantize_dynamic(model, kinds, dtype=torch.float16)
    copy = dequantize_dynamic(quantized)
    assert inspect_quantization(copy) is None and inspect_quantization(quantized) is not None  # input untouched
    x = torch.randn(3, 1, 8, 10)
    with torch.inference_mode():
        assert (copy(x) - quantized(x)).abs().max().item() < 1e-6
        # qint8: only the activation quantization the float graph drops on purpose remains
        qint8 = quantize_dynamic(model, kinds, dtype=torch.qint8)
        diff = (dequantize_dynamic(qint8)(x) - qint8(x)).abs().max().item()
        assert 1e-6 < diff < 0.05 * qint8(x).abs().max().item()


def test_fused_linear_relu_becomes_linear_and_relu():
    from torch.ao.nn.intrinsic import LinearReLU
    from torch.ao.quantization import quantize_dynamic

    torch.manual_seed(0)
    model = nn.Sequential(LinearReLU(nn.Linear(6, 4), nn.ReLU())).eval()
    copy = dequantize_dynamic(quantize_dynamic(model, {LinearReLU}, dtype=torch.float16))
    assert isinstance(copy[0], nn.Sequential) and isinstance(copy[0][1], nn.ReLU)
    x = torch.randn(5, 6)
    assert torch.allclose(copy(x), model(x), atol=1e-2)


# --- export end to end (Python) -------------------------------------------------------------------------


def test_export_onnx_exports_the_float_copy_and_checks_against_it(tmp_path, easyocr_model, graph_dims):
    quantized = torch_quantize_dynamic(easyocr_model)
    path = tmp_path / "q.onnx"
    result = export_onnx(quantized, torch.randn(1, 1, 32, 100), path, dynamic_axes=AXES)
    assert result.rnn_nodes == {"LSTM": 2, "bidirectional": 2}
    assert graph_dims(path)["logits"] == ["batch", "time", 37]
    assert result.torch_quantization["kind"] == "torch-dynamic"
    assert "SequenceModeling.0.rnn: LSTM (qint8, dynamic) -> float copy with the dequantized weights" in result.rewrites
    assert "AdaptiveAvgPool: AdaptiveAvgPool2d((None, 1)) -> mean(dim=-1, keepdim=True)" in result.rewrites
    assert result.parity.passed and result.parity.worst()["logits"]["max_abs"] < FLOAT_FIGURE_MAX
    assert "exported the float copy with the dequantized weights" in result.summary()
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["torch_quantization"]["parity_reference"] == "the dequantized float copy"
    assert inspect_quantization(quantized) is not None  # the caller's model is untouched


@pytest.mark.parametrize("which", ["edgeseq-ctc", "easyocr-style"])
def test_quantized_crnn_exports_with_both_parity_figures(tmp_path, which, ctc_model, easyocr_model):
    if which == "edgeseq-ctc":
        model, meta = ctc_model
        example = torch.randn(1, 1, 32, 64)
    else:
        model, meta = easyocr_model, None
        example = torch.randn(1, 1, 32, 100)
    quantized = torch_quantize_dynamic(model)
    path = tmp_path / "m.onnx"
    result = export_torch_quantized(quantized, example, path, metadata=meta, dynamic_axes=AXES)

    assert result.passed, result.summary()
    assert result.export.parity.worst()["logits"]["max_abs"] < FLOAT_FIGURE_MAX  # figure 1
    (check,) = result.int8
    assert check.variant == "int8-dynamic" and check.path == tmp_path / "m.int8" / "int8-dynamic.onnx"
    assert check.report.tolerances == INT8_TOLERANCES
    worst = check.report.worst()["logits"]
    assert 1e-6 < worst["max_abs"]  # two int8 schemes really differ ...
    assert worst["min_cosine"] > 0.9999  # ... by little (measured >= 0.99996 on these models)
    assert {"DynamicQuantizeLSTM", "MatMulInteger"} <= _op_types(check.path)
    text = result.summary()
    assert "parity 1, float ONNX vs dequantized PyTorch: passed" in text
    assert "parity 2, ONNX int8-dynamic vs PyTorch int8" in text and "0.05*max|torch|" in text

    manifest = json.loads(path.with_suffix(".json").read_text())
    figures = manifest["torch_quantization"]
    assert figures["float_parity"]["passed"] is True
    assert figures["int8"]["int8-dynamic"]["path"] == "m.int8/int8-dynamic.onnx"
    assert figures["int8"]["int8-dynamic"]["parity"]["passed"] is True
    variant_manifest = json.loads(check.path.with_suffix(".json").read_text())
    assert variant_manifest["torch_parity"]["tolerances"]["range_rtol"] == 0.05


def test_int8_figure_fails_on_a_wrong_weight(tmp_path, easyocr_model, perturb_initializer):
    """Figure 2 is a real check: one changed bias in the int8 graph is caught."""
    quantized = torch_quantize_dynamic(easyocr_model)
    result = export_torch_quantized(quantized, torch.randn(1, 1, 32, 100), tmp_path / "m.onnx", dynamic_axes=AXES)
    broken = tmp_path / "broken.onnx"
    perturb_initializer(result.int8[0].path, broken, name_contains="Prediction.bias", delta=0.5)
    check = Int8Check("int8-dynamic", broken)
    compare_int8(quantized, [check], (32, 100))
    assert not check.passed
    assert any("exceeds 0.0001 + 0*|torch| + 0.05*max|torch|" in f for f in check.report.failures)


def test_int8_figure_is_far_below_the_float_tolerance_only_where_it_should_be(tmp_path, easyocr_model):
    """The int8 variant does fail the fp32 tolerance: the separate, looser figure is needed."""
    quantized = torch_quantize_dynamic(easyocr_model)
    result = export_torch_quantized(quantized, torch.randn(1, 1, 32, 100), tmp_path / "m.onnx", dynamic_axes=AXES)
    assert not check_parity(quantized, result.int8[0].path, base_size=(32, 100)).passed


def test_a_float_model_is_refused_by_the_quantized_route(tmp_path, easyocr_model):
    with pytest.raises(
        InputError, match=r"no PyTorch dynamic-quantized module .*\(use edgeseq.export_onnx for a float model\)"
    ):
        export_torch_quantized(easyocr_model, torch.randn(1, 1, 32, 100), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_unknown_int8_variant_is_refused(tmp_path, easyocr_model):
    quantized = torch_quantize_dynamic(easyocr_model)
    with pytest.raises(InputError, match=r"int8 variants: got \['fp16'\]; expected one or more of int8-dynamic"):
        export_torch_quantized(quantized, torch.randn(1, 1, 32, 100), tmp_path / "m.onnx", variants=["fp16"])


def test_int8_mixed_without_calibration_is_reported_not_fatal(tmp_path, easyocr_model):
    quantized = torch_quantize_dynamic(easyocr_model)
    result = export_torch_quantized(
        quantized, torch.randn(1, 1, 32, 100), tmp_path / "m.onnx", dynamic_axes=AXES, variants=["int8-mixed"]
    )
    (check,) = result.int8
    assert not result.passed and check.report is None and "calibration" in check.reason
    assert "not checked: not built: needs calibration samples" in result.summary()


# --- refusals: one line naming the module -----------------------------------------------------------


class _Static(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.conv = nn.Conv2d(1, 4, 3)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.conv(self.quant(x)))


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_static_eager_quantization_is_refused(tmp_path):
    from torch.ao import quantization as tq

    model = _Static().eval()
    model.qconfig = tq.get_default_qconfig("x86")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = tq.prepare(model)
        prepared(torch.randn(2, 1, 8, 8))
        converted = tq.convert(prepared)
    with pytest.raises(
        ExportError, match=r"module 'quant' \(torch.ao.nn.quantized.Quantize\) is statically quantized"
    ) as info:
        export_onnx(converted, torch.randn(1, 1, 8, 8), tmp_path / "s.onnx")
    assert "edgeseq optimize --variants int8-static,int8-mixed" in _one_line(info)
    assert list(tmp_path.iterdir()) == []


def test_static_fx_quantization_is_refused(tmp_path):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    x = torch.randn(1, 1, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_fx(model, get_default_qconfig_mapping("x86"), (x,))
        prepared(x)
        converted = convert_fx(prepared)
    pattern = r"module '0' \(torch.ao.nn.intrinsic.quantized.ConvReLU2d\) is statically quantized by FX"
    with pytest.raises(ExportError, match=pattern) as info:
        export_onnx(converted, x, tmp_path / "fx.onnx")
    _one_line(info)


def test_pt2e_graph_module_is_refused(tmp_path):
    import torch.ao.quantization.fx._decomposed  # noqa: F401 - registers quantized_decomposed ops

    class QDQ(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q = torch.ops.quantized_decomposed.quantize_per_tensor.default(x, 0.1, 0, -128, 127, torch.int8)
            return torch.ops.quantized_decomposed.dequantize_per_tensor.default(q, 0.1, 0, -128, 127, torch.int8)

    graph_module = torch.fx.symbolic_trace(QDQ())
    with pytest.raises(ExportError, match=r"PT2E-quantized GraphModule \(node 'quantize_per_tensor_default'") as info:
        export_onnx(graph_module, torch.randn(1, 1, 8, 8), tmp_path / "p.onnx")
    _one_line(info)


def test_dynamic_conv_is_refused_naming_it(tmp_path):
    import torch.ao.nn.quantized.dynamic as nnqd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = nn.Sequential(nnqd.Conv2d(1, 2, 3)).eval()
    with pytest.raises(
        ExportError,
        match=r"module '0' \(torch.ao.nn.quantized.dynamic.Conv2d\) is dynamically quantized, but edgeseq rebuilds only Linear, LSTM, GRU",
    ):
        export_onnx(model, torch.randn(1, 1, 8, 8), tmp_path / "c.onnx")


def test_quantized_buffer_in_a_float_module_is_refused(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3)).eval()
    model[0].register_buffer("scale_table", torch.quantize_per_tensor(torch.ones(3), 0.1, 0, torch.qint8))
    with pytest.raises(ExportError, match=r"module '0' \(torch.nn.Conv2d\) holds the quantized tensor 'scale_table'"):
        export_onnx(model, torch.randn(1, 1, 8, 8), tmp_path / "b.onnx")


# --- the command line: export --torch-quantized dynamic, then validate ---------------------------------


@pytest.fixture
def ctc_checkpoint(tmp_path):
    """A text-line CTC checkpoint of a tiny columns->LSTM model (random weights; synthetic data)."""
    from edgeseq.checkpoint import save_checkpoint
    from edgeseq.nn import build_model, tiny_config, tiny_num_outputs

    cfg = tiny_config("test_columns_ctc")
    cfg.model.hidden_size = 16
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.preprocess, tiny_num_outputs(cfg))
    path = tmp_path / "ckpt" / "best.pt"
    save_checkpoint(
        path,
        {
            "config": cfg.to_dict(),
            "task": "ctc",
            "labels": [],
            "alphabet": cfg.data.alphabet,
            "preprocess": dataclasses.asdict(cfg.preprocess),
            "state_dict": model.state_dict(),
            "metrics": {},
            "epoch": 1,
        },
    )
    return path


def test_cli_export_and_validate_a_torch_quantized_checkpoint(tmp_path, ctc_checkpoint, capsys):
    from edgeseq.cli import main

    out = tmp_path / "out" / "q.onnx"
    code = main(["export", str(ctc_checkpoint), "-o", str(out), "--torch-quantized", "dynamic"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "PyTorch dynamic quantization (rnn.rnn, head.fc)" in text or "PyTorch dynamic quantization (" in text
    assert "parity 1, float ONNX vs dequantized PyTorch: passed" in text
    assert (
        f"parity 2, ONNX int8-dynamic vs PyTorch int8 [{out.parent / 'q.int8' / 'int8-dynamic.onnx'}]: passed" in text
    )
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["torch_quantization"]["int8"]["int8-dynamic"]["parity"]["passed"] is True
    assert manifest["source_checkpoint"]["path"] == str(ctc_checkpoint)

    # validate compares the float graph with the dequantized model, not the float checkpoint (which
    # differs by the weights' int8 rounding), and the int8 variant with the quantized model
    code = main(["validate", str(out), "--checkpoint", str(ctc_checkpoint), "--samples", "4"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "parity 1: float ONNX vs the dequantized PyTorch model" in text
    assert "parity 2: ONNX int8-dynamic vs the PyTorch int8 model" in text and "sample" in text
    report = json.loads(out.with_suffix(".parity.json").read_text())
    assert report["passed"] is True and report["torch_quantization"]["int8"]["int8-dynamic"]["passed"] is True


def test_cli_validate_fails_when_the_int8_variant_is_wrong(tmp_path, ctc_checkpoint, capsys, perturb_initializer):
    from edgeseq.cli import main

    out = tmp_path / "q.onnx"
    assert main(["export", str(ctc_checkpoint), "-o", str(out), "--torch-quantized", "dynamic", "--no-verify"]) == 0
    variant = tmp_path / "q.int8" / "int8-dynamic.onnx"
    perturb_initializer(variant, variant, name_contains="bias", delta=5.0)
    variant.with_suffix(".json").unlink()  # else validate refuses to record figures for a changed file
    capsys.readouterr()
    code = main(["validate", str(out), "--checkpoint", str(ctc_checkpoint), "--samples", "0"])
    captured = capsys.readouterr()
    assert code == 1
    assert "int8-dynamic: " in captured.err and "exceeds" in captured.err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--torch-quantized", "dynamic", "--int8-variants", "fp16"], "int8 variants: got ['fp16']"),
        (["--int8-variants", "int8-dynamic"], "--int8-variants and --int8-dir need --torch-quantized dynamic"),
    ],
)
def test_cli_int8_flags_are_checked(tmp_path, tiny_checkpoint, capsys, argv, message):
    from edgeseq.cli import main

    code = main(["export", str(tiny_checkpoint), "-o", str(tmp_path / "m.onnx"), *argv])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.slow
def test_cli_int8_mixed_is_calibrated_on_the_checkpoint_and_reported_only(tmp_path, ctc_checkpoint, capsys):
    """int8-mixed quantizes the convolutions too (PyTorch kept them float): figure 2 is reported, not gated."""
    from edgeseq.cli import main

    out = tmp_path / "q.onnx"
    argv = ["export", str(ctc_checkpoint), "-o", str(out), "--torch-quantized", "dynamic"]
    assert main([*argv, "--int8-variants", "int8-dynamic,int8-mixed", "--no-verify"]) == 0
    text = capsys.readouterr().out
    assert "parity 2, ONNX int8-mixed vs PyTorch int8" in text and "reported only" in text
    figures = json.loads(out.with_suffix(".json").read_text())["torch_quantization"]["int8"]
    assert figures["int8-mixed"]["held_to_tolerance"] is False and figures["int8-mixed"]["parity"] is not None
    assert figures["int8-mixed"]["gate"] is not None  # edgeseq optimize's accuracy gate ran on the checkpoint's data
    assert figures["int8-dynamic"]["held_to_tolerance"] is True and figures["int8-dynamic"]["parity"]["passed"]
