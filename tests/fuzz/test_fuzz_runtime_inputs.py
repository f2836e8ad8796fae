"""Fuzz: arrays of any dtype, rank, size and content into ``Predictor.run`` and ``Predictor.predict``.

Input classes and their expected outcomes (the shipped digits model: input ``images`` float32
``[batch, 1, height, 32]``, two 2x2 max-pools, so a height below 4 leaves no row to read):

* run(): float32, rank 4, 1 channel, width 32, height >= 4, batch >= 1, finite -> accepted: logits
  ``(batch, 10)``, finite, equal to running each sample alone. Anything else -> ``InputError``.
* predict(): uint8 HxW or HxWxC (C in 1, 3, 4), or an NHWC uint8 batch, non-empty -> accepted: one
  ``Prediction`` per image with a digit label and a score in [0, 1]; float32 NCHW batches follow run()'s
  rule; every other dtype, rank or channel count -> ``InputError``.
"""

from __future__ import annotations

import numpy as np
import pytest
from fuzz_settings import FUZZ
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edgeseq.errors import InputError
from edgeseq.runtime import Predictor, reference_model
from edgeseq.runtime.results import Prediction

DTYPES = [np.float32, np.float64, np.float16, np.uint8, np.int8, np.int64, np.bool_]
MIN_HEIGHT = 4


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor(reference_model(), threads=1, memory_limit="256M")


def _shapes(rank: int) -> st.SearchStrategy:
    return st.lists(st.integers(0, 40), min_size=rank, max_size=rank).map(tuple)


def _run_accepts(x: np.ndarray) -> bool:
    return (
        x.dtype == np.float32
        and x.ndim == 4
        and x.shape[0] >= 1
        and x.shape[1] == 1
        and x.shape[2] >= MIN_HEIGHT
        and x.shape[3] == 32
        and bool(np.isfinite(x).all())
    )


@st.composite
def model_inputs(draw) -> np.ndarray:
    """Mostly near-legal float batches (the interesting edge), plus anything else."""
    if draw(st.booleans()):
        shape = (
            draw(st.integers(0, 5)),
            draw(st.sampled_from([1, 1, 3])),
            draw(st.integers(0, 40)),
            draw(st.sampled_from([32, 32, 31, 33])),
        )
        dtype = draw(st.sampled_from([np.float32, np.float32, np.float64]))
    else:
        shape = draw(st.integers(0, 5).flatmap(_shapes))
        dtype = draw(st.sampled_from(DTYPES))
    elements = {np.float32: st.floats(-1e6, 1e6, width=32), np.float16: st.floats(-6e4, 6e4, width=16)}.get(dtype)
    values = arrays(dtype, shape, elements=elements) if elements is not None else arrays(dtype, shape)
    x = draw(values)
    if x.size and dtype == np.float32 and draw(st.integers(0, 4)) == 0:
        x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return x


@FUZZ
@given(x=model_inputs())
def test_run_accepts_exactly_the_legal_inputs(predictor: Predictor, x: np.ndarray) -> None:
    if _run_accepts(x):
        logits = predictor.run(x)["logits"]
        assert logits.shape == (x.shape[0], 10) and np.isfinite(logits).all()
        one = predictor.run(x[:1])["logits"]
        np.testing.assert_allclose(logits[:1], one, rtol=1e-4, atol=1e-4)  # batching changes no answer
    else:
        with pytest.raises(InputError) as info:
            predictor.run(x)
        assert "\n" not in str(info.value)


@st.composite
def images(draw) -> np.ndarray:
    kind = draw(st.sampled_from(["gray", "color", "batch", "float", "other"]))
    h, w = draw(st.integers(0, 24)), draw(st.integers(0, 24))
    if kind == "gray":
        return draw(arrays(np.uint8, (h, w)))
    if kind == "color":
        return draw(arrays(np.uint8, (h, w, draw(st.sampled_from([1, 2, 3, 4, 5])))))
    if kind == "batch":
        return draw(arrays(np.uint8, (draw(st.integers(0, 3)), h, w, draw(st.sampled_from([1, 3, 4])))))
    if kind == "float":
        return draw(model_inputs())
    return draw(arrays(draw(st.sampled_from([np.int16, np.float64, np.bool_])), (h, w)))


def _predict_accepts(x: np.ndarray) -> bool:
    if x.dtype == np.uint8:
        if x.ndim == 2:
            return x.size > 0
        if x.ndim == 3:
            return x.size > 0 and x.shape[2] in (1, 3, 4)
        if x.ndim == 4:
            return x.size > 0 and x.shape[3] in (1, 3, 4)
        return False
    return _run_accepts(x)


@FUZZ
@given(x=images())
def test_predict_accepts_exactly_the_legal_images(predictor: Predictor, x: np.ndarray) -> None:
    if _predict_accepts(x):
        result = predictor.predict(x)
        results = result if isinstance(result, list) else [result]
        assert len(results) == (x.shape[0] if x.ndim == 4 else 1)
        for r in results:
            assert isinstance(r, Prediction) and r.label in [str(d) for d in range(10)] and 0.0 <= r.score <= 1.0
    else:
        with pytest.raises(InputError):
            predictor.predict(x)
