"""Interleaved measurement: every row in its own worker process, taking turns on the cores.

On a shared machine the load drifts (other jobs, clock frequency). Measuring rows one after the
other lets that drift land on whichever row ran at the wrong moment; here each row's timed calls
are split into ``rounds`` slices and every round visits the rows in a fresh random order, so drift
spreads over all rows alike and side-by-side ratios stay fair. Each row still has its own process
(its own peak RSS, thread pools and allocator) and only one row runs at a time; the others wait
blocked on a pipe read. The pause after a spinning row is an injectable ``sleep``, so tests
need not wait for it.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

from edgeseq.bench.processes import WORKER_TIMEOUT_MARGIN_S, death_line, worker_command, worker_env
from edgeseq.bench.spec import MeasureSpec
from edgeseq.bench.timing import TimingStats
from edgeseq.errors import EdgeseqError

# onnxruntime's intra-op threads keep spinning for about 30 ms after a run when spinning is allowed
# (measured here: 30 ms of CPU in the 30 ms after the last call, then none). A row that spins is given
# this long to go quiet before the next row's slice, or its spinning threads would take the next row's cores.
SPIN_SETTLE_S = 0.05

Sleep = Callable[[float], None]
_T = TypeVar("_T")


class _Worker:
    """A ``python -m edgeseq.bench.worker --serve`` process holding one opened model."""

    def __init__(self, spec: MeasureSpec, python: str | None = None) -> None:
        self.spec = spec
        # stderr to a file, not a pipe: nobody reads it until the end, and a full pipe would block the worker
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            worker_command(python, "--serve"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=worker_env(spec.threads),
        )
        self.samples: list[int] = []
        self.skipped: str | None = None

    def _send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None  # Popen(stdin=PIPE) always sets it
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def _receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None  # Popen(stdout=PIPE) always sets it
        for line in self.proc.stdout:  # skip anything a library printed to stdout
            line = line.strip()
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    continue
        raise EdgeseqError(self._death())

    def _death(self) -> str:
        """Why the worker is gone: its exit status and the last line it wrote to stderr."""
        code = self.proc.wait(timeout=WORKER_TIMEOUT_MARGIN_S)
        self._stderr.seek(0)
        return death_line(self.spec.backend, code, self._stderr.read())

    def guarded(self, fn: Callable[..., _T], *args: Any) -> _T | None:
        """Call ``fn``; a worker that died becomes a failed row (its reason kept) instead of ending the run."""
        try:
            return fn(*args)
        except EdgeseqError as exc:
            self.skipped = f"failed: {exc}"
        except OSError:  # a broken pipe: the worker is gone
            self.skipped = f"failed: {self._death()}"
        self.kill()
        return None

    def ready(self) -> bool:
        """Send the spec; False when the worker could not open the model (the row is skipped)."""
        self._send(asdict(self.spec))
        reply = self._receive()
        if "skipped" in reply:
            self.skipped = reply["skipped"]
            self.proc.wait(timeout=WORKER_TIMEOUT_MARGIN_S)
            return False
        return True

    def run(self, time_s: float, min_runs: int) -> None:
        """One timed slice: the worker's samples are added to this row's."""
        self._send({"run": [time_s, min_runs]})
        self.samples.extend(self._receive()["samples_ns"])

    def finish(self) -> dict[str, Any]:
        """The row's fields, its timing computed from every slice's samples."""
        self._send({"finish": 1})
        row = self._receive()
        self.proc.wait(timeout=WORKER_TIMEOUT_MARGIN_S)
        stats = TimingStats.from_samples(self.samples, warmup_runs=self.spec.warmup_runs)
        row["timing"] = stats.to_json()
        return row

    def kill(self) -> None:
        """End the worker if it still runs, and close its stderr file."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


def _let_spinning_threads_settle(sleep: Sleep) -> None:
    sleep(SPIN_SETTLE_S)


def measure_interleaved(
    specs: list[MeasureSpec], *, rounds: int, seed: int = 0, python: str | None = None, sleep: Sleep = time.sleep
) -> list[dict[str, Any]]:
    """Measure ``specs`` in ``rounds`` interleaved rounds; returns one result dict per spec, in order.

    Each round gives every row ``min_time_s / rounds`` seconds and ``ceil(min_runs / rounds)``
    calls, in a random order drawn from ``seed``; after a spinning row's slice the next waits
    :data:`SPIN_SETTLE_S`. Workers start one at a time (session creation
    and the cold run are timed without a neighbour competing) and stay alive until the end. A
    worker that dies becomes a ``{"skipped": "failed: ..."}`` row; the others carry on.

    Args:
        specs: the rows.
        rounds: slices per row.
        seed: seed of the visiting order.
        python: the interpreter of the workers (default: this one).
        sleep: waits that many seconds (the settling pause after a spinning row).
    """
    rng = random.Random(seed)
    workers: list[_Worker] = []
    try:
        for spec in specs:
            w = _Worker(spec, python)
            workers.append(w)
            w.guarded(w.ready)
        for _ in range(rounds):
            order = [w for w in workers if w.skipped is None]
            rng.shuffle(order)
            for w in order:
                w.guarded(w.run, w.spec.min_time_s / rounds, math.ceil(w.spec.min_runs / rounds))
                if w.spec.spinning:
                    _let_spinning_threads_settle(sleep)
        results = []
        for w in workers:
            row = w.guarded(w.finish) if w.skipped is None else None
            results.append(row if row is not None else {"skipped": w.skipped})
        return results
    finally:
        for w in workers:
            w.kill()
