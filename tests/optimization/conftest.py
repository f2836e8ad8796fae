"""Fixtures for the optimize tests: the kit's tiny CNN→LSTM/GRU models (``tests/conftest.py``) under the
names these tests speak of, and samples labelled by a model itself.

The kit's classifiers are 1x16x16 grayscale digits with two convolutions, a one-layer RNN (hidden 8) and a
Linear head ``head.fc``; the rows sequencer keeps batch and height dynamic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_lstm(tiny_classifier) -> Path:
    """The kit's CNN→LSTM→Linear digits classifier (``test_rows_lstm``: 10 classes, 1×16×16 input)."""
    return tiny_classifier.onnx


@pytest.fixture(scope="session")
def tiny_gru(tiny_kit) -> Path:
    """The same shape with a GRU and a mean-over-time head (``test_gru``)."""
    return tiny_kit.get("test_gru").onnx


def _samples_labelled_by(model: Path, count: int, seed: int = 0):
    """Random inputs at the model's preprocessing size, labelled with the FP32 model's own predictions
    (so FP32 scores 100%)."""
    import onnxruntime as ort

    from edgeseq.optimization.gate import decode
    from edgeseq.optimization.samples import from_arrays
    from edgeseq.runtime.metadata import ModelMetadata

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    meta = ModelMetadata.from_props(session.get_modelmeta().custom_metadata_map)
    shape = (count, 1, meta.preprocess["height"], meta.preprocess["width"])
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    logits = session.run(None, {"images": x})[0]
    return from_arrays(x, decode(list(logits), meta), source="random labelled by fp32")


@pytest.fixture(scope="session")
def labelled_by():
    """``labelled_by(model, count, seed=0)`` -> SampleSet of random inputs labelled by the model itself."""
    return _samples_labelled_by
