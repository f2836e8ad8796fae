"""Fuzz: ORT-format files with bytes changed, through the Predictor (issue 20: one such file killed the process).

The graph of an ``.ort`` file cannot be estimated here, so ``Predictor(isolate="auto")`` opens and runs
it first in a child process capped at the memory limit. Classes and expected outcomes:

* the flatbuffer's file identifier (bytes 4-8) changed -> not an ORT file, not ONNX either:
  ``ModelFileError`` before any session is made;
* any other bytes changed -> this process survives; the Predictor is refused with a ``ModelFileError``
  or ``ResourceLimitError`` (the child failed, crashed or ran out of its memory), or it is made and
  ``predict`` gives a digit with a score in [0, 1] or raises ``InputError``/``InferenceError``. What a
  flipped byte means to ONNX Runtime is not this oracle's to know; that it ends as one of these is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fuzz_settings import FUZZ
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeseq.errors import InferenceError, InputError, ModelFileError, ResourceLimitError
from edgeseq.runtime import Predictor, reference_model
from edgeseq.runtime.results import Prediction

DIGIT = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4


@pytest.fixture(scope="module")
def ort_file(tmp_path_factory) -> Path:
    from edgeseq.optimization.variants.ort_format import convert_to_ort

    dst = tmp_path_factory.mktemp("ort") / "digits.ort"
    convert_to_ort(reference_model(), dst)
    return dst


def _flip(data: bytes, changes: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for at, value in changes:
        out[at % len(out)] = value
    return bytes(out)


@pytest.mark.slow
@settings(FUZZ, max_examples=8)  # each example starts a child process: ~2 s
@given(
    changes=st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=4),
    header=st.booleans(),
)
def test_changed_ort_files_end_in_a_typed_error_or_a_prediction(
    ort_file: Path, tmp_path_factory, changes, header
) -> None:
    if header:
        changes = [(4, 0), *changes]  # the identifier "ORTM" no longer says ORT
    path = tmp_path_factory.mktemp("fuzzed") / "model.ort"
    data = _flip(ort_file.read_bytes(), changes)
    path.write_bytes(data)
    if data[4:8] != b"ORTM":
        with pytest.raises(ModelFileError):
            Predictor(path, threads=1, memory_limit="512M")
        return
    try:
        predictor = Predictor(path, threads=1, memory_limit="512M")
    except (ModelFileError, ResourceLimitError):
        return
    assert predictor.isolated  # an .ort file is never opened here first
    try:
        result = predictor.predict(DIGIT)
    except (InputError, InferenceError):
        return
    assert isinstance(result, Prediction) and 0.0 <= result.score <= 1.0
