"""Predictor: inputs of every accepted kind, batching, classification and CTC results, raw run()."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgeseq.runtime import Prediction, Predictor, TextPrediction
from edgeseq.runtime.preprocess import preprocess_image

# ORT's CPU kernels vs PyTorch's on a tiny fp32 CNN+LSTM: differences are rounding order only
# (measured ~1e-6); 1e-4 leaves room across CPUs without hiding a real mismatch (those are >1e-2).
LOGIT_ATOL = 1e-4


def _torch_logits(model, batch: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(batch)).numpy()


def test_classification_matches_torch_for_every_input_kind(tiny_classifier, digit_pngs):
    path, model, pre = tiny_classifier.onnx, tiny_classifier.model, tiny_classifier.preprocess
    paths, _, pixels = digit_pngs
    predictor = Predictor(path)
    batch = np.stack([preprocess_image(p, pre) for p in pixels[:6]])
    probs = _softmax(_torch_logits(model, batch))
    expected = probs.argmax(1)

    kinds = {
        "paths": [str(p) for p in paths[:6]],
        "pathlib": list(paths[:6]),
        "pil": [Image.open(p) for p in paths[:6]],
        "uint8 HxW": list(pixels[:6]),
        "uint8 HxWx1": [p[:, :, None] for p in pixels[:6]],
        "uint8 NHWC": pixels[:6][:, :, :, None],
        "float NCHW": batch,
    }
    for kind, inputs in kinds.items():
        results = predictor.predict(inputs, top_k=3)
        assert isinstance(results, list) and len(results) == 6, kind
        assert all(isinstance(r, Prediction) for r in results), kind
        assert [r.index for r in results] == expected.tolist(), kind
        assert [r.label for r in results] == [str(i) for i in expected], kind
        np.testing.assert_allclose([r.score for r in results], probs.max(1), atol=LOGIT_ATOL, err_msg=kind)


def test_single_image_gives_one_result_and_top_k_is_sorted(tiny_classifier, digit_pngs):
    path, model, pre = tiny_classifier.onnx, tiny_classifier.model, tiny_classifier.preprocess
    paths, _, pixels = digit_pngs
    predictor = Predictor(path)
    result = predictor.predict(paths[0], top_k=4)
    assert isinstance(result, Prediction)
    probs = _softmax(_torch_logits(model, preprocess_image(pixels[0], pre)[None]))[0]
    order = np.argsort(-probs)[:4]
    assert [label for label, _ in result.top_k] == [str(i) for i in order]
    scores = [score for _, score in result.top_k]
    assert scores == sorted(scores, reverse=True)
    assert result.top_k[0] == (result.label, result.score)
    assert len(predictor.predict(paths[0], top_k=50).top_k) == 10  # clipped to the number of classes
    assert result.to_json()["top_k"][0] == {"label": result.label, "score": result.score}


def test_batch_size_does_not_change_results(tiny_classifier, digit_pngs):
    path = tiny_classifier.onnx
    paths, _, _ = digit_pngs
    one_by_one = [Predictor(path, batch_size=1).predict(p) for p in paths[:9]]
    batched = Predictor(path, batch_size=4).predict(paths[:9])
    assert [r.index for r in batched] == [r.index for r in one_by_one]
    np.testing.assert_allclose([r.score for r in batched], [r.score for r in one_by_one], atol=LOGIT_ATOL)


def test_in_graph_preprocessing_model_gets_uint8_pixels(in_graph_classifier, tiny_classifier, digit_pngs):
    paths, _, pixels = digit_pngs
    in_graph = Predictor(in_graph_classifier.onnx)
    float_model = Predictor(tiny_classifier.onnx)
    assert in_graph.preprocess(paths[0]).dtype == np.uint8
    assert in_graph.preprocess(paths[0]).shape == (1, 16, 16, 1)
    a = in_graph.predict(list(pixels[:8]))
    b = float_model.predict(list(pixels[:8]))
    assert [r.index for r in a] == [r.index for r in b]
    np.testing.assert_allclose([r.score for r in a], [r.score for r in b], atol=LOGIT_ATOL)


def _greedy(logits: np.ndarray) -> str:
    """Reference CTC best path: argmax, collapse repeats, drop blank (0)."""
    best = logits.argmax(-1)
    keep = [c for i, c in enumerate(best) if c != 0 and (i == 0 or c != best[i - 1])]
    return "".join("0123456789"[c - 1] for c in keep)


def test_ctc_variable_widths_batched_equal_one_by_one_and_torch(tiny_ctc):
    path, model, pre = tiny_ctc.onnx, tiny_ctc.model, tiny_ctc.preprocess
    rng = np.random.default_rng(0)
    # widths after resizing to height 32: 16, 32, 40, 64, 32, 128 (clamped from 200), 16: several groups, no padding
    images = [rng.integers(0, 256, size=(16, w), dtype=np.uint8) for w in (8, 16, 20, 32, 16, 100, 8)]
    predictor = Predictor(path, batch_size=8)
    batched = predictor.predict(images)
    assert all(isinstance(r, TextPrediction) for r in batched)
    for image, result in zip(images, batched, strict=True):
        alone = predictor.predict(image)
        logits = _torch_logits(model, preprocess_image(image, pre)[None])[0]
        assert result.text == alone.text == _greedy(logits)
        assert len(result.char_confidences) == len(result.text)
        assert all(0.0 < c <= 1.0 for c in result.char_confidences)
        if result.text:
            assert result.confidence == min(result.char_confidences)
        np.testing.assert_allclose(result.char_confidences, alone.char_confidences, atol=LOGIT_ATOL)


def test_ctc_preprocess_refuses_mixed_widths(tiny_ctc):
    from edgeseq.errors import InputError

    predictor = Predictor(tiny_ctc.onnx)
    images = [np.zeros((16, 16), np.uint8), np.zeros((16, 32), np.uint8)]
    with pytest.raises(InputError, match="different preprocessed shapes"):
        predictor.preprocess(images)
    assert predictor.preprocess(images[:1]).shape == (1, 1, 32, 32)  # scaled to the model's height 32


def test_raw_run_works_without_metadata_and_predict_says_what_is_missing(raw_model, tiny_classifier):
    from edgeseq.errors import InputError

    predictor = Predictor(raw_model)
    assert predictor.metadata is None and predictor.task is None
    x = np.zeros((3, 1, 16, 16), np.float32)
    out = predictor.run(x)
    assert list(out) == ["logits"] and out["logits"].shape == (3, 10)
    reference = Predictor(tiny_classifier.onnx).run({"images": x})["logits"]
    np.testing.assert_array_equal(out["logits"], reference)
    with pytest.raises(InputError, match=r"needs edgeseq metadata .*edgeseq\.task.*run\(\)"):
        predictor.predict(np.zeros((8, 8), np.uint8))


def test_describes_itself(tiny_classifier):
    predictor = Predictor(tiny_classifier.onnx, threads=1)
    assert predictor.providers == ("CPUExecutionProvider",)
    # rows sequencer: batch and height are dynamic, the width is fixed
    assert predictor.input_name == "images" and predictor.input_shape == (None, 1, None, 16)
    assert predictor.labels == [str(d) for d in range(10)] and predictor.task == "classification"
    assert "threads=1" in repr(predictor)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)
