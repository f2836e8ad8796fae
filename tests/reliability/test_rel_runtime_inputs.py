"""Bad runtime input: whatever a camera, an upload or a caller's bug hands to a Predictor, the answer is a
valid result or an EdgeseqError whose one-line message says what was expected; nothing else escapes.

Property-based (hypothesis) over array ranks 0-5, dtypes, sizes (0 included), NaN/Inf and container
types, for predict() and run(); then files: not images, truncated PNG/JPEG at many cut points, a
decompression bomb, folders, FIFOs, and every PIL mode.
"""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from reliability_testlib import tally

from edgeseq.errors import EdgeseqError
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
    items = result if isinstance(result, list) else [result]
    if count is not None:
        assert len(items) == count
    for item in items:
        assert isinstance(item, Prediction) and 0.0 <= item.score <= 1.0 and item.label in "0123456789"


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
@example(array=np.zeros((2, 8, 8), np.uint8))
def test_predict_any_array(predictor, array):
    result = _outcome("runtime: predict(array of any rank/dtype)", predictor.predict, array)
    if not isinstance(result, EdgeseqError):
        _check_predictions(result, array.shape[0] if array.ndim == 4 else None)
        assert array.dtype in (np.uint8, np.float32)
        assert array.size > 0


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array=_arrays())
@example(array=np.zeros((2, 1, 16, 16), np.float32))
@example(array=np.zeros((1, 1, 40, 16), np.float32))
def test_run_any_array(predictor, array):
    result = _outcome("runtime: run(array of any rank/dtype)", predictor.run, array)
    if not isinstance(result, EdgeseqError):
        assert array.dtype == np.float32 and array.ndim == 4 and np.isfinite(array).all()
        assert result["logits"].shape == (array.shape[0], 10)


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
def test_float_batches_of_any_geometry(predictor, batch, channels, height, width, poison):
    """Already preprocessed NCHW float32 batches: wrong channels, sizes the graph refuses, NaN/Inf."""
    x = np.zeros((batch, channels, height, width), np.float32)
    if poison is not None:
        x[-1, 0, 0, -1] = poison
    result = _outcome("runtime: float NCHW batch (channels/size/NaN/Inf)", predictor.predict, x)
    if channels != 1 or poison is not None:
        assert isinstance(result, EdgeseqError)
    elif (height, width) == (16, 16):
        _check_predictions(result, batch)
    elif not isinstance(result, EdgeseqError):  # a size the graph accepts too (dynamic axes)
        _check_predictions(result, batch)


JUNK = [
    None,
    0,
    3.5,
    b"\x89PNG",
    "",
    {"images": 1},
    [],
    [None],
    [np.zeros((8, 8), np.uint8), "missing.png"],
    object(),
    np.zeros((8, 8), np.uint8).tolist(),
    (np.zeros((8, 8), np.uint8),),
]


@pytest.mark.parametrize("value", JUNK, ids=[type(v).__name__ + str(i) for i, v in enumerate(JUNK)])
def test_junk_values(predictor, value):
    result = _outcome("runtime: junk value (None/number/bytes/dict/nested list)", predictor.predict, value)
    if not isinstance(result, EdgeseqError):  # the tuple of one valid image
        _check_predictions(result, 1)


@pytest.mark.parametrize("top_k", [0, -1, 1.5, "3", True, None])
def test_bad_top_k(predictor, top_k):
    assert isinstance(
        _outcome("runtime: bad top_k", predictor.predict, np.zeros((8, 8), np.uint8), top_k), EdgeseqError
    )


def test_run_with_wrong_names_and_containers(predictor):
    good = np.zeros((1, 1, 16, 16), np.float32)
    for feeds in ({"nope": good}, {}, {"images": good, "extra": good}, [good], {"images": [[1.0]]}, "images"):
        assert isinstance(_outcome("runtime: run() wrong names/containers", predictor.run, feeds), EdgeseqError)


def test_empty_and_large_lists(predictor):
    """An empty batch is refused; a large one (5,000 images) runs in chunks of batch_size."""
    assert isinstance(_outcome("runtime: empty batch", predictor.predict, []), EdgeseqError)
    images = list(np.random.default_rng(0).integers(0, 256, size=(5000, 8, 8), dtype=np.uint8))
    _check_predictions(_outcome("runtime: huge batch (5,000 images)", predictor.predict, images), 5000)


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


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "I", "I;16", "F", "HSV"])
def test_every_pil_mode(predictor, mode):
    image = Image.new(mode, (12, 9))
    result = _outcome("runtime: PIL image of any mode", predictor.predict, image)
    if not isinstance(result, EdgeseqError):
        _check_predictions(result, None)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5000), (5000, 1), (3, 3, 2), (3, 3, 5), (2, 2, 0), (0, 8)])
def test_odd_pixel_arrays(predictor, shape):
    result = _outcome("runtime: odd uint8 image shapes", predictor.predict, np.full(shape, 200, np.uint8))
    if not isinstance(result, EdgeseqError):
        _check_predictions(result, None)
