"""Models written by edgeseq.export.export_onnx (the real exporter) run through the Predictor unchanged."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
from runtime_testlib import ALPHABET, DIGIT_LABELS

from edgeseq.runtime import Predictor
from edgeseq.runtime.preprocess import preprocess_image

# ORT vs PyTorch on the same float32 input: rounding order only (~1e-6 measured); see test_runtime_predictor.
PROB_ATOL = 1e-4


@pytest.mark.parametrize(
    ("in_graph", "probabilities"), [(False, False), (True, True)], ids=["plain", "in-graph+probabilities"]
)
def test_exported_classifier(tmp_path, digit_pngs, in_graph, probabilities):
    torch = pytest.importorskip("torch")
    from edgeseq.config import PreprocessConfig
    from edgeseq.export import ExportOptions, export_onnx
    from edgeseq.nn import build_model, tiny_model_config
    from edgeseq.runtime.metadata import ModelMetadata

    torch.manual_seed(0)
    pre = PreprocessConfig(height=16, width=16)
    model = build_model(tiny_model_config(), pre, 10).eval()
    meta = ModelMetadata(task="classification", labels=DIGIT_LABELS, preprocess=asdict(pre))
    options = ExportOptions(preprocess_in_graph=in_graph, probabilities=probabilities)
    path = tmp_path / "exported.onnx"
    export_onnx(model, torch.zeros(2, 1, 16, 16), path, options, meta)

    predictor = Predictor(path)
    assert predictor.metadata.preprocess["in_graph"] is in_graph
    paths, _, pixels = digit_pngs
    results = predictor.predict(paths[:12], top_k=10)
    with torch.no_grad():
        probs = torch.softmax(model(torch.from_numpy(np.stack([preprocess_image(p, pre) for p in pixels[:12]]))), 1)
    assert [r.index for r in results] == probs.argmax(1).tolist()
    runtime = np.array([[dict(r.top_k)[label] for label in DIGIT_LABELS] for r in results])
    np.testing.assert_allclose(runtime, probs.numpy(), atol=PROB_ATOL)


def test_exported_ctc_with_dynamic_width(tmp_path):
    torch = pytest.importorskip("torch")
    from edgeseq.config import PreprocessConfig
    from edgeseq.export import export_onnx
    from edgeseq.nn import build_model, tiny_model_config
    from edgeseq.runtime.metadata import ModelMetadata

    torch.manual_seed(1)
    pre = PreprocessConfig(height=16, width=32, resize="height", min_width=8, max_width=64)
    model = build_model(tiny_model_config(sequencer="columns", head="ctc"), pre, len(ALPHABET) + 1).eval()
    meta = ModelMetadata(task="ctc", alphabet=ALPHABET, preprocess=asdict(pre))
    path = tmp_path / "ctc.onnx"
    export_onnx(model, torch.zeros(2, 1, 16, 32), path, metadata=meta)

    predictor = Predictor(path)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(16, w), dtype=np.uint8) for w in (8, 24, 40, 64, 24)]
    batched = predictor.predict(images)
    from edgeseq.runtime.decode import ctc_greedy

    for image, result in zip(images, batched, strict=True):
        with torch.no_grad():
            logits = model(torch.from_numpy(preprocess_image(image, pre)[None]))[0].numpy()
        assert result.text == ctc_greedy(logits, ALPHABET)[0]
