"""Bad runtime input: whatever a camera, an upload or a caller's bug hands to a Predictor, the answer is a
valid result or an EdgeseqError whose one-line message says what was expected; nothing else escapes.

Property-based (hypothesis) over array ranks 0-5, dtypes, sizes (0 included), NaN/Inf and container
types, for predict() and run(): every generated input has its stated outcome (``predictor_oracle``: refused
with an InputError saying why, or accepted with results of the right number, shape and dtype), so a
wrong acceptance fails as surely as a crash. Then files: not images, truncated PNG/JPEG at many cut
points, a decompression bomb, folders, FIFOs, and every PIL mode.
"""

from __future__ import annotations

import io
import os
import re
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from predictor_oracle import Accepted, Outcome, Refused, predict_outcome, run_outcome
from reliability_testlib import tally

from edgeseq.errors import EdgeseqError, InputError
from edgeseq.runtime import Predictor
from edgeseq.runtime.results import Prediction

DTYPES = [np.uint8, np.int16, np.int64, np.float16, np.float32, np.float64, np.bool_, np.complex64]
# Enough examples to hit every dtype x rank pair several times; each call is well under a millisecond.
EXAMPLES = 300


@pytest.fixture(scope="module")
def predictor(tiny_model):
    return Predictor(tiny_model, providers="cpu", threads=1)


def _outcome(kind: str, call, *args, **kwargs):
    """Run ``call``; a result or an EdgeseqError naming what was expected pass, anything else fails the test."""
    try:
        result = call(*args, **kwargs)
    except EdgeseqError as exc:
        message = str(exc)
        # "expected ..." names what would have been accepted; "not found" and "exceeds limit of N" say it too
        assert "\n" not in message and any(w in message for w in ("expect", "not found", "limit")), message
        tally(kind, "rejected")
        return exc
    except Exception as exc:  # noqa: BLE001 - the point: count and fail on anything that is not ours
        tally(kind, "crash")
        raise AssertionError(f"{kind}: {type(exc).__name__} escaped: {exc}") from exc
    tally(kind, "accepted")
    return result


def _check_predictions(result, count: int | None = None) -> None:
    """A valid classification result: one Prediction (``count`` None) or a list of ``count`` of them."""
    if count is None:
        assert isinstance(result, Prediction), type(result)
        items = [result]
    else:
        assert isinstance(result, list) and len(result) == count, result
        items = result
    for item in items:
        assert isinstance(item, Prediction) and item.label in "0123456789" and item.label == str(item.index)
        assert 0.0 <= item.score <= 1.0 and item.top_k[0] == (item.label, item.score)
        scores = [score for _, score in item.top_k]
        assert len(scores) == 5 and scores == sorted(scores, reverse=True)  # the default top_k=5


def _expect(kind: str, expected: Outcome, call, *args, **kwargs):
    """Run ``call`` and hold it to ``expected``: the stated InputError, or an accepted call (result returned)."""
    result = _outcome(kind, call, *args, **kwargs)
    if isinstance(expected, Refused):
        assert isinstance(result, InputError), (
            f"{kind}: expected InputError matching {expected.match!r}, got {result!r}"
        )
        assert re.search(expected.match, str(result)), (expected.match, str(result))
    else:
        assert not isinstance(result, EdgeseqError), f"{kind}: expected a result, got {result!r}"
    return result


def _arrays():
    """Arrays of rank 0-5 and assorted dtypes; dims 0-20 (0 = empty), floats with NaN/Inf."""
    shapes = hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=20)
    return st.sampled_from(DTYPES).flatmap(
        lambda dt: hnp.arrays(
            dtype=dt,
            shape=shapes,
            elements=hnp.from_dtype(np.dtype(dt), allow_nan=True, allow_infinity=True)
            if np.dtype(dt).kind in "fc"
            else None,
        )
    )


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array=_arrays())
@example(array=np.zeros((2, 1, 16, 16), np.float32))
@example(array=np.zeros((2, 1, 40, 16), np.float32))  # any height: rows is the model's dynamic axis
@example(array=np.zeros((2, 8, 8), np.uint8))
@example(array=np.zeros((3, 8, 8, 4), np.uint8))
def test_predict_any_array(predictor, array):
    expected = predict_outcome(array, predictor.input_shape)
    result = _expect("runtime: predict(array of any rank/dtype)", expected, predictor.predict, array)
    if isinstance(expected, Accepted):
        _check_predictions(result, expected.count)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array=_arrays())
