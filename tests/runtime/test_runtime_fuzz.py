"""Whatever array arrives, predict() does what the input contract says for it: the stated InputError, or
results of the right number and type (``predictor_oracle`` states the outcome of each generated array)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from predictor_oracle import Accepted, Refused, predict_outcome

from edgeseq.errors import InputError
from edgeseq.runtime import Prediction, Predictor

DTYPES = st.sampled_from([np.uint8, np.float32, np.float64, np.int16])


@pytest.fixture(scope="module")
def predictor(tiny_classifier) -> Predictor:
    return Predictor(tiny_classifier.onnx, threads=1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    array=arrays(
        DTYPES,
        array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=20),
        elements=st.integers(0, 255),
    )
)
@example(array=np.zeros((3, 1, 7, 16), np.float32))  # accepted: any height, the graph's width
@example(array=np.zeros((3, 1, 16, 7), np.float32))  # refused: the width is fixed
@example(array=np.zeros((2, 9, 9, 3), np.uint8))  # accepted: an NHWC batch of RGB pixels
def test_any_array_gives_its_stated_outcome(predictor, array):
    expected = predict_outcome(array, predictor.input_shape)
    if isinstance(expected, Refused):
        with pytest.raises(InputError) as info:
            predictor.predict(array)
        message = str(info.value)
        assert "\n" not in message and re.search(expected.match, message), (expected.match, message)
        return
    assert isinstance(expected, Accepted)
    result = predictor.predict(array)
    if expected.count is None:
        assert isinstance(result, Prediction)
        results = [result]
    else:
        assert isinstance(result, list) and len(result) == expected.count
        results = result
    assert all(isinstance(r, Prediction) and 0.0 <= r.score <= 1.0 and r.label in predictor.labels for r in results)
