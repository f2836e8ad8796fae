"""Open (and run once) every variant in a child process first, so a crash cannot kill the caller.

onnxruntime 1.32 segfaulted while *creating a session* for an FP16 LSTM model at ``ORT_ENABLE_ALL``
(docs/traps.md #13). A variant is therefore first opened in a fresh ``python`` process
(:func:`edgeseq.runtime.isolation.open_session_in_child`, the child that untrusted models are probed in);
a crash there becomes a :class:`SessionCheck` with ``ok=False`` and a reason such as ``"session creation
crashed (signal 11, SIGSEGV)"``. Unlike the untrusted-model probe, a variant must also run once.
:func:`check_with_fallback` retries a variant that crashed at ``all`` at ``extended``, where that trap's
model worked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeseq.memory import memory_limit
from edgeseq.runtime.isolation import ChildResult, describe_returncode, open_session_in_child, run_python_child
from edgeseq.runtime.options import GraphLevel

# Creating a session for a small model takes well under a second; a large one with ORT_ENABLE_ALL a few.
DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class SessionCheck:
    """Outcome of opening a model in a child process."""

    ok: bool
    reason: str = ""  # "" when ok, else one line
    returncode: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


# The signature injectable into edgeseq.optimization.optimize (tests pass a deliberately crashing one):
# checker(path, graph_level: GraphLevel, providers, input_shape, timeout_s) -> SessionCheck.
SessionChecker = Callable[..., SessionCheck]


def judge_child(child: ChildResult, timeout_s: float) -> SessionCheck:
    """A variant passes when its child exited 0 after running once (``RAN``); anything else is a reason."""
    if child.returncode is None:  # killed after the timeout
        return SessionCheck(False, f"session creation timed out after {timeout_s:g} s", None)
    if child.returncode == 0 and "RAN" in child.stdout:
        return SessionCheck(True, "", 0)
    if child.crashed:
        stage = "the first run" if "CREATED" in child.stdout else "session creation"
        return SessionCheck(False, f"{stage} crashed ({describe_returncode(child.returncode)})", child.returncode)
    if child.returncode == 0 and "PROBE-FAILED" in child.stdout:
        detail = child.stdout.split("PROBE-FAILED", 1)[1].strip().splitlines()[0][:300]
        return SessionCheck(False, f"the first run failed: {detail}", 0)
    return SessionCheck(
        False,
        f"session creation failed ({describe_returncode(child.returncode)}): {child.last_error_line()}",
        child.returncode,
    )


def run_python_check(code: str, args: Sequence[str], timeout_s: float = DEFAULT_TIMEOUT_S) -> SessionCheck:
    """Run ``python -c code args...`` in a child and judge it as :func:`check_session` does (tests use it)."""
    return judge_child(run_python_child(code, args, timeout_s), timeout_s)


def check_session(
    path: Path,
    graph_level: str | GraphLevel,
    providers: Sequence[str],
    input_shape: Sequence[int] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> SessionCheck:
    """Open ``path`` with onnxruntime in a child process and run it once on zeros.

    Args:
        path: the .onnx or .ort model.
        graph_level: a :class:`GraphLevel`, its short name (``"all"``) or an ORT member name
            (``"ORT_ENABLE_ALL"``).
        providers: execution providers, in order.
        input_shape: the input shape to feed; ``None`` uses the declared shape with dynamic dims filled.
        timeout_s: give up (and report) after this many seconds.

    Raises:
        ConfigError: ``graph_level`` names no level.
    """
    child = open_session_in_child(
        path,
        graph_level,
        providers,
        run_once=True,
        input_shape=input_shape,
        timeout_s=timeout_s,
        memory_limit=memory_limit(),  # a variant that allocates more fails in the child, not on the machine
    )
    return judge_child(child, timeout_s)


@dataclass(frozen=True)
class CheckOutcome:
    """What :func:`check_with_fallback` found: the final check, the level it holds for, and a note when it fell back."""

    check: SessionCheck
    level: GraphLevel
    note: str | None = None


def check_with_fallback(
    checker: SessionChecker,
    path: Path,
    level: GraphLevel,
    providers: Sequence[str],
    input_shape: Sequence[int],
    timeout_s: float,
) -> CheckOutcome:
    """Check ``path`` at ``level``; a crash at ``all`` is retried at ``extended`` (docs/traps.md #13).

    Args:
        checker: :func:`check_session` or a stand-in with its parameters.
        path: the variant file.
        level: the session level every variant is measured at.
        providers: execution providers, in order.
        input_shape: the first input's shape for the run.
        timeout_s: per check.

    Returns:
        The outcome; when the retry worked, its level is ``extended`` and the note says to deploy with it.
    """
    check = checker(path, level, providers, input_shape, timeout_s)
    crashed = check.returncode is not None and check.returncode < 0
    if check.ok or not crashed or level != GraphLevel.ALL:
        return CheckOutcome(check, level)
    fallback = GraphLevel.EXTENDED
    retry = checker(path, fallback, providers, input_shape, timeout_s)
    if not retry.ok:
        return CheckOutcome(check, level)
    note = f"{level.ort_name} {check.reason}; measured at {fallback.ort_name} — deploy with that level"
    return CheckOutcome(retry, fallback, note)