@example(array=np.zeros((2, 1, 16, 16), np.float32))
@example(array=np.zeros((1, 1, 40, 16), np.float32))
@example(array=np.zeros((1, 1, 16, 40), np.float32))
def test_run_any_array(predictor, array):
    expected = run_outcome(array, predictor.input_shape)
    result = _expect("runtime: run(array of any rank/dtype)", expected, predictor.run, array)
    if isinstance(expected, Accepted):
        assert list(result) == ["logits"]
        assert result["logits"].shape == (expected.count, 10) and result["logits"].dtype == np.float32


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batch=st.integers(1, 9),
    channels=st.integers(1, 4),
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    poison=st.sampled_from([None, np.nan, np.inf, -np.inf]),
)
@example(batch=3, channels=1, height=16, width=16, poison=None)
@example(batch=1, channels=1, height=24, width=16, poison=None)
@example(batch=2, channels=1, height=16, width=24, poison=None)
def test_float_batches_of_any_geometry(predictor, batch, channels, height, width, poison):
    """Already preprocessed NCHW float32 batches: wrong channels, sizes the graph refuses, NaN/Inf.

    The graph's width is fixed (16) and its height is not (the rows sequencer's axis): one channel,
    finite values and width 16 are accepted at any height; anything else is refused, saying which.
    """
    x = np.zeros((batch, channels, height, width), np.float32)
    if poison is not None:
        x[-1, 0, 0, -1] = poison
    expected: Outcome
    if channels != 1:
        expected = Refused(rf"got {channels} channels .*expected 1 for color='L'")
    elif poison is not None:
        expected = Refused(r"got NaN or Inf values; expected finite numbers")
    elif width != 16:
        expected = Refused(rf"got an image of shape \(1, {height}, {width}\) .*expected \(1, '\?', 16\)")
    else:
        expected = Accepted(batch)
    assert type(predict_outcome(x, predictor.input_shape)) is type(expected)  # the oracle agrees
    result = _expect("runtime: float NCHW batch (channels/size/NaN/Inf)", expected, predictor.predict, x)
    if isinstance(expected, Accepted):
        _check_predictions(result, batch)


# (value, what predict() must do with it)
EXPECTED_ACTUAL = r"got {}; expected a file path, a PIL image, a uint8 HxW/HxWxC array or a float32 NCHW batch"
JUNK = [
    (None, Refused(EXPECTED_ACTUAL.format("NoneType"))),
    (0, Refused(EXPECTED_ACTUAL.format("int"))),
    (3.5, Refused(EXPECTED_ACTUAL.format("float"))),
    (b"\x89PNG", Refused(EXPECTED_ACTUAL.format("bytes"))),
    ("", Refused(r"image path is empty; expected a file path")),
    ({"images": 1}, Refused(EXPECTED_ACTUAL.format("dict"))),
    ([], Refused(r"got an empty list; expected at least one image")),
    ([None], Refused(r"list item: " + EXPECTED_ACTUAL.format("NoneType"))),
    ([np.zeros((8, 8), np.uint8), "missing.png"], Refused(r"image file 'missing.png' not found")),
    (object(), Refused(EXPECTED_ACTUAL.format("object"))),
    (np.zeros((8, 8), np.uint8).tolist(), Refused(r"list item: " + EXPECTED_ACTUAL.format("list"))),
    ((np.zeros((8, 8), np.uint8),), Accepted(1)),  # a tuple is a sequence of images: one result per image
]


@pytest.mark.parametrize(("value", "expected"), JUNK, ids=[type(v).__name__ + str(i) for i, (v, _) in enumerate(JUNK)])
def test_junk_values(predictor, value, expected):
    result = _expect("runtime: junk value (None/number/bytes/dict/nested list)", expected, predictor.predict, value)
    if isinstance(expected, Accepted):
        _check_predictions(result, expected.count)


@pytest.mark.parametrize("top_k", [0, -1, 1.5, "3", True, None])
def test_bad_top_k(predictor, top_k):
    expected = Refused(rf"top_k: got {re.escape(repr(top_k))}; expected a positive integer")
    _expect("runtime: bad top_k", expected, predictor.predict, np.zeros((8, 8), np.uint8), top_k)


def test_run_with_wrong_names_and_containers(predictor):
    good = np.zeros((1, 1, 16, 16), np.float32)
    names = r"run\(\): got inputs .*; expected exactly \['images'\]"
    cases = [
        ({"nope": good}, names),
        ({}, names),
        ({"images": good, "extra": good}, names),
        ([good], r"run\(\): got list; expected a numpy array or a dict of arrays"),
        ({"images": [[1.0]]}, r"input 'images': got list; expected a numpy array"),
        ("images", r"run\(\): got str; expected a numpy array or a dict of arrays"),
    ]
    for feeds, match in cases:
        _expect("runtime: run() wrong names/containers", Refused(match), predictor.run, feeds)


