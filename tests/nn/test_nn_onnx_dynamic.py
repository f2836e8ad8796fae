"""The model's declared dynamic axes survive a plain ONNX export (TorchScript path) and run at other sizes.

The full exporter (strategies, verification, metadata) is tested in tests/export; this guards the
model-side contract: only permute/flatten/slicing touch dynamic axes, no fixed-batch initial state.
"""

from __future__ import annotations

import io
import warnings

import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from edgeseq.config import PreprocessConfig  # noqa: E402
from edgeseq.nn import build_model, tiny_model_config  # noqa: E402

# Float32 differences between PyTorch and ONNX Runtime kernels; measured <= 2e-7 on these tiny models.
ATOL = 1e-5


@pytest.mark.parametrize(
    "sequencer, rnn, head, step, sizes",
    [
        ("columns", "lstm", "ctc", 1, [(32, 40), (32, 100)]),
        ("columns", "gru", "ctc", 2, [(32, 52), (32, 99)]),
        ("rows", "lstm", "last", 2, [(24, 64), (48, 64)]),
        ("rows", "rnn", "attention", 1, [(37, 64)]),
        ("channels", "gru", "mean", 1, [(32, 64)]),
    ],
)
def test_torchscript_export_keeps_declared_axes_dynamic(sequencer, rnn, head, step, sizes):
    cfg = tiny_model_config(sequencer=sequencer, rnn=rnn, head=head, step=step, num_layers=2, bidirectional=True)
    model = build_model(cfg, PreprocessConfig(height=32, width=64), 7).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and RNN batch-size notices
        torch.onnx.export(
            model,
            (torch.randn(2, 1, 32, 64),),
            buffer,
            dynamo=False,
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes={"images": model.dynamic_input_axes(), "logits": model.output_axes()},
            opset_version=17,
        )
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    declared = session.get_outputs()[0].shape
    assert declared[0] == "batch"
    if head == "ctc":
        assert declared[1] == "time"
    for batch in (1, 3):
        for h, w in sizes:
            x = torch.randn(batch, 1, h, w)
            got = session.run(None, {"images": x.numpy()})[0]
            with torch.no_grad():
                want = model(x).numpy()
            assert got.shape == want.shape
            if head == "ctc":
                assert got.shape[1] == model.sequence_shape(h, w)[0]
            assert abs(got - want).max() <= ATOL
