"""Create (and run once) an onnxruntime session in a child process, so a crash cannot kill the caller.

onnxruntime 1.32 segfaulted while *creating a session* for an FP16 LSTM model at ``ORT_ENABLE_ALL``
(docs/traps.md #13). A variant is therefore first opened in a fresh ``python`` process (the same child
that :mod:`edgeseq.runtime.safety` uses for untrusted models); a crash there becomes a
:class:`SessionCheck` with ``ok=False`` and a reason such as ``"session creation crashed (signal 11,
SIGSEGV)"``. Unlike the untrusted-model probe, a variant must also run once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeseq.runtime.safety import ChildResult, describe_returncode, open_session_in_child, run_python_child

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


# The signature injectable into edgeseq.optimization (tests pass a deliberately crashing one).
SessionChecker = Callable[..., SessionCheck]  # same parameters as check_session


def judge_child(child: ChildResult, timeout_s: float) -> SessionCheck:
    """A variant passes when its child exited 0 after running once (``RAN``); anything else is a reason."""
    if child.timed_out:
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
    graph_level: str,
    providers: Sequence[str],
    input_shape: Sequence[int] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> SessionCheck:
    """Open ``path`` with onnxruntime in a child process and run it once on zeros.

    Args:
        path: the .onnx or .ort model.
        graph_level: a ``GraphOptimizationLevel`` member name, e.g. ``"ORT_ENABLE_ALL"``.
        providers: execution providers, in order.
        input_shape: the input shape to feed; ``None`` uses the declared shape with dynamic dims filled.
        timeout_s: give up (and report) after this many seconds.
    """
    child = open_session_in_child(
        path, graph_level, providers, run_once=True, input_shape=input_shape, timeout_s=timeout_s
    )
    return judge_child(child, timeout_s)
