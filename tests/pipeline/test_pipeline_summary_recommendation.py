"""The summary's recommended mark and its p50 column come from one measurement, and the bench notes stay.

Rows are made by hand: an optimize result whose own timing preferred int8-dynamic, and a benchmark
that measured int8-mixed faster on a busy machine (the case the issue saw: 0.062 ms marked, 0.046 ms shown).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from edgeseq.config import load_config
from edgeseq.optimization.gate import Score
from edgeseq.optimization.report import OptimizeResult, VariantResult
from edgeseq.pipeline.summary import format_summary, summary_rows

BUSY = "other processes competed for the cores during this row (load_avg_1m above the cores): its latency is inflated"


def _variant(name: str, p50: float, status: str = "accepted", precision: str = "int8") -> VariantResult:
    score = Score("accuracy", 98.9, 100.0, 0.0, p50)
    return VariantResult(name, precision, path=f"/run/optimized/{name}.onnx", status=status, score=score)


def _optimized(target: str = "cpu", recommended: str | None = "int8-dynamic") -> OptimizeResult:
    rows = [
        _variant("fp32", 0.098, "reference", "fp32"),
        _variant("int8-dynamic", 0.062),
        _variant("int8-mixed", 0.070),
    ]
    return OptimizeResult(
        model="/run/model.onnx", out_dir="/run/optimized", target=target, variants=rows, recommended=recommended,
        recommendation_reason="", config={}, cpu={}, int8={}, calibration="", evaluation="", providers=[],
        environment={},
    )  # fmt: skip


def _bench(notes_on_mixed: list[str]) -> SimpleNamespace:
    def row(path: str, p50: float, notes: list[str] | None = None) -> SimpleNamespace:
        return SimpleNamespace(
            backend="ort-cpu", model_path=path, batch=1, skipped=None, input_shape=[1, 1, 32, 32], p50_ms=p50,
            p99_ms=2 * p50, images_per_s=1e3 / p50, notes=notes or [], load_avg_1m=5.1,
        )  # fmt: skip

    rows = [
        row("/run/model.onnx", 0.098),
        row("/run/optimized/int8-dynamic.onnx", 0.062),
        row("/run/optimized/int8-mixed.onnx", 0.046, notes_on_mixed),
    ]
    return SimpleNamespace(rows=rows, notes=["rows ran in 2 interleaved rounds"])


def _summary(optimized: OptimizeResult, bench: SimpleNamespace | None) -> tuple[list[dict], str]:
    cfg = load_config("digits-rows-lstm")
    results = {"export": {"size_bytes": 357_592}}
    rows = summary_rows(cfg, results, optimized, bench, Path("/run/model.onnx"))
    table = format_summary(rows, bench.notes if bench else [], measured_by_bench=bench is not None)
    return rows, table


def test_the_recommended_row_is_the_fastest_accepted_one_in_the_table() -> None:
    rows, table = _summary(_optimized(), _bench([BUSY]))
    marked = [r["variant"] for r in rows if r.get("recommended")]
    assert marked == ["int8-mixed"]  # 0.046 ms in the table, not optimize's own pick (int8-dynamic)
    line = next(line for line in table.splitlines() if line.startswith("int8-mixed *"))
    assert "0.046" in line
    assert "by this table's p50" in table


def test_the_machine_load_note_of_bench_json_is_kept() -> None:
    _, table = _summary(_optimized(), _bench([BUSY]))
    assert f"note (int8-mixed): {BUSY}" in table
    assert "note: rows ran in 2 interleaved rounds" in table


def test_without_a_bench_stage_the_mark_is_optimizes_and_says_so() -> None:
    rows, table = _summary(_optimized(), None)
    assert [r["variant"] for r in rows if r.get("recommended")] == ["int8-dynamic"]
    assert "by optimize's side-by-side timing" in table


def test_no_mark_when_optimize_recommended_nothing_or_targets_another_device() -> None:
    rows, _ = _summary(_optimized(recommended=None), _bench([]))
    assert not any(r.get("recommended") for r in rows)
    rows, _ = _summary(_optimized(target="mobile", recommended="fp32"), _bench([]))
    assert [r["variant"] for r in rows if r.get("recommended")] == ["fp32"]  # optimize's reasoned choice stays
