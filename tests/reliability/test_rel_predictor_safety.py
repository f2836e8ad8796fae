"""End to end: Predictor and `edgeseq predict` refuse unsafe model files before ONNX Runtime reads them.

``edgeseq.runtime.session.create_session`` runs ``check_model_file`` (opt-in domains through
``SessionConfig.allow_domains``, opt-out of the manifest check through ``verify_manifest``; the predict
verb's ``--allow-domain`` and ``--no-verify-manifest``). Without the check, the hard-link case really does
leak the outside file.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import helper
from reliability_testlib import add_graph, external_model, tally

from edgeseq.cli import main
from edgeseq.errors import ModelFileError
from edgeseq.runtime import Predictor
from edgeseq.runtime.options import SessionConfig


def _config(**fields) -> SessionConfig:
    return SessionConfig(providers="cpu", threads=1, **fields)


def test_predictor_refuses_a_hard_linked_outside_file(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.array([7.0, 8.0], np.float32).tobytes())
    (tmp_path / "m").mkdir()
    os.link(secret, tmp_path / "m" / "w.bin")
    path = external_model(tmp_path / "m", "w.bin")
    with pytest.raises(ModelFileError, match="hard links"):
        Predictor(path, config=_config())
    tally("predictor: hard-linked external data")


def _custom_domain_model(tmp_path):
    path = tmp_path / "custom.onnx"
    model = add_graph([helper.make_node("Exec", ["x"], ["y"], domain="evil.ops")], opsets=(("", 17), ("evil.ops", 1)))
    path.write_bytes(model.SerializeToString())
    return path


def test_predictor_refuses_a_custom_domain(tmp_path):
    with pytest.raises(ModelFileError, match="evil.ops"):
        Predictor(_custom_domain_model(tmp_path), config=_config())
    tally("predictor: custom operator domain")


def test_allowed_domain_passes_our_check(tmp_path):
    """Opted in, the domain check lets the file through; ONNX Runtime (no such kernel here) then refuses it."""
    with pytest.raises(ModelFileError) as info:
        Predictor(_custom_domain_model(tmp_path), config=_config(allow_domains=("evil.ops",)))
    assert "allow_domains" not in str(info.value)


def test_predictor_verifies_the_manifest(model_copy):
    model = onnx.load(str(model_copy))
    model.metadata_props.add(key="note", value="changed after export")
    model_copy.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFileError, match="sha256"):
        Predictor(model_copy, config=_config())
    tally("predictor: tampered model (manifest)")


def test_manifest_check_can_be_skipped(model_copy):
    model = onnx.load(str(model_copy))
    model.metadata_props.add(key="note", value="changed after export")
    model_copy.write_bytes(model.SerializeToString())
    predictor = Predictor(model_copy, config=_config(verify_manifest=False))
    assert predictor.predict(np.zeros((8, 8), np.uint8)).label in "0123456789"


def _tampered_and_image(model_copy, tmp_path):
    from PIL import Image

    image = tmp_path / "d.png"
    Image.new("L", (8, 8), 0).save(image)
    model = onnx.load(str(model_copy))
    model.metadata_props.add(key="note", value="changed")
    model_copy.write_bytes(model.SerializeToString())
    return image


def test_cli_predict_refuses_a_tampered_model(model_copy, tmp_path, capsys):
    image = _tampered_and_image(model_copy, tmp_path)
    assert main(["predict", str(model_copy), str(image)]) == 2
    err = capsys.readouterr().err.strip()
    assert "sha256" in err and len(err.splitlines()) == 1
    tally("cli: predict tampered model")


def test_cli_predict_opt_in_flags(model_copy, tmp_path):
    image = _tampered_and_image(model_copy, tmp_path)
    assert main(["predict", str(model_copy), str(image), "--no-verify-manifest", "--allow-domain", "x.y"]) == 0


def test_plain_model_without_metadata_or_manifest_still_loads(tmp_path):
    """The checks refuse unsafe files, not unusual ones: a bare float graph with no manifest loads."""
    path = tmp_path / "plain.onnx"
    path.write_bytes(add_graph([helper.make_node("Neg", ["x"], ["y"])]).SerializeToString())
    assert Predictor(path, config=_config()).run(np.ones(2, np.float32))["y"].tolist() == [-1.0, -1.0]
