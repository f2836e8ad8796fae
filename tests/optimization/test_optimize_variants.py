"""Each variant's graph holds what it promises: counted nodes, not only compared numbers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import onnx
import pytest

from edgeseq.graphs import float_compute_ops, op_histogram, qdq_wrapped
from edgeseq.optimization import OptimizeConfig, OptimizeResult, optimize
from edgeseq.runtime.metadata import ModelMetadata

ALL = ["fp32", "ort-opt", "int8-static", "int8-dynamic", "int8-mixed", "fp16", "ort"]


def _ops(path: str | Path) -> Counter[str]:
    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)


@pytest.fixture(scope="module")
def lstm_result(tiny_lstm: Path, labelled_by, tmp_path_factory: pytest.TempPathFactory) -> OptimizeResult:
    samples = labelled_by(tiny_lstm, 48)
    calib, held_out = samples.subset(range(16)), samples.subset(range(16, 48))
    # max_accuracy_drop=100: this module checks graphs, not the gate (random weights, random labels)
    config = OptimizeConfig(variants=ALL, ort_source="int8-mixed", latency_runs=3, max_accuracy_drop=100.0)
    return optimize(tiny_lstm, tmp_path_factory.mktemp("opt"), config, calibration=calib, evaluation=held_out)


def test_every_variant_is_built_and_accepted(lstm_result: OptimizeResult) -> None:
    assert [row.name for row in lstm_result.variants] == ALL
    for row in lstm_result.variants:
        assert row.usable, f"{row.name}: {row.reason}"
        assert Path(row.path).is_file() and Path(row.path).with_suffix(".json").is_file()
    assert lstm_result.recommended in ALL and lstm_result.recommended not in ("fp16", "ort")


def test_static_wraps_every_conv_in_qdq_and_leaves_lstm_float(lstm_result: OptimizeResult) -> None:
    path = lstm_result.variant("int8-static").path
    model = onnx.load(path)
    ops = _ops(path)
    assert ops["Conv"] == 2 and qdq_wrapped(model, "Conv") == 2
    assert ops["QuantizeLinear"] >= 2 and ops["DequantizeLinear"] >= 4  # activations + per-channel weights
    assert ops["LSTM"] == 1 and ops["ConvInteger"] == 0
    assert lstm_result.variant("int8-static").ops_left_float == {"LSTM": 1}


def test_dynamic_quantizes_lstm_and_never_conv(lstm_result: OptimizeResult) -> None:
    ops = _ops(lstm_result.variant("int8-dynamic").path)
    assert ops["DynamicQuantizeLSTM"] == 1 and ops["LSTM"] == 0
    assert ops["ConvInteger"] == 0 and ops["Conv"] == 2  # docs/traps.md #11: ConvInteger is 2x slower
    assert lstm_result.variant("int8-dynamic").ops_left_float == {"Conv": 2}


def test_mixed_has_qdq_convs_and_dynamic_lstm(lstm_result: OptimizeResult) -> None:
    path = lstm_result.variant("int8-mixed").path
    ops = _ops(path)
    assert ops["DynamicQuantizeLSTM"] == 1 and ops["LSTM"] == 0
    assert ops["ConvInteger"] == 0 and qdq_wrapped(onnx.load(path), "Conv") == 2
    assert ops["MatMulInteger"] + ops["DynamicQuantizeMatMul"] >= 1  # the Linear head, dynamically
    assert lstm_result.variant("int8-mixed").ops_left_float == {}


def test_fp16_keeps_float32_io_with_casts_at_the_boundaries(lstm_result: OptimizeResult) -> None:
    model = onnx.load(lstm_result.variant("fp16").path)
    f32, f16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    assert [v.type.tensor_type.elem_type for v in [*model.graph.input, *model.graph.output]] == [f32, f32]
    casts = [n for n in model.graph.node if n.op_type == "Cast"]
    to = {n.input[0]: onnx.helper.get_attribute_value(n.attribute[0]) for n in casts}
    assert to.get("images") == f16  # input cast down
    assert any(n.output[0] == "logits" and onnx.helper.get_attribute_value(n.attribute[0]) == f32 for n in casts)
    assert any(init.data_type == f16 for init in model.graph.initializer)


def test_ort_format_and_operator_config(lstm_result: OptimizeResult) -> None:
    import numpy as np
    import onnxruntime as ort

    row = lstm_result.variant("ort")
    assert row.path.endswith(".ort") and row.precision == "int8"
    config = Path(row.path).with_name("ort.required_operators.config").read_text()
    assert "ai.onnx;" in config and "DynamicQuantizeLSTM" in config
    session = ort.InferenceSession(row.path, providers=["CPUExecutionProvider"])
    assert session.run(None, {"images": np.zeros((2, 1, 16, 16), np.float32)})[0].shape == (2, 10)


def test_variants_keep_edgeseq_metadata_and_manifests(lstm_result: OptimizeResult) -> None:
    import onnxruntime as ort

    for name in ("ort-opt", "int8-static", "int8-mixed", "fp16"):
        path = lstm_result.variant(name).path
        props = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
        assert ModelMetadata.from_props(props).labels == [str(i) for i in range(10)]
        assert json.loads(props["edgeseq.variant"])["name"] == name
        manifest = json.loads(Path(path).with_suffix(".json").read_text())
        assert manifest["optimize"]["variant"] == name and manifest["sha256"] == manifest["optimize"]["sha256"]
        # one meaning of op_histogram (edgeseq.graphs): the optimize section's equals the manifest's own
        row = lstm_result.variant(name)
        assert row.op_histogram == op_histogram(onnx.load(path)) == manifest["optimize"]["op_histogram"]
        assert manifest["optimize"]["op_histogram"] == manifest["op_histogram"]
        assert manifest["optimize"]["session_graph_level"] == row.session_graph_level == "all"
    report = json.loads((Path(lstm_result.out_dir) / "optimize_report.json").read_text())
    assert report["recommended"] == lstm_result.recommended and len(report["variants"]) == len(ALL)


def test_gru_stays_float_in_every_int8_variant(tiny_gru: Path, labelled_by, tmp_path: Path) -> None:
    """docs/traps.md #12: neither static nor dynamic quantization touches GRU; the report says so."""
    samples = labelled_by(tiny_gru, 16)
    config = OptimizeConfig(variants=["int8-static", "int8-mixed"], latency_runs=0, max_accuracy_drop=100.0)
    result = optimize(tiny_gru, tmp_path, config, calibration=samples, evaluation=samples)
    for name in ("int8-static", "int8-mixed"):
        row = result.variant(name)
        assert row.usable, row.reason
        assert row.ops_left_float.get("GRU") == 1
        assert float_compute_ops(onnx.load(row.path)).get("Conv", 0) == 0


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_other_calibration_methods_build_qdq_models(method: str, tiny_lstm: Path, labelled_by, tmp_path: Path) -> None:
    samples = labelled_by(tiny_lstm, 8)
    config = OptimizeConfig(
        variants=["int8-static"], calibration_method=method, latency_runs=0, max_accuracy_drop=100.0
    )
    row = optimize(tiny_lstm, tmp_path, config, calibration=samples, evaluation=samples).variant("int8-static")
    assert row.usable, row.reason
    assert row.settings["calibration_method"] == method
    assert qdq_wrapped(onnx.load(row.path), "Conv") == 2
