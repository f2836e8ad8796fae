"""The manifest beside every model, describe_onnx, update_manifest, and external data for big models."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

ort = pytest.importorskip("onnxruntime")

from edgeseq.errors import ModelFileError  # noqa: E402
from edgeseq.export import export_checkpoint, export_onnx  # noqa: E402
from edgeseq.fileio import sha256_file  # noqa: E402
from edgeseq.manifest import describe_onnx, manifest_path, update_manifest, write_manifest  # noqa: E402


def test_manifest_content(tmp_path, make_model):
    model = make_model(5, sequencer="columns", head="ctc", rnn="gru", bidirectional=True)
    path = tmp_path / "m.onnx"
    result = export_onnx(model, torch.randn(1, 1, 16, 32), path)
    manifest = json.loads((tmp_path / "m.json").read_text())

    assert result.manifest_path == tmp_path / "m.json" == manifest_path(path)
    assert manifest["sha256"] == sha256_file(path) and manifest["size_bytes"] == path.stat().st_size
    assert manifest["inputs"] == [{"name": "images", "dtype": "float32", "shape": ["batch", 1, 16, "width"]}]
    assert manifest["outputs"] == [{"name": "logits", "dtype": "float32", "shape": ["batch", "time", 5]}]
    assert manifest["opset"] == 18
    assert manifest["op_histogram"]["GRU"] == 1 and manifest["rnn_nodes"] == {"GRU": 1, "bidirectional": 1}
    # initializer elements: BatchNorm is folded into the convolutions, so close to but not the torch count
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    assert manifest["parameters"] == sum(numpy_helper.to_array(i).size for i in proto.graph.initializer)
    assert abs(manifest["parameters"] - sum(p.numel() for p in model.parameters())) < 0.05 * manifest["parameters"]
    assert manifest["exporter"] == "torchscript" and manifest["exporter_attempts"][0]["ok"] is True
    assert manifest["export_seconds"] > 0 and manifest["exported_at"].endswith("+00:00")
    assert manifest["dynamic_axes"] == {"images": {"0": "batch", "3": "width"}, "logits": {"0": "batch", "1": "time"}}
    assert manifest["parity"]["passed"] is True and manifest["parity"]["worst"]["logits"]["max_abs"] < 1e-4
    assert manifest["example_input_shape"] == [1, 1, 16, 32]
    assert "edgeseq.task" in manifest["metadata_keys"]


def test_update_manifest_merges_and_refreshes(tmp_path, make_model):
    path = tmp_path / "m.onnx"
    export_onnx(make_model(3), torch.randn(1, 1, 16, 32), path)
    updated = update_manifest(path, accuracy={"test": 0.9})
    again = json.loads(manifest_path(path).read_text())
    assert again == updated and again["accuracy"] == {"test": 0.9} and again["exporter"] == "torchscript"
    fresh = write_manifest(path, note="x")
    assert "exporter" not in fresh and fresh["note"] == "x"


def test_describe_onnx_refuses_non_models(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not a model")
    with pytest.raises(ModelFileError, match="cannot read ONNX model"):
        describe_onnx(bad)
    with pytest.raises(ModelFileError, match="not found"):
        describe_onnx(tmp_path / "missing.onnx")


def test_export_checkpoint_records_the_source(tmp_path, tiny_checkpoint, metadata_of):
    path = tmp_path / "digits.onnx"
    result = export_checkpoint(tiny_checkpoint, path)
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["source_checkpoint"]["sha256"] == sha256_file(tiny_checkpoint)
    meta = metadata_of(path)
    assert meta.source_sha256 == sha256_file(tiny_checkpoint)
    assert meta.labels == [str(d) for d in range(10)] and meta.task == "classification"
    assert meta.metrics == {"val_accuracy": 0.5, "test_accuracy": 0.25}
    assert meta.model["sequencer"] == "rows" and meta.input.dynamic_axes == {"0": "batch", "2": "height"}


def test_large_models_use_external_data(tmp_path, monkeypatch, make_model):
    """Above the size threshold (lowered here from ~2 GB) the weights go to <name>.data beside the model."""
    from edgeseq.export import staging

    monkeypatch.setattr(staging, "EXTERNAL_DATA_THRESHOLD_BYTES", 0)
    model = make_model(3, sequencer="columns", head="ctc")
    path = tmp_path / "big.onnx"
    result = export_onnx(model, torch.randn(1, 1, 16, 32), path)
    assert result.external_data and result.parity.passed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.json", "big.onnx", "big.onnx.data"]
    assert describe_onnx(path)["external_data"] is True
    onnx.checker.check_model(str(path), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"images": torch.randn(2, 1, 16, 40).numpy()})[0]
    assert out.shape == (2, 10, 3)
