"""Bad models and bad inputs: each gives a typed, one-line error that names what was expected."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgeseq.errors import ConfigError, InputError, ModelFileError
from edgeseq.runtime import Predictor

# the wording belongs to edgeseq.runtime.safety; what matters here is the file, and "valid ONNX model"
_NOT_ONNX = r"model .*(is not a valid ONNX model|expected a valid ONNX model)"


@pytest.fixture(scope="module")
def predictor(tiny_classifier):
    return Predictor(tiny_classifier.onnx)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda d: d / "missing.onnx", "not found; expected an .onnx file"),
        (lambda d: d, "is not a (regular )?file; expected an .onnx file"),
        (lambda d: _write(d / "empty.onnx", b""), "is empty; expected an ONNX model"),
        (
            lambda d: _write(d / "text.onnx", b"this is not a protobuf at all\n" * 10),
            _NOT_ONNX,
        ),
        (lambda d: _write(d / "png.onnx", _png_bytes()), _NOT_ONNX),
    ],
    ids=["missing", "directory", "empty", "text", "png"],
)
def test_bad_model_files(tmp_path, make, match):
    with pytest.raises(ModelFileError, match=match) as info:
        Predictor(make(tmp_path))
    assert "\n" not in str(info.value)


def test_truncated_model_file(tmp_path, tiny_classifier):
    data = tiny_classifier.onnx.read_bytes()
    with pytest.raises(ModelFileError, match=r"model .*truncated"):
        Predictor(_write(tmp_path / "cut.onnx", data[: len(data) // 2]))


def test_metadata_that_contradicts_the_graph(tmp_path, tiny_classifier):
    import onnx

    model = onnx.load(str(tiny_classifier.onnx))
    for prop in model.metadata_props:
        if prop.key == "edgeseq.labels":
            prop.value = '["a", "b", "c"]'
    path = tmp_path / "wrong-labels.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelFileError, match=r"has 10 classes; expected 3 \(labels in the metadata\)"):
        Predictor(path)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((8, 8), np.float64), r"got dtype float64; expected float32"),
        (np.zeros((8, 8), np.int64), r"got dtype int64; expected uint8 pixels"),
        (np.zeros((1, 16, 16), np.float32), r"got shape \(1, 16, 16\); expected an NCHW batch"),
        (np.zeros((2, 3, 16, 16), np.float32), r"got 3 channels .*expected 1 for color='L'"),
        (np.zeros((2, 1, 16, 20), np.float32), r"got an image of shape \(1, 16, 20\) .*expected \(1, '\?', 16\)"),
        (np.full((1, 1, 16, 16), np.nan, np.float32), r"NaN or Inf"),
        (np.full((1, 1, 16, 16), np.inf, np.float32), r"NaN or Inf"),
        (np.zeros((0, 8), np.uint8), r"empty array"),
        (np.zeros((0, 1, 16, 16), np.float32), r"empty array"),
        (np.zeros((8, 8, 2), np.uint8), r"expected HxW or HxWxC with C in 1, 3, 4"),
        (np.zeros((2, 8, 8, 8, 1), np.uint8), r"expected HxW or HxWxC"),
        ([], r"empty list; expected at least one image"),
        (42, r"got int; expected a file path, a PIL image"),
        ([np.zeros((8, 8), np.uint8), {"x": 1}], r"list item: got dict"),
        ("no/such/image.png", r"image file 'no/such/image.png' not found"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_inputs(predictor, bad, match):
    with pytest.raises(InputError, match=match) as info:
        predictor.predict(bad)
    assert "\n" not in str(info.value)


def test_corrupt_image_file(predictor, tmp_path):
    path = _write(tmp_path / "broken.png", _png_bytes()[:40])
    with pytest.raises(InputError, match="cannot read image .*expected a PNG/JPEG"):
        predictor.predict(path)


def test_rgb_and_rgba_inputs_are_converted_like_training(predictor):
    # the spec says color="L": colour images are converted, as the training transform does
    rgb = np.zeros((8, 8, 3), np.uint8)
    assert predictor.predict(rgb).label == predictor.predict(np.zeros((8, 8), np.uint8)).label
    assert predictor.predict(Image.new("RGBA", (8, 8))).label in predictor.labels


@pytest.mark.parametrize("top_k", [0, -1, 1.5, True, "3"])
def test_bad_top_k(predictor, top_k):
    with pytest.raises(InputError, match="top_k: got .*expected a positive integer"):
        predictor.predict(np.zeros((8, 8), np.uint8), top_k=top_k)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((2, 1, 16, 16), np.float64), r"input 'images': got dtype float64; expected float32"),
        (np.zeros((1, 16, 16), np.float32), r"got shape \(1, 16, 16\); expected \('\?', 1, '\?', 16\)"),
        (np.zeros((2, 1, 16, 17), np.float32), r"got shape \(2, 1, 16, 17\)"),
        (np.zeros((0, 1, 16, 16), np.float32), r"empty array"),
        (np.full((1, 1, 16, 16), np.nan, np.float32), r"NaN or Inf"),
        ({"pixels": np.zeros((1, 1, 16, 16), np.float32)}, r"expected exactly \['images'\]"),
        ([1, 2], r"got list; expected a numpy array or a dict"),
    ],
)
def test_bad_raw_run_inputs(predictor, bad, match):
    with pytest.raises(InputError, match=match):
        predictor.run(bad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"providers": "tpu"}, r"providers: got 'tpu'; expected one of auto, cpu, cuda"),
        ({"threads": 0}, r"threads: got 0; expected an integer from 1 to"),
        ({"threads": 10_000}, r"threads: got 10000; expected an integer from 1 to"),
        ({"batch_size": 0}, r"batch_size: got 0; expected a positive integer"),
    ],
)
def test_bad_options(tiny_classifier, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Predictor(tiny_classifier.onnx, **kwargs)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _png_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("preprocess", '{"height": 0, "width": 16}', r"preprocess\.height: got 0; expected a positive integer"),
        ("preprocess", '{"width": 16}', r"preprocess\.height: got None"),
        ("preprocess", '{"height": 16, "width": 16, "color": "CMYK"}', r"preprocess\.color: got 'CMYK'"),
        ("preprocess", '{"height": 16, "width": 16, "interpolation": "cubic"}', r"interpolation: got 'cubic'"),
        (
            "preprocess",
            '{"height": 16, "width": 16, "mean": [0.5, 0.5]}',
            r"preprocess\.mean: .*expected a list of 1 number for color='L'",
        ),
        ("preprocess", '{"height": 16, "width": 16, "std": [0]}', r"preprocess\.std: got \[0\]; expected positive"),
        ("labels", "[]", r"edgeseq\.labels is empty"),
        ("task", '"detection"', r"edgeseq\.task: got 'detection'"),
        ("input", '{"name": "pixels"}', r"edgeseq\.input names 'pixels', but the graph inputs are \['images'\]"),
        ("outputs", '{"logits": "scores"}', r"edgeseq\.outputs names 'scores'"),
        ("labels", "not json", r"edgeseq\.labels: metadata value is not valid JSON"),
    ],
)
def test_broken_metadata_is_a_model_file_error(tmp_path, tiny_classifier, key, value, match):
    import onnx

    model = onnx.load(str(tiny_classifier.onnx))
    for prop in model.metadata_props:
        if prop.key == f"edgeseq.{key}":
            prop.value = value
    path = tmp_path / "broken.onnx"
    onnx.save(model, str(path))
    if "not valid JSON" in match or "task" in match:  # unreadable metadata: run() still works, predict() says why
        predictor = Predictor(path)
        with pytest.raises(InputError, match=match):
            predictor.predict(np.zeros((8, 8), np.uint8))
    else:
        with pytest.raises(ModelFileError, match=match):
            Predictor(path)
