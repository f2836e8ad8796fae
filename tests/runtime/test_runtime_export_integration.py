"""Models written by edgeseq.export (the real exporter, every output option) run through the Predictor unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from testkit import DIGIT_LABELS

from edgeseq.runtime import Predictor
from edgeseq.runtime.preprocess import preprocess_image

# ORT vs PyTorch on the same float32 input: rounding order only (~1e-6 measured); see test_runtime_predictor.
PROB_ATOL = 1e-4


@pytest.mark.parametrize(
    ("in_graph", "probabilities"), [(False, False), (True, True)], ids=["plain", "in-graph+probabilities"]
)
def test_exported_classifier(tiny_kit, digit_pngs, in_graph, probabilities):
    torch = pytest.importorskip("torch")
    tiny = tiny_kit.for_task("classification", preprocess_in_graph=in_graph, probabilities=probabilities)
    model, pre = tiny.model, tiny.preprocess

    predictor = Predictor(tiny.onnx)
    assert predictor.metadata.preprocess["in_graph"] is in_graph
    assert ("probabilities" in predictor.output_names) is probabilities
    paths, _, pixels = digit_pngs
    results = predictor.predict(paths[:12], top_k=10)
    with torch.no_grad():
        probs = torch.softmax(model(torch.from_numpy(np.stack([preprocess_image(p, pre) for p in pixels[:12]]))), 1)
    assert [r.index for r in results] == probs.argmax(1).tolist()
    runtime = np.array([[dict(r.top_k)[label] for label in DIGIT_LABELS] for r in results])
    np.testing.assert_allclose(runtime, probs.numpy(), atol=PROB_ATOL)


def test_exported_ctc_with_dynamic_width(tiny_ctc):
    torch = pytest.importorskip("torch")
    from edgeseq.runtime.decode import ctc_greedy

    model, pre = tiny_ctc.model, tiny_ctc.preprocess
    predictor = Predictor(tiny_ctc.onnx)
    alphabet = predictor.metadata.alphabet
    rng = np.random.default_rng(0)
    # 16 high: scaled to the model's height, so every width changes, some clamped to min_width/max_width
    images = [rng.integers(0, 256, size=(16, w), dtype=np.uint8) for w in (4, 24, 40, 64, 24, 90)]
    batched = predictor.predict(images)
    assert len({preprocess_image(image, pre).shape for image in images}) >= 4  # several widths in one call

    for image, result in zip(images, batched, strict=True):
        with torch.no_grad():
            logits = model(torch.from_numpy(preprocess_image(image, pre)[None]))[0].numpy()
        assert result.text == ctc_greedy(logits, alphabet)[0]


def _tiny_variants() -> list[str]:
    try:
        from edgeseq.nn import TINY_CONFIGS
    except ImportError:  # the base install: no torch, nothing to export
        return []
    return TINY_CONFIGS.names()


@pytest.mark.parametrize("name", _tiny_variants())
def test_every_tiny_variant_runs_in_the_predictor(tiny_kit, name):
    """Every registered tiny variant (every sequencer, RNN kind, head, direction, depth and step), exported by
    the kit, gives the Predictor the same answers as PyTorch at its configured size."""
    torch = pytest.importorskip("torch")
    tiny = tiny_kit.get(name)
    predictor = Predictor(tiny.onnx, threads=1)
    pre = tiny.preprocess
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(pre.height, pre.width), dtype=np.uint8) for _ in range(3)]
    results = predictor.predict(images)
    with torch.no_grad():
        logits = tiny.model(torch.from_numpy(np.stack([preprocess_image(i, pre) for i in images]))).numpy()
    if tiny.task == "ctc":
        from edgeseq.runtime.decode import ctc_greedy

        assert [r.text for r in results] == [ctc_greedy(row, predictor.metadata.alphabet)[0] for row in logits]
    else:
        assert [r.index for r in results] == logits.argmax(1).tolist()
    np.testing.assert_allclose(predictor.run(np.stack([preprocess_image(i, pre) for i in images]))["logits"], logits,
                               atol=PROB_ATOL)  # fmt: skip
