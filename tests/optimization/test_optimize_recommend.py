"""The recommendation says what was and was not measured, and names the real cause when nothing fits.

Rows are built by hand (no model is run), so every case is exact: which variant is recommended and
which words the one-line reason must contain.
"""

from __future__ import annotations

import pytest

from edgeseq.optimization.gate import Score
from edgeseq.optimization.report import NOT_MEASURED, OptimizeResult, VariantResult, recommend

CALIBRATION_NEEDED = "not built: needs calibration samples (--calibration DATA or --checkpoint CKPT)"


def _row(name: str, p50: float | None, *, status: str = "accepted", metric: float | None = 99.0, **kw) -> VariantResult:
    score = Score(metric_name="accuracy" if metric is not None else None, metric=metric, agreement=100.0, p50_ms=p50)
    return VariantResult(name=name, precision=kw.pop("precision", "int8"), status=status, score=score, **kw)


def _result(rows: list[VariantResult], target: str = "cpu") -> OptimizeResult:
    recommended, why = recommend(rows, target, measured_on_cuda=False)
    return OptimizeResult(
        model="m.onnx", out_dir="o", target=target, variants=rows, recommended=recommended,
        recommendation_reason=why, config={}, cpu={}, int8={}, calibration="none", evaluation="random",
        providers=["CPUExecutionProvider"], environment={},
    )  # fmt: skip


def test_mobile_without_calibration_names_the_missing_calibration_not_the_variant_list() -> None:
    rows = [
        _row("fp32", 0.10, status="reference", precision="fp32"),
        VariantResult("int8-static", "int8", reason=CALIBRATION_NEEDED),
        VariantResult("ort", "int8", reason="not built: ort_source 'int8-static' was not built (it was rejected or failed)"),
    ]  # fmt: skip
    name, why = recommend(rows, "mobile", measured_on_cuda=False)
    assert name is None
    assert "needs calibration samples" in why and "int8-static" in why
    assert "add 'ort'" not in why


def test_mobile_without_an_ort_variant_asks_for_one() -> None:
    name, why = recommend([_row("fp32", 0.1, status="reference")], "mobile", measured_on_cuda=False)
    assert name is None and "add 'ort' to optimize.variants" in why


@pytest.mark.parametrize(("ort_ms", "expected"), [(0.24, "fp32"), (0.08, "ort")])
def test_mobile_ort_is_not_recommended_when_slower_than_fp32_here(ort_ms: float, expected: str) -> None:
    rows = [
        _row("fp32", 0.10, status="reference", precision="fp32", size_bytes=360_000),
        _row("ort", ort_ms, size_bytes=370_000),
    ]
    name, why = recommend(rows, "mobile", measured_on_cuda=False)
    assert name == expected
    if expected == "fp32":
        assert "2.40x slower than fp32" in why and "0.24 vs 0.10 ms" in why and "measure it on the device" in why


def test_cpu_without_labelled_data_recommends_nothing_and_says_why_in_table_and_reason() -> None:
    rows = [
        _row("fp32", 0.10, status="reference", precision="fp32", metric=None),
        _row("int8-dynamic", 0.06, metric=None),
        _row("ort-opt", 0.09, precision="fp32", metric=None),
    ]
    result = _result(rows)
    assert result.recommended is None
    assert "accuracy not measured" in result.recommendation_reason
    assert "int8-dynamic (0.06 ms p50)" in result.recommendation_reason  # the latency finding is kept
    table = result.table()
    assert table.splitlines()[0] == f"**{NOT_MEASURED}**"  # the headline, above the table
    assert "**recommended**" not in table


def test_cpu_with_labelled_data_recommends_the_fastest_accepted() -> None:
    rows = [_row("fp32", 0.10, status="reference", precision="fp32"), _row("int8-dynamic", 0.06)]
    result = _result(rows)
    assert result.recommended == "int8-dynamic" and "fastest accepted" in result.recommendation_reason
    assert "accuracy not measured" not in result.table()
