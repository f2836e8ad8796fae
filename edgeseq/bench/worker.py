"""Measuring one row: open the backend, cold run, warm up, timed calls, profile; also as a worker process.

:func:`measure` turns a :class:`~edgeseq.bench.spec.MeasureSpec` into one result row's fields.
``python -m edgeseq.bench.worker`` does the same in a fresh process (spec as JSON on stdin, the row as
one JSON line on stdout), so that peak RSS, allocator arenas and thread pools belong to that row alone;
with ``--serve`` it holds the opened model and takes timed slices on command (see
:mod:`edgeseq.bench.interleave`). A worker imports only the backend its row runs: the peak memory of
an onnxruntime row does not include torch, nor a torch row onnxruntime.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeseq.bench.openvino_backend import open_openvino
from edgeseq.bench.spec import BackendUnavailable, MeasureSpec, OpenedModel, make_input
from edgeseq.bench.timing import Clock, TimingStats, time_callable
from edgeseq.errors import EdgeseqError, first_line

# Warm-up ends when the last WARMUP_WINDOW calls are within WARMUP_STABLE_RATIO of each other (after at
# least warmup_runs calls), or at the caps. 1.5x: steady calls here vary by a few tens of percent on a
# shared machine, while start-up calls were 25-40x the steady time (PyTorch eager, see Measurement.warm_up).
WARMUP_WINDOW = 3
WARMUP_STABLE_RATIO = 1.5
WARMUP_MAX_S = 20.0
WARMUP_MAX_RUNS = 200
INTERLEAVED_REWARM = 1  # untimed calls at the start of each interleaved slice
TORCH_MISSING = "torch is not installed (pip install 'edgeseq[train]')"

Opener = Callable[[MeasureSpec], OpenedModel]


def open_backend(spec: MeasureSpec) -> OpenedModel:
    """Open ``spec``'s model with its backend.

    The onnxruntime and torch sides are imported here, for the rows that run them (see the module docstring).

    Raises:
        BackendUnavailable: the backend cannot run here (not installed, no GPU).
    """
    if spec.backend in ("ort-cpu", "ort-cuda"):
        from edgeseq.bench.ort_backend import open_ort

        return open_ort(spec)
    if spec.backend == "torch":
        try:
            from edgeseq.bench.torch_backend import open_torch
        except ImportError as exc:
            if exc.name != "torch":
                raise
            raise BackendUnavailable(TORCH_MISSING) from None
        return open_torch(spec)
    return open_openvino(spec)


@dataclass(frozen=True)
class Warmup:
    """How the warm-up went: calls made, seconds spent, whether the latency had settled."""

    runs: int
    seconds: float
    steady: bool


def _steady(times: list[int]) -> bool:
    last = times[-WARMUP_WINDOW:]
    return len(last) == WARMUP_WINDOW and max(last) <= WARMUP_STABLE_RATIO * min(last)


class Measurement:
    """One row being measured: open (timed), cold run (timed), warm-up, then timed calls on demand.

    :func:`measure` drives it start to finish; the interleaving worker (``--serve``) drives it in
    slices so that several rows take turns on the cores (see :mod:`edgeseq.bench.interleave`).

    Args:
        spec: the row.
        opener: opens the model (default: the row's backend, :func:`open_backend`).
        clock: the clock read around every call, in nanoseconds.
    """

    def __init__(
        self, spec: MeasureSpec, *, opener: Opener = open_backend, clock: Clock = time.perf_counter_ns
    ) -> None:
        self.spec = spec
        self.clock = clock
        self.info: dict[str, Any] = {"rss_before_mb": _current_rss_mb(), "load_avg_1m": _load_1m()}
        self.samples: list[int] = []
        t0 = clock()
        self.opened = opener(spec)  # BackendUnavailable propagates: the row is skipped
        self.info["session_create_ms"] = (clock() - t0) / 1e6
        self.x = make_input(spec.shape, spec.dtype, spec.seed)
        t0 = clock()
        out = self.opened.infer(self.x)
        self.info["cold_ms"] = (clock() - t0) / 1e6
        self.info["output_shape"] = _output_shape(out)
        self.info["warmup"] = asdict(self.warm_up())

    def warm_up(self) -> Warmup:
        """Untimed calls until steady: at least ``warmup_runs``, then until the last few agree.

        A fixed count is not enough for every backend: PyTorch eager took 500-850 ms per call for
        its first ~6 calls of resnet18-rows-lstm here, then 20 ms (oneDNN setting itself up), so
        three warm-up calls left its slow start inside the timed samples.
        """
        if self.spec.warmup_runs == 0:
            return Warmup(0, 0.0, False)
        clock, infer, x = self.clock, self.opened.infer, self.x
        times: list[int] = []
        start = clock()
        while True:
            t0 = clock()
            infer(x)
            times.append(clock() - t0)
            steady = _steady(times)
            if len(times) >= self.spec.warmup_runs and steady:
                break
            if clock() - start > WARMUP_MAX_S * 1e9 or len(times) >= WARMUP_MAX_RUNS:
                break
        return Warmup(len(times), (clock() - start) / 1e9, steady)

    def run_for(self, time_s: float, min_runs: int, *, rewarm: int = 0) -> list[int]:
        """Timed calls until both ``time_s`` seconds and ``min_runs`` calls; returns their durations (ns).

        ``rewarm`` untimed calls come first: after sitting idle while other rows ran, a backend's
        threads and caches need a call to wake up (the interleaved mode passes 1).
        """
        infer, x, clock = self.opened.infer, self.x, self.clock
        for _ in range(rewarm):
            infer(x)
        deadline_ns = int(time_s * 1e9)
        out: list[int] = []
        start = clock()
        while True:
            t0 = clock()
            infer(x)
            t1 = clock()
            out.append(t1 - t0)
            if len(out) >= min_runs and t1 - start >= deadline_ns:
                break
        self.samples.extend(out)
        return out

    def time_loop(self) -> TimingStats:
        """The timed loop of :func:`measure`: ``time_callable`` with the spec's knobs, warm-up already done."""
        spec = self.spec
        stats = time_callable(
            lambda: self.opened.infer(self.x),
            min_time_s=spec.min_time_s,
            min_runs=spec.min_runs,
            warmup_runs=0,  # warm_up() already ran
            max_time_s=spec.max_time_s,
            clock=self.clock,
        )
        return TimingStats.from_samples(stats.samples_ns, warmup_runs=spec.warmup_runs, total_time_s=stats.total_time_s)

    def finish(self, stats: TimingStats | None = None) -> dict[str, Any]:
        """Close the backend, run its profiler if asked, and return the row's fields."""
        stats = stats or TimingStats.from_samples(self.samples, warmup_runs=self.spec.warmup_runs)
        row: dict[str, Any] = {
            "provider": self.opened.provider,
            "precision": self.opened.precision,
            "settings": self.opened.settings,
            "timing": stats.to_json(),
            **self.info,
        }
        self.opened.close()
        if self.spec.profile and self.opened.profile is not None:
            row["stages_ms"] = self.opened.profile(self.x)
        row["peak_rss_mb"] = _peak_rss_mb()
        return row


def failure_line(spec: MeasureSpec, exc: Exception) -> str:
    """One line for a backend that failed to open or run a model (e.g. OpenVINO and com.microsoft ops)."""
    return f"failed: {spec.backend} could not run this model: {first_line(exc, 200, with_type=True)}"


def measure(spec: MeasureSpec, *, opener: Opener = open_backend, clock: Clock = time.perf_counter_ns) -> dict[str, Any]:
    """Open, cold-run, warm up and time one configuration; return its result row fields.

    A backend that cannot run here gives ``{"skipped": reason}`` instead of raising.
    """
    try:
        m = Measurement(spec, opener=opener, clock=clock)
    except BackendUnavailable as exc:
        return {"skipped": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a backend that cannot open a model is a row, not a crash
        return {"skipped": failure_line(spec, exc)}
    return m.finish(m.time_loop())


# ---------------------------------------------------------------------------------------------
# What the row's process used


def _current_rss_mb() -> float | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _load_1m() -> float | None:
    """The 1-minute load average: other processes on the cores make every number slower and noisier."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not available on this OS
        return None


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB.

    ``VmHWM`` from /proc belongs to this address space alone. ``ru_maxrss`` is the fallback
    elsewhere; on Linux it survives fork+exec, so a worker would report its parent's peak if the
    parent was larger (a parent that imported torch made every worker look 855 MB).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10  # kB
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def _output_shape(out: Any) -> list[int] | None:
    first = out[0] if isinstance(out, (list, tuple)) else out
    if isinstance(first, dict) or not hasattr(first, "shape"):
        values = list(out.values()) if hasattr(out, "values") else []
        first = values[0] if values else None
    shape = getattr(first, "shape", None)
    return [int(d) for d in shape] if shape is not None else None


# ---------------------------------------------------------------------------------------------
# The worker process


def _reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def _serve() -> int:
    """Interleaving worker: first line a spec; then commands ``{"run": [time_s, min_runs]}`` / ``{"finish": 1}``."""
    spec = MeasureSpec(**json.loads(sys.stdin.readline()))
    try:
        m = Measurement(spec)
    except BackendUnavailable as exc:
        _reply({"skipped": str(exc)})
        return 0
    except Exception as exc:  # noqa: BLE001 - a backend that cannot open a model is a row, not a crash
        _reply({"skipped": failure_line(spec, exc)})
        return 0
    _reply({"ready": True})
    for line in sys.stdin:
        cmd = json.loads(line)
        if "run" in cmd:
            time_s, min_runs = cmd["run"]
            _reply({"samples_ns": m.run_for(float(time_s), int(min_runs), rewarm=INTERLEAVED_REWARM)})
        elif "finish" in cmd:
            _reply(m.finish())
            return 0
    return 0


def main(argv: list[str] | None = None) -> int:
    """The worker's entry point: ``--serve`` for the interleaving protocol, else one spec on stdin, one row out."""
    args = sys.argv[1:] if argv is None else argv
    try:
        if "--serve" in args:
            return _serve()
        row = measure(MeasureSpec(**json.loads(sys.stdin.read())))
    except EdgeseqError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    _reply(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
