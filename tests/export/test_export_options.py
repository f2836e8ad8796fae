"""Export options: preprocessing in the graph, probabilities, static shapes, simplification, opsets, dynamo."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from edgeseq.export import ExportOptions, export_onnx  # noqa: E402
from edgeseq.parity import check_parity  # noqa: E402
from edgeseq.runtime.metadata import ModelMetadata  # noqa: E402
from edgeseq.runtime.preprocess import normalize  # noqa: E402

# fp32 parity bound used by these tests: see edgeseq.parity.PARITY_ATOL
ATOL = 1e-4


def _meta(model, pre):
    return ModelMetadata(
        task=model.task,
        labels=[] if model.task == "ctc" else [str(i) for i in range(model.num_outputs)],
        alphabet="abcd" if model.task == "ctc" else "",
        preprocess=dataclasses.asdict(pre),
    )


@pytest.mark.parametrize(("color", "invert"), [("L", False), ("RGB", True)])
def test_preprocessing_in_graph_takes_raw_pixels(
    tmp_path, make_model, preprocess_spec, graph_dims, metadata_of, color, invert
):
    pre = dataclasses.replace(preprocess_spec(color=color), invert=invert)
    model = make_model(5, pre, sequencer="columns", head="ctc")
    path = tmp_path / "pixels.onnx"
    options = ExportOptions(preprocess_in_graph=True, probabilities=True)
    result = export_onnx(model, torch.randn(1, pre.channels, 16, 32), path, options, metadata=_meta(model, pre))

    assert result.parity.passed
    dims = graph_dims(path)
    assert dims["images"] == ["batch", 16, "width", pre.channels]  # NHWC
    assert dims["logits"] == ["batch", "time", 5] and dims["probabilities"] == ["batch", "time", 5]
    meta = metadata_of(path)
    assert meta.preprocess["in_graph"] is True and meta.preprocess["invert"] is invert
    assert (meta.input.layout, meta.input.dtype) == ("NHWC", "uint8")
    assert meta.input.dynamic_axes == {"0": "batch", "2": "width"}
    assert (meta.outputs.logits, meta.outputs.probabilities) == ("logits", "probabilities")

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(uint8)"
    pixels = np.random.default_rng(0).integers(0, 256, size=(3, 16, 44, pre.channels), dtype=np.uint8)
    logits, probs = session.run(None, {"images": pixels})
    with torch.inference_mode():
        expected = model(torch.from_numpy(normalize(pixels, dataclasses.asdict(pre)))).numpy()
    np.testing.assert_allclose(logits, expected, atol=ATOL, rtol=ATOL)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)


def test_static_shapes(tmp_path, make_model, graph_dims):
    model = make_model(5, sequencer="columns", head="ctc")
    path = tmp_path / "static.onnx"
    result = export_onnx(model, torch.randn(1, 1, 16, 32), path, ExportOptions(static=True))
    dims = graph_dims(path)
    assert dims == {"images": [1, 1, 16, 32], "logits": [1, 8, 5]}
    assert result.dynamic_axes == {} and result.parity.passed
    assert {tuple(r.input_shape) for r in result.parity.rows} == {(1, 1, 16, 32)}


def test_simplify_then_reverify(tmp_path, make_model, graph_dims, metadata_of):
    model = make_model(5, sequencer="rows", head="attention", rnn="lstm", bidirectional=True, num_layers=2)
    plain = export_onnx(model, torch.randn(1, 1, 16, 32), tmp_path / "plain.onnx")
    slim = export_onnx(model, torch.randn(1, 1, 16, 32), tmp_path / "slim.onnx", ExportOptions(simplify=True))
    assert slim.simplified and slim.parity.passed
    assert slim.rnn_nodes == plain.rnn_nodes == {"LSTM": 2, "bidirectional": 2}
    assert graph_dims(tmp_path / "slim.onnx")["images"] == ["batch", 1, "height", 32]
    n_plain = len(onnx.load(str(tmp_path / "plain.onnx")).graph.node)
    n_slim = len(onnx.load(str(tmp_path / "slim.onnx")).graph.node)
    assert n_slim <= n_plain
    assert metadata_of(tmp_path / "slim.onnx").exporter["simplified"] is True  # metadata survives onnxslim


def test_simplify_checks_parity_once_and_respects_no_verify(tmp_path, make_model, monkeypatch):
    from edgeseq.export import attempts

    calls = []
    real = attempts.check_parity
    monkeypatch.setattr(attempts, "check_parity", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = make_model(5, sequencer="rows", head="last", rnn="gru")
    x = torch.randn(1, 1, 16, 32)
    assert export_onnx(model, x, tmp_path / "a.onnx", ExportOptions(simplify=True)).parity.passed
    assert len(calls) == 1  # on the simplified graph only, not also on the raw one thrown away
    assert export_onnx(model, x, tmp_path / "b.onnx", ExportOptions(simplify=True, verify=False)).parity is None
    assert len(calls) == 1


@pytest.mark.parametrize("opset", [14, 17, 20])
def test_supported_opsets(tmp_path, make_model, opset):
    model = make_model(5, sequencer="columns", head="ctc", rnn="gru", bidirectional=True)
    result = export_onnx(model, torch.randn(1, 1, 16, 32), tmp_path / "m.onnx", ExportOptions(opset=opset))
    assert result.parity.passed
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert {i.domain: i.version for i in proto.opset_import}[""] == opset


def test_verify_false_skips_parity_but_not_structure(tmp_path, make_model):
    result = export_onnx(make_model(3), torch.randn(1, 1, 16, 32), tmp_path / "m.onnx", ExportOptions(verify=False))
    assert result.parity is None and result.rnn_nodes == {"LSTM": 1}


def test_check_parity_of_a_probabilities_model_compares_the_softmax(tmp_path, make_model):
    model = make_model(4, sequencer="rows", head="mean")
    path = tmp_path / "p.onnx"
    export_onnx(model, torch.randn(1, 1, 16, 32), path, ExportOptions(probabilities=True))
    report = check_parity(model, path, batch_sizes=(3,))
    assert report.passed and {r.output for r in report.rows} == {"logits", "probabilities"}


@pytest.mark.slow
def test_dynamo_path_is_verified_too(tmp_path, make_model, graph_dims):
    """The dynamo exporter (about 10 s here) either yields a verified graph or a listed failure."""
    model = make_model(3, sequencer="rows", head="last", rnn="lstm")
    path = tmp_path / "dynamo.onnx"
    result = export_onnx(model, torch.randn(1, 1, 16, 32), path, ExportOptions(exporter="dynamo"))
    assert result.exporter in ("dynamo", "dynamo-ep") and result.parity.passed
    assert result.rnn_nodes == {"LSTM": 1}
    dims = graph_dims(path)
    assert dims["images"] == ["batch", 1, "height", 32]  # generated names replaced by the declared ones
    assert dims["logits"] == ["batch", 3]


@pytest.mark.slow
def test_dynamo_frozen_time_axis_is_caught(tmp_path, monkeypatch, make_model, graph_dims):
    """docs/traps.md #1/#2 on torch 2.14: the exported-program path freezes the time axis of a 2-layer BiLSTM.

    Whatever the installed torch does, a graph with a frozen axis must never be accepted: either the
    export fails naming the path, or every declared axis is symbolic and parity passed. Only the
    ``dynamo-ep`` path runs here (the module path fails outright, #4, and costs another 10 s).
    """
    import edgeseq.export as export_mod
    from edgeseq.errors import ExportError

    monkeypatch.setitem(export_mod.STRATEGIES, "dynamo", ("dynamo-ep",))
    model = make_model(5, sequencer="columns", head="ctc", rnn="lstm", bidirectional=True, num_layers=2)
    path = tmp_path / "dynamo.onnx"
    try:
        result = export_onnx(model, torch.randn(1, 1, 16, 32), path, ExportOptions(exporter="dynamo"))
    except ExportError as exc:
        message = str(exc)
        assert "dynamo-ep: " in message
        assert not path.exists()
    else:
        dims = graph_dims(path)
        assert isinstance(dims["logits"][0], str) and isinstance(dims["logits"][1], str)
        assert result.parity.passed


def test_edgeseq_model_without_metadata_still_describes_itself(tmp_path, make_model, metadata_of):
    model = make_model(4, sequencer="columns", head="ctc")
    path = tmp_path / "m.onnx"
    export_onnx(model, torch.randn(1, 1, 16, 32), path)
    meta = metadata_of(path)
    assert meta.task == "ctc" and meta.preprocess["height"] == 16 and meta.preprocess["in_graph"] is False
    assert meta.model["sequencer"] == "columns" and meta.input.dynamic_axes == {"0": "batch", "3": "width"}


def test_validate_onnx_uses_real_samples(tmp_path, tiny_checkpoint):
    from edgeseq.export import export_checkpoint
    from edgeseq.parity import validate_onnx

    path = tmp_path / "digits.onnx"
    export_checkpoint(tiny_checkpoint, path, ExportOptions(verify=False))
    report, info = validate_onnx(path, tiny_checkpoint, samples=5, batch_sizes=(2,))
    assert report.passed and info["samples"] == 5 and info["samples_note"] is None
    assert [r.input_shape for r in report.rows if r.case == "sample"] == [[5, 1, 16, 32]]
