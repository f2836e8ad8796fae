"""Fixtures for the optimize tests: tiny CNN→LSTM/GRU ONNX models with edgeseq metadata, and samples."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

H, W = 16, 16
NUM_CLASSES = 10


def _export_tiny(path: Path, rnn: str, ctc: bool = False) -> Path:
    import onnx
    import torch
    from torch import nn

    from edgeseq.runtime.metadata import ModelMetadata

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cnn = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
            )
            self.rnn = (nn.LSTM if rnn == "lstm" else nn.GRU)(16 * (H // 4), 32, batch_first=True)
            self.fc = nn.Linear(32, NUM_CLASSES + 1 if ctc else NUM_CLASSES)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = self.cnn(x)
            b, c, h, w = f.shape
            out, _ = self.rnn(f.permute(0, 3, 1, 2).reshape(b, w, c * h))
            return self.fc(out) if ctc else self.fc(out[:, -1])

    torch.manual_seed(0)
    module = Tiny().eval()
    axes = {"images": {0: "batch", 3: "width"}, "logits": {0: "batch", 1: "time"} if ctc else {0: "batch"}}
    with warnings.catch_warnings():  # TorchScript tracer chatter about RNN batch sizes
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            torch.randn(1, 1, H, W),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes=axes,
        )
    meta = ModelMetadata(
        task="ctc" if ctc else "classification",
        labels=[] if ctc else [str(i) for i in range(NUM_CLASSES)],
        alphabet="0123456789" if ctc else "",
        preprocess={"height": H, "width": W, "color": "L", "mean": [0.5], "std": [0.5], "resize": "stretch"},
    )
    model = onnx.load(str(path))
    for key, value in meta.to_props().items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_lstm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CNN→LSTM→Linear classifier (10 classes, 1×16×16 input, dynamic batch and width)."""
    return _export_tiny(tmp_path_factory.mktemp("tiny") / "lstm.onnx", "lstm")


@pytest.fixture(scope="session")
def tiny_gru(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same with a GRU."""
    return _export_tiny(tmp_path_factory.mktemp("tiny") / "gru.onnx", "gru")


@pytest.fixture(scope="session")
def tiny_ctc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CNN→LSTM CTC model over the alphabet 0-9 (11 classes per frame)."""
    return _export_tiny(tmp_path_factory.mktemp("tiny") / "ctc.onnx", "lstm", ctc=True)


def _samples_labelled_by(model: Path, count: int, seed: int = 0):
    """Random inputs labelled with the FP32 model's own predictions (so FP32 scores 100%)."""
    import onnxruntime as ort

    from edgeseq.optimization.gate import decode
    from edgeseq.optimization.samples import from_arrays
    from edgeseq.runtime.metadata import ModelMetadata

    x = np.random.default_rng(seed).standard_normal((count, 1, H, W)).astype(np.float32)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    meta = ModelMetadata.from_props(session.get_modelmeta().custom_metadata_map)
    logits = session.run(None, {"images": x})[0]
    return from_arrays(x, decode(list(logits), meta), source="random labelled by fp32")


@pytest.fixture(scope="session")
def labelled_by():
    """``labelled_by(model, count, seed=0)`` -> SampleSet of random inputs labelled by the model itself."""
    return _samples_labelled_by
