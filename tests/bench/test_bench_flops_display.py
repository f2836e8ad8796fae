"""The per-stage line never prints "0.00 GFLOP/inference" for a small model, nor a share above 100 % of the peak."""

from __future__ import annotations

import pytest

from edgeseq.bench.report import flop_text, peak_share_text, stage_lines
from edgeseq.bench.result import BenchResult, BenchRow


@pytest.mark.parametrize(
    ("flop", "text"),
    [(3.65e9, "3.65 GFLOP"), (3.1e6, "3.1 MFLOP"), (2.46e6, "2.46 MFLOP"), (850e3, "850 kFLOP"), (12, "12 FLOP")],
)
def test_flop_units_keep_three_significant_digits(flop: float, text: str) -> None:
    assert flop_text(flop) == text


def test_peak_share_up_to_100_percent_and_honest_above() -> None:
    assert peak_share_text(307.0, 333.0) == " (92% of the est. FP32 peak 333)"
    above = peak_share_text(346.0, 333.0)
    assert "%" not in above and "too low for this CPU" in above


def test_stage_line_of_the_small_digits_model() -> None:
    row = BenchRow(
        model="digits", variant="", backend="ort-cpu", precision="fp32", model_precision="fp32",
        provider="CPUExecutionProvider", batch=1, threads=2, spinning=False, input_shape=[1, 1, 32, 32],
        input_dtype="float32", model_path="m.onnx", model_size_mb=0.36,
    )  # fmt: skip
    row.stages_ms = {"cnn": 0.02, "rnn": 0.05}
    row.gflops_per_inference = 0.0031  # 3.1 MFLOP
    row.achieved_gflops_s = 31.0
    row.peak_fp32_gflops_s = 24.0  # a machine whose reported clock is below what it runs at
    line = stage_lines(BenchResult(rows=[row], env={}, options={}))[0]
    assert "3.1 MFLOP/inference, 31 GFLOP/s" in line
    assert "0.00 GFLOP" not in line and "% of the est" not in line and "too low for this CPU" in line
