"""The `bench compare` CI gate: a regression fails (exit 1), an improvement passes, changed parity fails."""

from __future__ import annotations

import copy

import pytest

from edgeseq.bench.compare import DEFAULT_TOLERANCE, compare_results
from edgeseq.bench.runner import BenchResult, BenchRow
from edgeseq.cli import main
from edgeseq.fileio import write_json_atomic


def _row(backend: str, p50: float, **kw) -> BenchRow:
    base = dict(
        model="m", variant="fp32", backend=backend, precision="fp32", model_precision="fp32",
        provider="CPUExecutionProvider", batch=1, threads=2, spinning=False, input_shape=[1, 3, 32, 32],
        input_dtype="float32", model_path="m.onnx", model_size_mb=1.0, p50_ms=p50, p90_ms=p50 * 1.1,
        p99_ms=p50 * 1.3, n=100, parity_max_abs_diff=1e-6, accuracy=97.5,
    )  # fmt: skip
    base.update(kw)
    return BenchRow(**base)


def _result(*rows: BenchRow) -> BenchResult:
    return BenchResult(rows=list(rows), env={}, options={}, created="2026-01-01T00:00:00+00:00")


BASE = _result(_row("ort-cpu", 10.0), _row("openvino", 12.0, precision="bf16"))


def test_same_run_passes():
    result = compare_results(BASE, copy.deepcopy(BASE))
    assert result.passed
    assert [d.status for d in result.diffs] == ["ok", "ok"]


@pytest.mark.parametrize(
    ("new_p50", "status", "passed"),
    [
        (10.0 * (1 + DEFAULT_TOLERANCE) * 0.99, "ok", True),  # inside the tolerance
        (10.0 * (1 + DEFAULT_TOLERANCE) * 1.01, "regression", False),  # just beyond it
        (20.0, "regression", False),
        (5.0, "faster", True),  # an improvement never fails
    ],
)
def test_latency_gate(new_p50, status, passed):
    new = _result(_row("ort-cpu", new_p50), _row("openvino", 12.0, precision="bf16"))
    result = compare_results(BASE, new)
    assert result.diffs[0].status == status
    assert result.passed is passed


@pytest.mark.parametrize("field", [{"parity_max_abs_diff": 3e-2}, {"accuracy": 91.0}, {"accuracy": None}])
def test_changed_parity_or_accuracy_fails_even_when_faster(field):
    new = _result(_row("ort-cpu", 5.0, **field), _row("openvino", 12.0, precision="bf16"))
    result = compare_results(BASE, new)
    assert result.diffs[0].status == "changed"
    assert not result.passed


def test_missing_row_fails_unless_allowed():
    new = _result(_row("ort-cpu", 10.0))
    assert not compare_results(BASE, new).passed
    assert compare_results(BASE, new, allow_missing=True).passed


def test_rows_match_by_precision_and_shape():
    # the same backend in another precision or at another size is a different row, not a regression
    new = _result(_row("ort-cpu", 10.0), _row("openvino", 50.0, precision="fp32"))
    statuses = sorted(d.status for d in compare_results(BASE, new, allow_missing=True).diffs)
    assert statuses == ["missing", "new", "ok"]


def test_cli_exit_codes(tmp_path, capsys):
    base, good, bad = tmp_path / "base.json", tmp_path / "good.json", tmp_path / "bad.json"
    write_json_atomic(base, BASE.to_json())
    write_json_atomic(good, _result(_row("ort-cpu", 9.0), _row("openvino", 12.0, precision="bf16")).to_json())
    write_json_atomic(bad, _result(_row("ort-cpu", 15.0), _row("openvino", 12.0, precision="bf16")).to_json())
    assert main(["bench", "compare", str(base), str(good)]) == 0
    assert main(["bench", "compare", str(base), str(bad)]) == 1
    err = capsys.readouterr().err
    assert "regressed beyond 10%" in err
    assert main(["bench", "compare", str(base), str(bad), "--tolerance", "0.6"]) == 0
    assert main(["bench", "compare", str(base)]) == 2  # usage error
    (tmp_path / "junk.json").write_text("{}")
    assert main(["bench", "compare", str(base), str(tmp_path / "junk.json")]) == 2


def test_normalize_cancels_machine_wide_drift():
    # the whole machine 15% slower: every row +15%, the reference too -> no regression when normalized
    base = _result(_row("torch", 20.0, variant="eager"), _row("ort-cpu", 10.0))
    drift = _result(_row("torch", 23.0, variant="eager"), _row("ort-cpu", 11.5))
    assert not compare_results(base, drift).passed
    normalized = compare_results(base, drift, normalize=True)
    assert normalized.passed
    assert [d.status for d in normalized.diffs] == ["reference", "ok"]
    # a real regression of one backend still fails: ORT 10 -> 13 ms while eager stayed at 20
    worse = _result(_row("torch", 20.0, variant="eager"), _row("ort-cpu", 13.0))
    diff = compare_results(base, worse, normalize=True).diffs[1]
    assert diff.status == "regression" and diff.ratio == pytest.approx(1.3)
