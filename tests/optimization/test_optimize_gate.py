"""The accuracy gate: rejects variants over the allowed drop, measures CER for CTC models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeseq.bench.sidebyside import interleaved_latency_ns
from edgeseq.optimization import OptimizeConfig, optimize
from edgeseq.optimization.gate import Score, accuracy_drop, gate, make_session
from edgeseq.runtime.options import GraphLevel


@pytest.mark.parametrize(
    ("reference", "variant", "max_drop", "accepted"),
    [
        (Score("accuracy", 95.0), Score("accuracy", 94.5), 1.0, True),
        (Score("accuracy", 95.0), Score("accuracy", 93.9), 1.0, False),
        (Score("accuracy", 95.0), Score("accuracy", 95.0), 0.0, True),  # no drop passes a zero threshold
        (Score("accuracy", 95.0), Score("accuracy", 95.0), -1.0, False),  # negative: demand an improvement
        (Score("cer", 2.0), Score("cer", 2.9), 1.0, True),  # CER: higher is worse
        (Score("cer", 2.0), Score("cer", 3.5), 1.0, False),
        (Score("cer", 2.0), Score("cer", 0.5), 0.0, True),
    ],
)
def test_gate_thresholds(reference: Score, variant: Score, max_drop: float, accepted: bool) -> None:
    ok, reason = gate(reference, variant, max_drop)
    assert ok is accepted
    assert ("drop" in reason) is (not accepted)


def test_gate_without_labels_accepts_on_agreement_and_checks_min_agreement() -> None:
    ref, unlabelled = Score(), Score(agreement=90.0)
    assert accuracy_drop(ref, unlabelled) is None
    assert gate(ref, unlabelled, 1.0) == (True, "accuracy not measured (unlabelled samples): agreement with fp32 only")
    ok, reason = gate(ref, unlabelled, 1.0, min_agreement=95.0)
    assert not ok and "agreement" in reason


def test_strict_threshold_rejects_every_variant_end_to_end(
    tiny_lstm: Path, labelled_by, tmp_path: Path, monkeypatch
) -> None:
    """A variant that loses accuracy is rejected by a zero-point gate, and then FP32 is recommended.

    Whether INT8 loses a point on a tiny model is luck; here the static quantizer writes a model whose head is
    negated (a Neg on the logits), so every INT8 variant built from it certainly loses accuracy (a negative drop is refused).
    """
    import onnx

    from edgeseq.optimization.variants import int8_mixed, int8_static

    real = int8_static.quantize_static_qdq

    def quantize_then_break(src, dst, reader, settings):
        out = real(src, dst, reader, settings)
        model = onnx.load(str(out))
        logits = model.graph.output[0].name
        producer = next(node for node in model.graph.node if logits in node.output)
        producer.output[list(producer.output).index(logits)] = "logits_before_neg"
        model.graph.node.append(onnx.helper.make_node("Neg", ["logits_before_neg"], [logits]))
        onnx.save(model, str(out))
        return out

    for module in (int8_static, int8_mixed):
        monkeypatch.setattr(module, "quantize_static_qdq", quantize_then_break)
    samples = labelled_by(tiny_lstm, 24)
    config = OptimizeConfig(variants=["int8-static", "int8-mixed"], max_accuracy_drop=0.0, latency_runs=0)
    result = optimize(tiny_lstm, tmp_path, config, calibration=samples, evaluation=samples)
    assert result.variant("fp32").status == "reference"
    for name in ("int8-static", "int8-mixed"):
        row = result.variant(name)
        assert row.status == "rejected" and "drop" in row.reason
    assert result.all_optimized_rejected and result.recommended == "fp32"


def test_perturbed_variant_is_rejected_at_zero_drop(tiny_lstm: Path, labelled_by, tmp_path: Path) -> None:
    """A variant whose predictions changed (weights of the head negated) fails a 0-point gate."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(tiny_lstm))
    head = next(t for t in model.graph.initializer if t.name == "head.fc.weight")
    head.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(head), head.name))
    perturbed = tmp_path / "perturbed.onnx"
    onnx.save(model, str(perturbed))
    samples = labelled_by(tiny_lstm, 32)  # labelled by the *original* model
    config = OptimizeConfig(variants=["fp32"], max_accuracy_drop=0.0, latency_runs=0)
    original = optimize(tiny_lstm, tmp_path / "a", config, evaluation=samples)
    changed = optimize(perturbed, tmp_path / "b", config, evaluation=samples)
    assert original.variant("fp32").score.metric == 100.0
    reference, variant = original.variant("fp32").score, changed.variant("fp32").score
    assert variant.metric < 90.0
    assert gate(reference, variant, 0.0)[0] is False


def test_ctc_models_are_gated_on_cer(tiny_ctc, labelled_by, tmp_path: Path) -> None:
    samples = labelled_by(tiny_ctc.onnx, 16)
    assert all(isinstance(t, str) for t in samples.targets)
    config = OptimizeConfig(variants=["int8-mixed"], latency_runs=0, max_accuracy_drop=100.0)
    result = optimize(tiny_ctc.onnx, tmp_path, config, calibration=samples, evaluation=samples)
    fp32, mixed = result.variant("fp32").score, result.variant("int8-mixed").score
    assert fp32.metric_name == "cer" and fp32.metric == pytest.approx(0.0)
    assert mixed.metric_name == "cer" and mixed.metric >= 0.0
    assert np.isfinite(mixed.max_abs_diff)


def test_no_samples_means_random_inputs_and_no_static_int8(tiny_lstm: Path, tmp_path: Path) -> None:
    config = OptimizeConfig(variants=["int8-static", "int8-dynamic"], latency_runs=0)
    result = optimize(tiny_lstm, tmp_path, config)
    assert "needs calibration samples" in result.variant("int8-static").reason
    dynamic = result.variant("int8-dynamic")
    assert dynamic.status == "accepted" and dynamic.score.metric is None and dynamic.score.agreement is not None
    assert any("random inputs" in note for note in result.notes)


def test_interleaved_latency_times_every_session_alike(tiny_lstm: Path, tmp_path: Path) -> None:
    # make_session takes a GraphLevel, its short name or (as older callers pass) an ORT member name
    sessions = {
        name: make_session(tiny_lstm, level) for name, level in (("all", GraphLevel.ALL), ("basic", "ORT_ENABLE_BASIC"))
    }
    times = interleaved_latency_ns(sessions, np.zeros((1, 16, 16), np.float32), runs=9, rounds=3)
    assert {name: len(t) for name, t in times.items()} == {"all": 9, "basic": 9}
    assert all(t > 0 for ts in times.values() for t in ts)


def test_report_latency_and_speedup(tiny_lstm: Path, labelled_by, tmp_path: Path) -> None:
    samples = labelled_by(tiny_lstm, 8)
    result = optimize(
        tiny_lstm, tmp_path, OptimizeConfig(variants=["int8-dynamic"], latency_runs=8), evaluation=samples
    )
    fp32, dyn = result.variant("fp32"), result.variant("int8-dynamic")
    assert fp32.speedup == 1.0 and fp32.score.latency_runs == 8
    assert dyn.score.p50_ms > 0 and dyn.speedup == pytest.approx(fp32.score.p50_ms / dyn.score.p50_ms)
