"""Statistics of edgeseq.bench.timing on synthetic timings with known answers."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgeseq.bench.timing import P999_MIN_SAMPLES, TimingStats, time_callable
from edgeseq.errors import ConfigError


def test_percentiles_of_1_to_100_ms():
    # 1..100 ms: numpy's linear interpolation gives p50 = 50.5, p90 = 90.1, p99 = 99.01 exactly.
    stats = TimingStats.from_samples([i * 1_000_000 for i in range(1, 101)])
    assert stats.n == 100
    assert stats.p50_ms == pytest.approx(50.5)
    assert stats.p90_ms == pytest.approx(90.1)
    assert stats.p99_ms == pytest.approx(99.01)
    assert stats.p999_ms is None  # too few samples for p99.9
    assert stats.mean_ms == pytest.approx(50.5)
    assert stats.std_ms == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    assert (stats.min_ms, stats.max_ms) == (1.0, 100.0)


def test_p999_only_with_enough_samples():
    samples = [1_000_000] * (P999_MIN_SAMPLES - 1) + [50_000_000]
    stats = TimingStats.from_samples(samples)
    assert stats.p999_ms is not None
    assert 1.0 < stats.p999_ms <= 50.0
    assert TimingStats.from_samples(samples[1:]).p999_ms is None


def test_throughput_scales_with_batch():
    stats = TimingStats.from_samples([4_000_000] * 10)  # 4 ms per call
    assert stats.throughput(1) == pytest.approx(250.0)
    assert stats.throughput(8) == pytest.approx(2000.0)
    with pytest.raises(ConfigError, match="batch"):
        stats.throughput(0)


def test_to_json_keys_and_optional_samples():
    stats = TimingStats.from_samples([1, 2, 3])
    js = stats.to_json()
    assert {"n", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "mean_ms", "std_ms", "min_ms", "max_ms"} <= set(js)
    assert "samples_ns" not in js
    assert stats.to_json(include_samples=True)["samples_ns"] == [1, 2, 3]


def test_empty_or_negative_samples_refused():
    with pytest.raises(ConfigError, match="at least one sample"):
        TimingStats.from_samples([])
    with pytest.raises(ConfigError, match="non-negative"):
        TimingStats.from_samples([5, -1])


def test_time_callable_meets_min_runs_and_excludes_warmup():
    calls = []
    stats = time_callable(lambda: calls.append(1), min_time_s=0.0, min_runs=25, warmup_runs=4)
    assert stats.n == 25
    assert len(calls) == 29  # 4 warm-up calls untimed
    assert stats.warmup_runs == 4


class FakeClock:
    """perf_counter_ns stand-in: the timed function advances it by a fixed step (deterministic on a busy CI)."""

    def __init__(self, step_ns: int) -> None:
        self.now = 0
        self.step_ns = step_ns

    def __call__(self) -> int:
        return self.now

    def work(self) -> None:
        self.now += self.step_ns


def test_time_callable_meets_min_time():
    clock = FakeClock(10_000_000)  # every call takes 10 ms
    stats = time_callable(clock.work, min_time_s=0.1, min_runs=1, warmup_runs=2, clock=clock)
    assert stats.n == 10  # 10 x 10 ms reaches the 0.1 s minimum
    assert stats.p50_ms == pytest.approx(10.0)
    assert stats.total_time_s == pytest.approx(0.1)


def test_time_callable_stops_at_max_time():
    clock = FakeClock(10_000_000)
    stats = time_callable(clock.work, min_time_s=0.0, min_runs=10_000, warmup_runs=0, max_time_s=0.05, clock=clock)
    assert stats.n == 5  # capped by max_time_s long before min_runs
    assert stats.total_time_s == pytest.approx(0.05)


def test_time_callable_real_clock_smoke():
    stats = time_callable(lambda: time.sleep(0.001), min_time_s=0.01, min_runs=3, warmup_runs=1)
    assert stats.n >= 3
    assert stats.min_ms >= 1.0  # sleep never returns early
    assert stats.total_time_s >= 0.01


@pytest.mark.parametrize(
    "kwargs", [{"min_time_s": -1}, {"min_runs": 0}, {"warmup_runs": -1}, {"min_time_s": 2, "max_time_s": 1}]
)
def test_time_callable_refuses_bad_options(kwargs):
    with pytest.raises(ConfigError):
        time_callable(lambda: None, **kwargs)
