"""Latency measurement and its statistics (standard library + numpy only).

Timing rules (the ones users can trust): ``time.perf_counter_ns`` around each call, warm-up
calls excluded, and the loop runs until *both* a minimum wall time and a minimum number of
timed calls are reached (capped by a maximum time), so a fast model gets many samples and a
slow one still gets enough for a p90. The clock is a parameter (``clock: Callable[[], int]``,
nanoseconds), so tests drive the loop with a fake clock instead of relying on ``time.sleep``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeseq.bench.options import TimingOptions
from edgeseq.errors import ConfigError

# p99.9 from fewer than 1000 samples is just the maximum under another name; report None instead.
P999_MIN_SAMPLES = 1000
# p99 from fewer than 100 samples is likewise the maximum; it is still reported (users expect a
# p99 column) but `p99_reliable` says whether it is more than the max in disguise.
P99_MIN_SAMPLES = 100

_NS_PER_MS = 1e6

Clock = Callable[[], int]  # a monotonic clock in nanoseconds, e.g. time.perf_counter_ns


@dataclass(frozen=True)
class TimingStats:
    """Latency statistics of one measured configuration; times in milliseconds.

    Attributes:
        samples_ns: every timed call's duration in nanoseconds (warm-up excluded), in run order.
        n: number of timed calls.
        p50_ms, p90_ms, p99_ms: percentiles (linear interpolation, numpy's default).
        p999_ms: the 99.9th percentile, only when ``n >= 1000`` (else ``None``).
        mean_ms, std_ms, min_ms, max_ms: the usual; ``std_ms`` is the sample std (ddof=1).
        warmup_runs: untimed calls made before the timed ones.
        total_time_s: wall time of the timed loop.
    """

    samples_ns: tuple[int, ...] = field(repr=False)
    n: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float | None
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    warmup_runs: int = 0
    total_time_s: float = 0.0

    @classmethod
    def from_samples(
        cls, samples_ns: Sequence[int], *, warmup_runs: int = 0, total_time_s: float | None = None
    ) -> TimingStats:
        """Compute statistics from per-call durations in nanoseconds.

        Raises:
            ConfigError: no samples, or a negative duration.
        """
        samples = tuple(int(s) for s in samples_ns)
        if not samples:
            raise ConfigError("timing needs at least one sample; got none")
        if min(samples) < 0:
            raise ConfigError(f"timing samples must be non-negative nanoseconds; got {min(samples)}")
        ms = np.asarray(samples, dtype=np.float64) / _NS_PER_MS
        n = len(samples)
        p50, p90, p99 = (float(v) for v in np.percentile(ms, [50, 90, 99]))
        p999 = float(np.percentile(ms, 99.9)) if n >= P999_MIN_SAMPLES else None
        std = float(ms.std(ddof=1)) if n > 1 else 0.0
        return cls(
            samples_ns=samples,
            n=n,
            p50_ms=p50,
            p90_ms=p90,
            p99_ms=p99,
            p999_ms=p999,
            mean_ms=float(ms.mean()),
            std_ms=std,
            min_ms=float(ms.min()),
            max_ms=float(ms.max()),
            warmup_runs=warmup_runs,
            total_time_s=float(ms.sum() / 1e3) if total_time_s is None else float(total_time_s),
        )

    @property
    def p99_reliable(self) -> bool:
        """Whether enough samples were taken for p99 to differ from the maximum."""
        return self.n >= P99_MIN_SAMPLES

    def throughput(self, batch: int = 1) -> float:
        """Images per second at the median latency for ``batch`` images per call."""
        if batch <= 0:
            raise ConfigError(f"batch must be a positive integer; got {batch}")
        return batch * 1e3 / self.p50_ms if self.p50_ms > 0 else math.inf

    def to_json(self, *, include_samples: bool = False) -> dict[str, Any]:
        """A JSON-able dict of the statistics (samples only when asked: they can be large)."""
        out: dict[str, Any] = {
            "n": self.n,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "p999_ms": self.p999_ms,
            "mean_ms": self.mean_ms,
            "std_ms": self.std_ms,
            "min_ms": self.min_ms,
            "max_ms": self.max_ms,
            "warmup_runs": self.warmup_runs,
            "total_time_s": self.total_time_s,
        }
        if include_samples:
            out["samples_ns"] = list(self.samples_ns)
        return out


def time_callable(
    fn: Callable[[], Any],
    *,
    min_time_s: float = TimingOptions.min_time_s,
    min_runs: int = TimingOptions.min_runs,
    warmup_runs: int = TimingOptions.warmup_runs,
    max_time_s: float = TimingOptions.max_time_s,
    clock: Clock = time.perf_counter_ns,
) -> TimingStats:
    """Time ``fn()`` repeatedly and return its latency statistics.

    Runs ``warmup_runs`` untimed calls, then timed calls until both ``min_time_s`` of timed
    wall time and ``min_runs`` calls are reached, stopping early only when ``max_time_s`` is
    exceeded (at least one timed call is always made).

    Args:
        fn: the zero-argument call to time (bind inputs beforehand, e.g. with a lambda).
        min_time_s, min_runs, warmup_runs, max_time_s: see :class:`~edgeseq.bench.options.TimingOptions`.
        clock: the clock read around each call, in nanoseconds.

    Returns:
        TimingStats over the timed calls.

    Raises:
        ConfigError: a negative time or count, or ``max_time_s < min_time_s``.
    """
    TimingOptions(min_time_s=min_time_s, min_runs=min_runs, warmup_runs=warmup_runs, max_time_s=max_time_s)
    for _ in range(warmup_runs):
        fn()

    min_ns = int(min_time_s * 1e9)
    max_ns = int(max_time_s * 1e9)
    samples: list[int] = []
    loop_start = clock()
    elapsed = 0
    while True:
        t0 = clock()
        fn()
        t1 = clock()
        samples.append(t1 - t0)
        elapsed = t1 - loop_start
        if elapsed >= max_ns:
            break
        if len(samples) >= min_runs and elapsed >= min_ns:
            break
    return TimingStats.from_samples(samples, warmup_runs=warmup_runs, total_time_s=elapsed / 1e9)
