"""External data (docs/traps.md #20) through the Predictor: a plain weights file beside the model loads;
references that leave the model's folder are refused before ORT reads them. The checks themselves
(edgeseq.runtime.safety) are tested case by case in tests/reliability; here: that the Predictor uses them."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from edgeseq.errors import ModelFileError
from edgeseq.runtime import Predictor
from edgeseq.runtime.safety import check_model_file


def _save_external(tiny_classifier, folder, location="weights.bin", attributes=False):
    """The tiny classifier with its initializers (and with ``attributes``, Constant tensors: ORT
    cannot load those) stored in ``location``."""
    import onnx

    model = onnx.load(str(tiny_classifier.onnx))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
        convert_attribute=attributes,
    )
    if location != "weights.bin":
        proto = onnx.load(str(path), load_external_data=False)
        for tensor in _all_tensors(proto.graph):
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
        onnx.save_model(proto, str(path))
    return path


def _all_tensors(graph):
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t


def test_parser_finds_exactly_the_external_tensors_onnx_finds(tiny_classifier, tmp_path):
    import onnx

    path = _save_external(tiny_classifier, tmp_path / "ok", attributes=True)
    proto = onnx.load(str(path), load_external_data=False)
    expected = sorted(t.name for t in _all_tensors(proto.graph) if t.data_location == onnx.TensorProto.EXTERNAL)
    found = check_model_file(path).external_data
    assert expected and sorted(e.tensor for e in found) == expected
    assert {e.location for e in found} == {"weights.bin"}
    assert check_model_file(tiny_classifier.onnx).external_data == ()


def test_weights_file_beside_the_model_loads(tiny_classifier, tmp_path):
    path = _save_external(tiny_classifier, tmp_path / "ok")
    x = np.random.default_rng(0).standard_normal((2, 1, 16, 16)).astype(np.float32)
    np.testing.assert_array_equal(Predictor(path).run(x)["logits"], Predictor(tiny_classifier.onnx).run(x)["logits"])


def test_parent_directory_reference_is_refused(tiny_classifier, tmp_path):
    path = _save_external(tiny_classifier, tmp_path / "model", location="../outside.bin")
    shutil.copy(tmp_path / "model" / "weights.bin", tmp_path / "outside.bin")
    with pytest.raises(
        ModelFileError,
        match=r"external data '\.\./outside\.bin', which climbs out with '\.\.'; expected a plain file inside",
    ):
        Predictor(path)


def test_hard_link_is_refused(tiny_classifier, tmp_path):
    path = _save_external(tiny_classifier, tmp_path / "model", location="hard.bin")
    shutil.move(tmp_path / "model" / "weights.bin", tmp_path / "secret.bin")
    os.link(tmp_path / "secret.bin", tmp_path / "model" / "hard.bin")
    with pytest.raises(ModelFileError, match="a file with 2 hard links; expected a plain file inside"):
        Predictor(path)
