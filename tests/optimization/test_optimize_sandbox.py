"""A variant whose session creation crashes becomes a rejected row; the caller lives on (docs/traps.md #13)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from edgeseq.errors import ModelFileError
from edgeseq.optimization import OptimizeConfig, optimize
from edgeseq.optimization.sandbox import SessionCheck, check_session, run_python_check
from edgeseq.runtime.isolation import describe_returncode

SEGFAULT = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"


def test_a_segfaulting_child_is_reported_not_fatal() -> None:
    check = run_python_check(SEGFAULT, [])
    assert not check.ok and check.returncode == -signal.SIGSEGV
    assert check.reason == "session creation crashed (signal 11, SIGSEGV)"
    assert os.getpid() > 0  # still here


def test_python_errors_and_timeouts_are_reported() -> None:
    failed = run_python_check("raise SystemExit(3)", [])
    assert not failed.ok and failed.reason.startswith("session creation failed (exit code 3)")
    slow = run_python_check("import time; time.sleep(5)", [], timeout_s=0.5)
    assert not slow.ok and "timed out" in slow.reason


def test_describe_returncode() -> None:
    assert describe_returncode(-6) == "signal 6, SIGABRT"
    assert describe_returncode(2) == "exit code 2"


def test_real_check_opens_a_good_model_and_refuses_garbage(tiny_lstm: Path, tmp_path: Path) -> None:
    assert check_session(tiny_lstm, "ORT_ENABLE_ALL", ["CPUExecutionProvider"], [1, 1, 16, 16]).ok
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    bad = check_session(garbage, "ORT_ENABLE_ALL", ["CPUExecutionProvider"])
    assert not bad.ok and "exit code 3" in bad.reason


def test_a_variant_that_opens_but_cannot_run_is_refused(tiny_lstm: Path) -> None:
    # 3 channels into a 1-channel Conv: the session is created, the first run raises
    check = check_session(tiny_lstm, "ORT_ENABLE_ALL", ["CPUExecutionProvider"], [1, 3, 16, 16])
    assert not check.ok and check.reason.startswith("the first run failed: ")
    assert "\n" not in check.reason


def test_a_stray_module_in_the_current_folder_cannot_shadow_onnxruntime(
    tiny_lstm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "onnxruntime.py").write_text("raise SystemExit('shadowed')\n")
    monkeypatch.chdir(tmp_path)
    assert check_session(tiny_lstm, "ORT_ENABLE_ALL", ["CPUExecutionProvider"], [1, 1, 16, 16]).ok


def _crash_for(name: str, levels: tuple[str, ...] = ("all", "extended")):
    """A checker that segfaults (for real, in a child) for ``name`` at ``levels`` and checks the rest normally.

    ``level`` arrives as a GraphLevel (a str enum: equal to its short name).
    """

    def checker(path: Path, level: str, providers, shape, timeout_s) -> SessionCheck:
        if Path(path).stem == name and level in levels:
            return run_python_check(SEGFAULT, [])
        return check_session(path, level, providers, shape, timeout_s)

    return checker


def test_crashing_variant_is_a_rejected_row(tiny_lstm: Path, labelled_by, tmp_path: Path) -> None:
    samples = labelled_by(tiny_lstm, 8)
    config = OptimizeConfig(variants=["fp16", "int8-dynamic"], latency_runs=0, max_accuracy_drop=100.0)
    result = optimize(tiny_lstm, tmp_path, config, evaluation=samples, session_checker=_crash_for("fp16"))
    fp16 = result.variant("fp16")
    assert fp16.status == "rejected" and fp16.reason == "session creation crashed (signal 11, SIGSEGV)"
    assert fp16.score is None
    assert result.variant("int8-dynamic").status == "accepted"  # the run went on after the crash


def test_crash_only_at_enable_all_falls_back_to_extended_with_a_note(
    tiny_lstm: Path, labelled_by, tmp_path: Path
) -> None:
    samples = labelled_by(tiny_lstm, 8)
    config = OptimizeConfig(variants=["fp16"], latency_runs=0, max_accuracy_drop=100.0)
    checker = _crash_for("fp16", levels=("all",))
    result = optimize(tiny_lstm, tmp_path, config, evaluation=samples, session_checker=checker)
    fp16 = result.variant("fp16")
    assert fp16.status == "accepted" and fp16.session_graph_level == "extended"
    assert "crashed (signal 11, SIGSEGV)" in fp16.notes[0]


def test_a_crashing_fp32_model_is_an_error(tiny_lstm: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot be run by onnxruntime: session creation crashed"):
        optimize(tiny_lstm, tmp_path, OptimizeConfig(variants=["fp32"]), session_checker=_crash_for("fp32"))


def _scripted(results: dict[str, SessionCheck], calls: list[str]):
    """A checker answering from ``results`` by level (no child process), recording the levels it was asked."""

    def checker(path, level, providers, shape, timeout_s) -> SessionCheck:
        calls.append(str(level))
        return results[str(level)]

    return checker


CRASH = SessionCheck(False, "session creation crashed (signal 11, SIGSEGV)", -11)
FAILED = SessionCheck(False, "session creation failed (exit code 3): Fail: bad model", 3)
OK = SessionCheck(True, "", 0)


@pytest.mark.parametrize(
    ("level", "results", "asked", "ok", "final", "note"),
    [
        ("all", {"all": OK}, ["all"], True, "all", False),
        ("all", {"all": CRASH, "extended": OK}, ["all", "extended"], True, "extended", True),
        ("all", {"all": CRASH, "extended": CRASH}, ["all", "extended"], False, "all", False),
        ("all", {"all": FAILED}, ["all"], False, "all", False),  # an error, not a crash: no retry
        ("extended", {"extended": CRASH}, ["extended"], False, "extended", False),  # only "all" falls back
    ],
)
def test_check_with_fallback(level, results, asked, ok, final, note, tmp_path: Path) -> None:
    from edgeseq.optimization.sandbox import check_with_fallback
    from edgeseq.runtime.options import GraphLevel

    calls: list[str] = []
    outcome = check_with_fallback(_scripted(results, calls), tmp_path, GraphLevel(level), ["CPU"], [1], 1.0)
    assert calls == asked and outcome.check.ok is ok and outcome.level == final
    assert (outcome.note is not None) is note
    if note:
        assert outcome.note == (
            "ORT_ENABLE_ALL session creation crashed (signal 11, SIGSEGV); measured at ORT_ENABLE_EXTENDED "
            "— deploy with that level"
        )
