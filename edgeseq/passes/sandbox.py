"""Create (and run once) an onnxruntime session in a child process, so a crash cannot kill the caller.

onnxruntime 1.32 segfaulted while *creating a session* for an FP16 LSTM model at ``ORT_ENABLE_ALL``
(ONNX-TRAPS #13). A variant is therefore first opened in a fresh ``python`` process; a crash there
becomes a :class:`SessionCheck` with ``ok=False`` and a reason such as
``"session creation crashed (signal 11, SIGSEGV)"``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeseq.runtime.safety import describe_returncode

# Creating a session for a small model takes well under a second; a large one with ORT_ENABLE_ALL a few.
DEFAULT_TIMEOUT_S = 120.0

# Runs in the child: open the session, feed one input of the declared shape (symbolic dims -> 1),
# print "OK". Any Python exception exits 3 with its message on stderr; a native crash dies by a signal.
_CHILD_CODE = r"""
import json, sys
import numpy as np
import onnxruntime as ort
path, level, providers, shape = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
so = ort.SessionOptions()
so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
so.intra_op_num_threads = 1
try:
    sess = ort.InferenceSession(path, so, providers=providers)
    inp = sess.get_inputs()[0]
    if shape is None:
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
    dtype = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8}.get(inp.type, np.float32)
    sess.run(None, {inp.name: np.zeros(shape, dtype=dtype)})
except Exception as exc:
    sys.stderr.write(f"{type(exc).__name__}: {exc}"[:500])
    sys.exit(3)
print("OK")
"""


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


def run_python_check(code: str, args: Sequence[str], timeout_s: float = DEFAULT_TIMEOUT_S) -> SessionCheck:
    """Run ``python -c code args...`` and turn its fate into a :class:`SessionCheck`.

    Success means exit code 0 and ``OK`` on stdout. A signal, a non-zero exit or a timeout is a
    failure whose reason names it; this function itself never raises for the child's fate.
    """
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return SessionCheck(False, f"session creation timed out after {timeout_s:g} s", None)
    if proc.returncode == 0 and "OK" in proc.stdout:
        return SessionCheck(True, "", 0)
    if proc.returncode < 0:
        return SessionCheck(
            False, f"session creation crashed ({describe_returncode(proc.returncode)})", proc.returncode
        )
    detail = (proc.stderr.strip().splitlines() or ["no message"])[-1][:300]
    return SessionCheck(
        False, f"session creation failed ({describe_returncode(proc.returncode)}): {detail}", proc.returncode
    )


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
        input_shape: the input shape to feed; ``None`` uses the declared shape with symbolic dims as 1.
        timeout_s: give up (and report) after this many seconds.
    """
    shape = None if input_shape is None else [int(d) for d in input_shape]
    return run_python_check(
        _CHILD_CODE, [str(path), graph_level, json.dumps(list(providers)), json.dumps(shape)], timeout_s
    )
