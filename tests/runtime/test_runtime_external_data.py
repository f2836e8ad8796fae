"""External data (ONNX-TRAPS #20): a plain weights file beside the model loads; references that
leave the model's folder (.., absolute, symlink, hard link) are refused before ORT reads them."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from edgeseq.errors import ModelFileError
from edgeseq.runtime import Predictor
from edgeseq.runtime.session import _external_tensors


def _save_external(tiny_classifier, folder, location="weights.bin", attributes=False):
    """The tiny classifier with its initializers (and with ``attributes``, Constant tensors: ORT
    cannot load those) stored in ``location``."""
    import onnx

    model = onnx.load(str(tiny_classifier[0]))
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
    found = _external_tensors(memoryview(path.read_bytes()))
    assert expected and sorted(name for name, _ in found) == expected
    assert {location for _, location in found} == {"weights.bin"}
    assert _external_tensors(memoryview(tiny_classifier[0].read_bytes())) == []


def test_weights_file_beside_the_model_loads(tiny_classifier, tmp_path):
    path = _save_external(tiny_classifier, tmp_path / "ok")
    x = np.random.default_rng(0).standard_normal((2, 1, 16, 16)).astype(np.float32)
    np.testing.assert_array_equal(Predictor(path).run(x)["logits"], Predictor(tiny_classifier[0]).run(x)["logits"])


def test_parent_directory_reference_is_refused(tiny_classifier, tmp_path):
    path = _save_external(tiny_classifier, tmp_path / "model", location="../outside.bin")
    shutil.copy(tmp_path / "model" / "weights.bin", tmp_path / "outside.bin")
    with pytest.raises(ModelFileError, match=r"external data '\.\./outside\.bin' .*not a relative path inside"):
        Predictor(path)


def test_absolute_reference_is_refused(tiny_classifier, tmp_path):
    target = tmp_path / "elsewhere.bin"
    path = _save_external(tiny_classifier, tmp_path / "model", location=str(target))
    shutil.copy(tmp_path / "model" / "weights.bin", target)
    with pytest.raises(ModelFileError, match="not a relative path inside"):
        Predictor(path)


def test_symlink_is_refused(tiny_classifier, tmp_path):
    path = _save_external(tiny_classifier, tmp_path / "model", location="link.bin")
    shutil.move(tmp_path / "model" / "weights.bin", tmp_path / "secret.bin")
    os.symlink(tmp_path / "secret.bin", tmp_path / "model" / "link.bin")
    with pytest.raises(ModelFileError, match="is a symlink"):
        Predictor(path)


def test_hard_link_is_refused(tiny_classifier, tmp_path):
    path = _save_external(tiny_classifier, tmp_path / "model", location="hard.bin")
    shutil.move(tmp_path / "model" / "weights.bin", tmp_path / "secret.bin")
    os.link(tmp_path / "secret.bin", tmp_path / "model" / "hard.bin")
    with pytest.raises(ModelFileError, match="is a hard link"):
        Predictor(path)


def test_missing_weights_file_is_refused(tiny_classifier, tmp_path):
    path = _save_external(tiny_classifier, tmp_path / "model")
    (tmp_path / "model" / "weights.bin").unlink()
    with pytest.raises(ModelFileError, match="'weights.bin' .*is not a file beside the model"):
        Predictor(path)
