"""A CRNN written elsewhere (not an edgeseq model) goes through export_onnx with a dynamic width.

VGG-like CNN, ``AdaptiveAvgPool2d((1, None))`` over the height (docs/traps.md #5: the TorchScript path
refuses it with a dynamic width, so the exporter rewrites it to an exact mean), a two-layer BiLSTM
over the width and a per-timestep linear head.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from torch import nn  # noqa: E402

from edgeseq.export import ExportOptions, export_onnx  # noqa: E402
from edgeseq.parity import check_parity  # noqa: E402

WIDTHS = (20, 72, 150)  # none equal to the example's 64; 20 is close to the smallest legal width (16)


class ThirdPartyCRNN(nn.Module):
    """The shape of CRNNs found in OCR repositories: conv blocks, pool the height away, BiLSTM, linear."""

    def __init__(self, num_classes: int = 11, pooling: str = "avg") -> None:
        super().__init__()

        def block(cin: int, cout: int, pool: tuple[int, int]) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(pool)]

        self.cnn = nn.Sequential(*block(1, 8, (2, 2)), *block(8, 16, (2, 2)), *block(16, 16, (2, 1)))
        self.pool = nn.AdaptiveAvgPool2d((1, None)) if pooling == "avg" else nn.AdaptiveMaxPool2d((1, None))
        self.rnn = nn.LSTM(16, 12, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(24, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.pool(self.cnn(x)).squeeze(2).permute(0, 2, 1)  # (B, W', C)
        out, _ = self.rnn(features)
        return self.fc(out)


@pytest.fixture
def crnn() -> ThirdPartyCRNN:
    torch.manual_seed(0)
    model = ThirdPartyCRNN()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding them is actually tested
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_crnn_exports_with_dynamic_width_and_passes_parity(tmp_path, crnn, graph_dims):
    path = tmp_path / "crnn.onnx"
    result = export_onnx(crnn, torch.randn(1, 1, 32, 64), path, dynamic_axes={"images": {0: "batch", 3: "width"}})

    assert result.exporter == "torchscript"
    assert result.rewrites == ["pool: AdaptiveAvgPool2d((1, None)) -> mean(dim=-2, keepdim=True)"]
    assert isinstance(crnn.pool, nn.AdaptiveAvgPool2d)  # the caller's module is untouched
    assert result.rnn_nodes == {"LSTM": 2, "bidirectional": 2}
    dims = graph_dims(path)
    assert dims["images"] == ["batch", 1, 32, "width"]
    # the output time axis was found by running the module at a second width
    assert dims["logits"] == ["batch", "time", 11]

    report = check_parity(crnn, path, sizes=WIDTHS)
    assert report.passed, report.to_table()
    widths = {w for _, w in report.sizes}
    assert set(WIDTHS) <= widths
    assert report.worst()["logits"]["max_abs"] < 1e-5


@pytest.mark.filterwarnings("ignore")
def test_without_the_rewrite_torchscript_refuses_adaptive_pooling(tmp_path, crnn):
    """The trap is real: a direct TorchScript export of the same module fails on the pooling."""
    with pytest.raises(Exception, match="adaptive pooling"):
        torch.onnx.export(
            crnn,
            (torch.randn(1, 1, 32, 64),),
            str(tmp_path / "raw.onnx"),
            dynamo=False,
            input_names=["images"],
            dynamic_axes={"images": {0: "batch", 3: "width"}},
        )


def test_adaptive_max_pooling_rewrite_is_exact(tmp_path):
    torch.manual_seed(1)
    model = ThirdPartyCRNN(pooling="max").eval()
    path = tmp_path / "crnn-max.onnx"
    result = export_onnx(
        model,
        torch.randn(1, 1, 32, 48),
        path,
        ExportOptions(exporter="torchscript"),
        dynamic_axes={"images": {0: "batch", 3: "width"}},
    )
    assert result.rewrites == ["pool: AdaptiveMaxPool2d((1, None)) -> amax(dim=-2, keepdim=True)"]
    assert result.parity.passed, result.parity.to_table()


def test_non_reducing_adaptive_pooling_is_left_alone():
    from edgeseq.export.rewrites import rewrite_for_export

    model = nn.Sequential(nn.AdaptiveAvgPool2d((2, None)), nn.AdaptiveAvgPool2d(1), nn.AdaptiveAvgPool2d((None, 1)))
    rewritten, applied = rewrite_for_export(model)
    assert len(applied) == 1 and applied[0].startswith("2: AdaptiveAvgPool2d((None, 1))")
    x = torch.randn(2, 3, 5, 7)
    assert torch.equal(rewritten[2](x), x.mean(dim=-1, keepdim=True))
    assert isinstance(rewritten[0], nn.AdaptiveAvgPool2d) and isinstance(model[2], nn.AdaptiveAvgPool2d)
