"""Rows measured in worker processes (``python -m edgeseq.bench.worker``): the parent's side.

A fresh process per row gives each row its own peak RSS, allocator arenas and thread pools; a worker
that crashes (onnxruntime segfaulted creating FP16 sessions, docs/traps.md #13) fails its row only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgeseq.bench.spec import MeasureSpec
from edgeseq.runtime.isolation import describe_returncode

WORKER_MODULE = "edgeseq.bench.worker"
# A worker that takes longer than this is stuck (the timed loop itself is capped by max_time_s).
WORKER_TIMEOUT_MARGIN_S = 300.0
# The last stderr line quoted for a worker that died.
STDERR_LINE_CHARS = 200


def worker_command(python: str | None = None, *args: str) -> list[str]:
    """The command line of a worker process (``python`` defaults to this interpreter)."""
    return [python or sys.executable, "-m", WORKER_MODULE, *args]


def worker_env(threads: int) -> dict[str, str]:
    """Environment of a worker process: this one's, with the repository importable and OpenMP sized."""
    env = dict(os.environ)
    # torch/OpenMP read this at start-up; the backend's own thread setting is applied as well.
    env["OMP_NUM_THREADS"] = str(threads)
    repo_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo_root, env.get("PYTHONPATH", "")) if p)
    return env


def death_line(backend: str, returncode: int, stderr: str) -> str:
    """Why a worker is gone: ``the <backend> worker ended with <status>: <its last stderr line>``."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    detail = lines[-1][:STDERR_LINE_CHARS] if lines else "no output"
    return f"the {backend} worker ended with {describe_returncode(returncode)}: {detail}"


def measure_isolated(spec: MeasureSpec, *, python: str | None = None) -> dict[str, Any]:
    """:func:`edgeseq.bench.worker.measure` in a fresh Python process, so peak RSS belongs to this row alone.

    A worker that crashes or exits with an error gives ``{"skipped": "failed: ..."}`` (its exit
    status and last stderr line), so one bad backend/model pair does not end the run.
    """
    proc = subprocess.run(
        worker_command(python),
        input=json.dumps(asdict(spec)),
        capture_output=True,
        text=True,
        env=worker_env(spec.threads),
        timeout=spec.max_time_s + WORKER_TIMEOUT_MARGIN_S,
    )
    if proc.returncode != 0:
        # a crash inside a backend is this row's result, not the end of the run
        return {"skipped": f"failed: {death_line(spec.backend, proc.returncode, proc.stderr)}"}
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"skipped": f"failed: the {spec.backend} worker printed no result"}
