"""Benchmark options and outcomes that used to crash or be silently accepted (issue 20)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from edgeseq.bench.options import MAX_OVERSUBSCRIPTION, BenchOptions, TimingOptions
from edgeseq.bench.report import console_table, to_markdown
from edgeseq.bench.result import BenchResult, BenchRow
from edgeseq.cli import main
from edgeseq.cpu import usable_cpus
from edgeseq.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "digits-rows-lstm.onnx"


def _skipped_row(backend: str, reason: str) -> BenchRow:
    return BenchRow(
        model="m",
        variant="",
        backend=backend,
        precision="fp32",
        model_precision="fp32",
        provider="",
        batch=1,
        threads=1,
        spinning=False,
        input_shape=[1, 1, 32, 32],
        input_dtype="float32",
        model_path="m.onnx",
        model_size_mb=0.0,
        skipped=reason,
    )


def test_a_table_of_skipped_rows_only_is_printed() -> None:
    """Every row skipped used to raise "TypeError: 'int' object is not iterable" in the table."""
    result = BenchResult(rows=[_skipped_row("openvino", "OpenVINO is not installed")], env={}, options={})
    table = console_table(result)
    assert "skipped: OpenVINO is not installed" in table and "vs base" in table
    assert "| m | openvino |" in to_markdown(result)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_time_s": math.nan}, "min_time_s: got nan; expected a finite number of seconds"),
        ({"max_time_s": math.inf}, "max_time_s: got inf; expected a finite number of seconds"),
        ({"max_time_s": 1e9}, "max_time_s: got 1000000000.0; expected at most 86400 seconds"),
        ({"min_runs": 2.5}, "min_runs: got 2.5; expected a whole number"),
        ({"min_time_s": 2.0, "max_time_s": 1.0}, "expected 0 <= min <= max"),
    ],
)
def test_timing_options_must_be_finite_and_ordered(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        TimingOptions(**kwargs)


def test_thread_counts_are_capped_but_oversubscription_stays_measurable() -> None:
    ceiling = MAX_OVERSUBSCRIPTION * usable_cpus()
    assert BenchOptions(threads=[ceiling]).threads == [ceiling]  # 4x the CPUs: still a measurement
    with pytest.raises(ConfigError, match=f"threads: got 99; expected at most {ceiling}"):
        BenchOptions(threads=[1, 99] if ceiling < 99 else [1, ceiling + 1])
    with pytest.raises(ConfigError, match="expected a non-empty list of positive integers"):
        BenchOptions(batches=[1.5])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--min-time", "nan"], "argument --min-time: expected a finite, non-negative number, got 'nan'"),
        (["--max-time", "inf"], "argument --max-time: expected a finite, non-negative number, got 'inf'"),
        (["--threads", "99"], "threads: got 99; expected at most"),
        (["--width", "100"], "--width: got 100; every model's width is fixed (digits-rows-lstm.onnx: 32)"),
    ],
)
def test_cli_refuses_with_one_line_and_exit_2(flags: list[str], message: str, capsys) -> None:
    if flags[:2] == ["--threads", "99"] and MAX_OVERSUBSCRIPTION * usable_cpus() >= 99:
        pytest.skip("this machine may legitimately run 99 threads")
    try:
        code = main(["bench", str(SHIPPED), *flags])
    except SystemExit as exc:  # argparse refuses a bad flag value itself, with exit 2
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_every_row_skipped_exits_2_after_printing_why(capsys) -> None:
    code = main(["bench", str(SHIPPED), "--backend", "ort-cuda", "--in-process", "--min-time", "0", "--min-runs", "2"])
    captured = capsys.readouterr()
    try:
        import onnxruntime

        has_cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    except ImportError:  # pragma: no cover - the runtime is always there
        has_cuda = False
    if has_cuda:
        pytest.skip("a CUDA provider is present: the row ran")
    assert code == 2 and "skipped: " in captured.out
    assert "error: every row was skipped, nothing was measured; first reason: CUDAExecutionProvider" in captured.err


def test_a_memory_bomb_is_refused_before_any_row_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    from memory_bombs import bomb_model

    monkeypatch.setenv("EDGESEQ_MEMORY_LIMIT", "1G")
    bomb = bomb_model(tmp_path, "Expand")
    assert main(["bench", str(bomb), "--in-process", "--min-time", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgeseq bench: error: model ") and "Expand 'huge' makes 11.2 GiB" in err
