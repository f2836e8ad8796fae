"""A metadata value of the wrong JSON type is one ModelFileError naming the key, not a crash later.

Reproduced before the fix: ``edgeseq.preprocess = 5`` raised AttributeError while building a
Predictor, and ``edgeseq.blank_index = "x"`` on the CRNN model a TypeError inside predict().
"""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
from testkit import DIGIT_LABELS, REPO

from edgeseq.errors import InputError, ModelFileError
from edgeseq.runtime import Predictor
from edgeseq.runtime.metadata import FIELD_TYPES, NESTED_TYPES, InputSpec, ModelMetadata, OutputSpec

DIGITS_MODEL = REPO / "models" / "digits-rows-lstm.onnx"
CRNN_MODEL = REPO / "models" / "crnn-textline.onnx"

# (key, bad value, JSON type named in the message); "input.name" style keys sit inside an object field.
BAD_VALUES = [
    ("preprocess", 5, "integer"),
    ("preprocess", [1, 2], "array"),
    ("blank_index", "x", "string"),
    ("blank_index", True, "boolean"),  # JSON true is not an index, though Python's bool is an int
    ("blank_index", 1.5, "number"),
    ("labels", "0123456789", "string"),
    ("labels", [0, 1, 2], "array"),
    ("alphabet", 5, "integer"),
    ("alphabet", ["a", "b"], "array"),
    ("task", 5, "integer"),
    ("input", "images", "string"),
    ("outputs", None, "null"),
    ("version", 1, "integer"),
    ("format_version", "1", "string"),
    ("source_sha256", None, "null"),
    ("metrics", [], "array"),
    ("model", "smallcnn", "string"),
    ("exporter", 3, "integer"),
    ("input.name", 5, "integer"),
    ("input.dynamic_axes", {"0": 1}, "object"),
    ("input.dynamic_axes", ["batch"], "array"),
    ("outputs.logits", None, "null"),
    ("outputs.probabilities", 1, "integer"),
]


def _props_with(props: dict[str, str], key: str, value) -> dict[str, str]:
    """``props`` with ``edgeseq.<key>`` (or a field of the object ``edgeseq.<field>``) set to ``value``."""
    field, _, inner = key.partition(".")
    if inner:
        obj = json.loads(props[f"edgeseq.{field}"])
        value = {**obj, inner: value}
    return {**props, f"edgeseq.{field}": json.dumps(value)}


def _valid_props() -> dict[str, str]:
    return ModelMetadata(
        task="classification", labels=DIGIT_LABELS, preprocess={"height": 8, "width": 8}, version="test"
    ).to_props()


def _message(key: str, json_type: str) -> str:
    return rf"^edgeseq\.{re.escape(key)}: got {json_type} .*; expected "


@pytest.mark.parametrize("key, value, json_type", BAD_VALUES)
def test_from_props_names_the_key_of_a_wrongly_typed_value(key, value, json_type):
    with pytest.raises(ModelFileError, match=_message(key, json_type)) as info:
        ModelMetadata.from_props(_props_with(_valid_props(), key, value))
    assert "\n" not in str(info.value)


def test_the_type_table_covers_every_field():
    # A field missing from the table would be a KeyError inside from_props.
    assert set(FIELD_TYPES) == {f.name for f in dataclasses.fields(ModelMetadata)}
    assert set(NESTED_TYPES["input"]) == {f.name for f in dataclasses.fields(InputSpec)}
    assert set(NESTED_TYPES["outputs"]) == {f.name for f in dataclasses.fields(OutputSpec)}


def test_well_typed_values_still_parse():
    props = ModelMetadata(
        task="ctc",
        alphabet="abc",
        blank_index=0,
        outputs=OutputSpec(logits="logits", probabilities=None),  # null is allowed here
    ).to_props()
    assert ModelMetadata.from_props(props).outputs.probabilities is None
    shown = ModelMetadata.from_props({**props, "edgeseq.outputs": json.dumps({"probabilities": "probs"})})
    assert shown.outputs.probabilities == "probs"
    assert ModelMetadata.from_props({**props, "edgeseq.labels": "[]"}).labels == []


def test_a_long_bad_value_is_cut_short_in_the_message():
    with pytest.raises(ModelFileError) as info:
        ModelMetadata.from_props(_props_with(_valid_props(), "labels", list(range(1000))))
    assert len(str(info.value)) < 200


def _model_with(tmp_path, source, key: str, value):
    """A copy of ``source`` (without its manifest) whose metadata has ``key`` set to ``value``."""
    import onnx

    model = onnx.load(str(source))
    props = _props_with({p.key: p.value for p in model.metadata_props}, key, value)
    del model.metadata_props[:]
    for k, v in props.items():
        model.metadata_props.add(key=k, value=v)
    path = tmp_path / source.name
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("key, value, json_type", BAD_VALUES)
def test_predictor_reports_the_key_instead_of_crashing(tmp_path, key, value, json_type):
    if not DIGITS_MODEL.is_file():
        pytest.skip(f"the shipped model {DIGITS_MODEL} is not built")
    predictor = Predictor(_model_with(tmp_path, DIGITS_MODEL, key, value))
    # Like unreadable metadata (tests/runtime/test_runtime_errors.py), run() still works and predict()
    # names the key: a typed one-line error, never an internal one.
    with pytest.raises(InputError, match=rf"edgeseq\.{re.escape(key)}: got {json_type} "):
        predictor.predict(np.zeros((8, 8), np.uint8))


def test_crnn_with_a_string_blank_index_fails_clearly(tmp_path):
    # The reviewer's second reproduction: a TypeError deep inside CTC decoding.
    if not CRNN_MODEL.is_file():
        pytest.skip(f"the shipped model {CRNN_MODEL} is not built")
    predictor = Predictor(_model_with(tmp_path, CRNN_MODEL, "blank_index", "x"))
    assert predictor.metadata is None
    with pytest.raises(InputError, match=r'edgeseq\.blank_index: got string "x"; expected an integer'):
        predictor.predict(np.zeros((32, 96), np.uint8))