def test_empty_and_large_lists(predictor):
    """An empty batch is refused; a large one (5,000 images) runs in chunks of batch_size."""
    _expect("runtime: empty batch", Refused(r"got an empty list; expected at least one image"), predictor.predict, [])
    images = list(np.random.default_rng(0).integers(0, 256, size=(5000, 8, 8), dtype=np.uint8))
    _check_predictions(_expect("runtime: huge batch (5,000 images)", Accepted(5000), predictor.predict, images), 5000)


# ------------------------------------------------------------------------------------------ files


def _png(size=(24, 24), mode="L") -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, size=size[::-1], dtype=np.uint8), mode="L").convert(mode).save(buf, "PNG")
    return buf.getvalue()


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, size=(48, 48, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize(("name", "data"), [("png", _png()), ("jpeg", _jpeg())])
def test_truncated_images_at_every_cut(predictor, tmp_path, name, data):
    """A real PNG/JPEG cut at many points: each is refused, or decodes to exactly the uncut image's result."""
    path = tmp_path / f"cut.{name}"
    path.write_bytes(data)
    whole = predictor.predict(path).to_json()
    for n in sorted({*range(0, len(data), max(1, len(data) // 60)), len(data) - 1}):
        path.write_bytes(data[:n])
        result = _outcome(f"runtime: truncated {name} file", predictor.predict, path)
        if not isinstance(result, EdgeseqError):
            # a cut after the last pixel (zlib checksum, CRC, IEND) may load: then it must be the whole image
            assert result.to_json() == whole, n


def _bomb_png(side: int = 30000) -> bytes:
    """A PNG header claiming side x side pixels (900 megapixels) with a tiny payload."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def test_bad_files(predictor, tmp_path):
    cases = {
        "text.png": b"not an image at all\n",
        "empty.png": b"",
        "model.jpg": b"\x08\x08\x3a\x00",
        "bomb.png": _bomb_png(),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "folder.png").mkdir()
    os.mkfifo(tmp_path / "fifo.png")  # opening it would block forever: must be refused without opening
    for name in [*cases, "folder.png", "fifo.png", "missing.png"]:
        error = _outcome(f"runtime: bad file ({name})", predictor.predict, tmp_path / name)
        assert isinstance(error, EdgeseqError) and name in str(error), error
        assert isinstance(_outcome("runtime: bad file as str", predictor.predict, str(tmp_path / name)), EdgeseqError)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "I", "I;16", "F"])
def test_every_pil_mode(predictor, mode):
    """Every mode Pillow converts to the model's color ("L"): one result each."""
    image = Image.new(mode, (12, 9))
    _check_predictions(_expect("runtime: PIL image of any mode", Accepted(), predictor.predict, image))


@pytest.mark.parametrize("mode", ["HSV", "LAB"])
def test_pil_modes_without_a_gray_conversion_are_refused(predictor, mode):
    """Pillow has no faithful HSV/LAB -> L conversion: refused with the modes it takes, not a wrong answer."""
    image = Image.new(mode, (12, 9))
    _expect(
        "runtime: PIL image of a colour space",
        Refused(rf"got mode '{mode}'; expected one of"),
        predictor.predict,
        image,
    )


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((1, 1), Accepted()),  # resized to the model's 16x16, however thin
        ((1, 5000), Accepted()),
        ((5000, 1), Accepted()),
        ((3, 3, 2), Refused(r"got shape \(3, 3, 2\); expected HxW or HxWxC with C in 1, 3, 4")),
        ((3, 3, 5), Refused(r"got shape \(3, 3, 5\); expected HxW or HxWxC with C in 1, 3, 4")),
        ((2, 2, 0), Refused(r"got an empty array of shape \(2, 2, 0\)")),
        ((0, 8), Refused(r"got an empty array of shape \(0, 8\)")),
    ],
)
def test_odd_pixel_arrays(predictor, shape, expected):
    array = np.full(shape, 200, np.uint8)
    assert type(predict_outcome(array, predictor.input_shape)) is type(expected)  # the oracle agrees
    result = _expect("runtime: odd uint8 image shapes", expected, predictor.predict, array)
    if isinstance(expected, Accepted):
        _check_predictions(result)
