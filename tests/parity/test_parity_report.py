"""check_parity: a broken export fails, every failure is collected, CTC and GRU parity (docs/traps.md #9)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from edgeseq.errors import InputError  # noqa: E402
from edgeseq.export import ExportOptions, export_onnx  # noqa: E402
from edgeseq.parity import (  # noqa: E402
    PARITY_ATOL,
    ParityTolerances,
    check_parity,
    compare_output,
    default_sizes,
    greedy_decode,
)

# GRU parity must be at fp32 rounding level, far below the 1e-4 tolerance: a wrong
# linear_before_reset (pytorch#189225) gives differences around 1e-2.
GRU_MAX_ABS = 1e-5


@pytest.fixture
def ctc_export(tmp_path, make_model):
    model = make_model(5, sequencer="columns", head="ctc", rnn="lstm", bidirectional=True, num_layers=2)
    path = tmp_path / "ctc.onnx"
    export_onnx(model, torch.randn(1, 1, 16, 32), path)
    return model, path


def test_broken_weight_fails_validation_with_every_case_reported(tmp_path, ctc_export, perturb_initializer):
    model, path = ctc_export
    broken = tmp_path / "broken.onnx"
    perturb_initializer(path, broken, delta=0.5)
    (tmp_path / "broken.json").write_text((tmp_path / "ctc.json").read_text())

    report = check_parity(model, broken)

    assert not report.passed
    cases = {(r.case, tuple(r.input_shape)) for r in report.rows}
    failed_cases = {(r.case, tuple(r.input_shape)) for r in report.rows if not r.passed}
    assert failed_cases == cases and len(cases) >= 6  # collected for every case, not stopped at the first
    assert all("output 'logits'" in f for f in report.failures)
    assert any("exceeds" in f for f in report.failures)
    assert report.worst()["logits"]["max_abs"] > 1e-3
    table = report.to_table()
    assert "FAIL" in table and "parity FAILED" in table
    json.dumps(report.to_json())  # serialisable as is


def test_good_export_passes_and_report_is_complete(ctc_export):
    model, path = ctc_export
    report = check_parity(model, path, samples=[torch.randn(1, 16, 40), torch.randn(1, 16, 40), torch.randn(1, 16, 24)])
    assert report.passed, report.to_table()
    data = report.to_json()
    assert {r["case"] for r in data["rows"]} == {"random", "size", "sample"}
    batches = {r["input_shape"][0] for r in data["rows"] if r["case"] == "random"}
    assert batches == {1, 2, 7}
    assert all(r["sequence"] is not None for r in data["rows"])  # CTC: greedy-decoded agreement reported
    assert data["worst"]["logits"]["max_abs"] < PARITY_ATOL
    assert data["dynamic_axes"] == {"0": "batch", "3": "width"}


def test_shape_mismatch_is_reported_before_values():
    figures, problems = compare_output("logits", np.zeros((2, 5, 3)), np.zeros((2, 6, 3)), ParityTolerances())
    assert problems == ["output 'logits': shape [2, 6, 3] from ONNX Runtime, [2, 5, 3] from torch"]
    assert "max_abs" not in figures


def test_top1_ties_are_not_failures_but_real_flips_are():
    ref = np.array([[1.0, 1.0 + 1e-7, 0.0], [3.0, 0.0, 0.0]], dtype=np.float32)
    tie_flip = np.array([[1.0 + 2e-7, 1.0, 0.0], [3.0, 0.0, 0.0]], dtype=np.float32)
    figures, problems = compare_output("logits", ref, tie_flip, ParityTolerances())
    assert figures["top1"] == 0.5 and problems == []
    real_flip = np.array([[1.0, 1.0, 0.0], [0.0, 3.0, 0.0]], dtype=np.float32)
    _, problems = compare_output("logits", ref, real_flip, ParityTolerances())
    assert any("top-1 differs at 1 of 2" in p for p in problems)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("ref", "got", "expected"),
    [
        ([1.0, NAN, 0.0], [1.0, 5.0, 0.0], "torch produced non-finite values"),  # was a perfect match
        ([1.0, 5.0, 0.0], [1.0, NAN, 0.0], "ONNX Runtime produced non-finite values"),
        ([1.0, INF, 0.0], [1.0, NAN, 0.0], "non-finite values differ"),
        ([1.0, INF, 0.0], [1.0, -INF, 0.0], "non-finite values differ"),
        ([1.0, INF, 0.0], [1.0, INF, 0.0], None),  # the same inf in both: equal, cosine over the rest
    ],
)
def test_non_finite_values_must_match(ref, got, expected):
    figures, problems = compare_output("logits", np.array([ref]), np.array([got]), ParityTolerances())
    if expected is None:
        assert problems == [] and figures["cosine"] == pytest.approx(1.0) and figures["max_abs"] == 0.0
    else:
        assert any(expected in p for p in problems), problems


def test_cosine_of_a_zero_output_against_a_nonzero_one_fails():
    _, problems = compare_output("logits", np.zeros((1, 3)), np.array([[0.0, 0.5, 0.0]]), ParityTolerances())
    assert any("cosine similarity 0.0000000" in p for p in problems)


def test_greedy_decode_collapses_repeats_and_drops_blanks():
    assert greedy_decode(np.array([[0, 1, 1, 0, 1, 2, 2, 0]])) == [(1, 1, 2)]


def test_default_sizes_include_smallest_and_skip_base():
    sizes = default_sizes(32, 4)
    assert len(sizes) >= 3 and 4 in sizes and 32 not in sizes
    assert 32 not in default_sizes(32, 32) and len(default_sizes(32, 32)) >= 3


def test_tolerances_are_validated():
    with pytest.raises(Exception, match="tolerances.atol"):
        ParityTolerances(atol=-1.0)


def test_batch_sizes_are_validated(ctc_export):
    model, path = ctc_export
    with pytest.raises(InputError, match="batch_sizes"):
        check_parity(model, path, batch_sizes=(0,))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_gru_parity_at_several_widths(tmp_path, make_model, bidirectional):
    """docs/traps.md #9: GRU's linear_before_reset must match PyTorch's GRU."""
    import onnx

    model = make_model(
        7, sequencer="columns", head="ctc", rnn="gru", bidirectional=bidirectional, num_layers=2, hidden_size=16
    )
    path = tmp_path / "gru.onnx"
    export_onnx(model, torch.randn(1, 1, 16, 32), path, ExportOptions(exporter="torchscript"))
    grus = [n for n in onnx.load(str(path)).graph.node if n.op_type == "GRU"]
    assert len(grus) == 2
    assert all({a.name: a.i for a in n.attribute}.get("linear_before_reset") == 1 for n in grus)
    report = check_parity(model, path, sizes=(4, 28, 100))
    assert report.passed, report.to_table()
    assert report.worst()["logits"]["max_abs"] < GRU_MAX_ABS
