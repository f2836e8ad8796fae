"""Fuzz: the edgeseq metadata an ONNX file carries, field by field (issue 20's fuzz tier).

The preprocessing numbers (``edgeseq.preprocess``: mean, std, sizes) are fuzzed by the preprocessing
spec's own tests; here every other field takes random JSON, or text that is not JSON at all.

Classes and expected outcomes, for the shipped digits model (10 classes):

* not JSON, or JSON of the wrong type for the field -> the Predictor loads as a plain model and
  ``predict`` raises ``InputError`` naming ``edgeseq.<field>``;
* ``task`` other than "classification"/"ctc" -> the same, naming ``edgeseq.task``;
* ``labels`` as a list of strings: 10 of them -> accepted, the prediction is one of them; any other
  count -> ``ModelFileError`` when the Predictor is made (the graph has 10 classes);
* record-only fields (version, metrics, model, exporter, source_sha256) of the right type -> accepted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fuzz_settings import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from edgeseq.errors import InputError, ModelFileError
from edgeseq.runtime import Predictor, reference_model
from edgeseq.runtime.metadata import FIELD_TYPES

onnx = pytest.importorskip("onnx")

FIELDS = ["task", "labels", "version", "metrics", "model", "exporter", "source_sha256", "blank_index"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)
DIGIT = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4


@pytest.fixture(scope="module")
def base_model():
    return onnx.load(str(reference_model()))


def _with(base_model, tmp_path: Path, key: str, raw: str) -> Path:
    model = type(base_model)()
    model.CopyFrom(base_model)
    for prop in model.metadata_props:
        if prop.key == f"edgeseq.{key}":
            prop.value = raw
            break
    else:
        model.metadata_props.add(key=f"edgeseq.{key}", value=raw)
    folder = tmp_path / "m"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    onnx.save(model, str(folder / "model.onnx"))
    return folder / "model.onnx"


@st.composite
def field_values(draw) -> tuple[str, str, object]:
    key = draw(st.sampled_from(FIELDS))
    if draw(st.integers(0, 5)) == 0:
        return key, draw(st.text(max_size=10).filter(lambda t: not _is_json(t))), None
    if key == "labels" and draw(st.booleans()):
        value: object = draw(st.lists(st.text(min_size=1, max_size=4), min_size=0, max_size=12))
    elif key == "task" and draw(st.booleans()):
        value = draw(st.sampled_from(["classification", "ctc", "regression", ""]))
    else:
        value = draw(JSON)
    return key, json.dumps(value), value


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@FUZZ
@given(case=field_values())
def test_each_metadata_field_is_accepted_or_refused_by_class(base_model, tmp_path: Path, case) -> None:
    key, raw, value = case
    path = _with(base_model, tmp_path, key, raw)
    well_typed = _is_json(raw) and FIELD_TYPES[key][0](value)
    if not well_typed or (key == "task" and value not in ("classification", "ctc")):
        predictor = Predictor(path, threads=1)
        with pytest.raises(InputError, match=rf"needs edgeseq metadata .*edgeseq\.{key}"):
            predictor.predict(DIGIT)
        return
    if key == "task" and value == "ctc":  # the digits model has no alphabet: its metadata contradicts it
        with pytest.raises(ModelFileError, match="alphabet"):
            Predictor(path, threads=1)
        return
    if key == "labels" and len(value) != 10:
        with pytest.raises(ModelFileError, match="edgeseq.labels is empty|has 10 classes; expected"):
            Predictor(path, threads=1)
        return
    result = Predictor(path, threads=1).predict(DIGIT)
    labels = value if key == "labels" else [str(d) for d in range(10)]
    assert result.label in labels and 0.0 <= result.score <= 1.0
