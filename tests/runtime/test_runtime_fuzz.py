"""Whatever array arrives, predict() returns results or raises InputError — never anything else."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from edgeseq.errors import InputError
from edgeseq.runtime import Prediction, Predictor

DTYPES = st.sampled_from([np.uint8, np.float32, np.float64, np.int16])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    array=arrays(
        DTYPES,
        array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=20),
        elements=st.integers(0, 255),
    )
)
def test_any_array_gives_results_or_input_error(tiny_classifier, array):
    predictor = _cached(tiny_classifier[0])
    try:
        result = predictor.predict(array)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    results = result if isinstance(result, list) else [result]
    assert results and all(isinstance(r, Prediction) and 0.0 <= r.score <= 1.0 for r in results)


_PREDICTORS: dict = {}


def _cached(path) -> Predictor:
    if path not in _PREDICTORS:
        _PREDICTORS[path] = Predictor(path)
    return _PREDICTORS[path]
