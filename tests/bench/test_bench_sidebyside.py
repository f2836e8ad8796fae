"""Side-by-side latency with a fake clock: the rounds, the order, the warm-up and the pauses, not time.sleep."""

from __future__ import annotations

import types

import numpy as np
import pytest

from edgeseq.bench.sidebyside import LATENCY_WARMUP, batch_one_feed, interleaved_latency_ns, round_plan


class FakeClock:
    """Each read advances by the cost of the session that runs next (set by FakeSession.run)."""

    def __init__(self) -> None:
        self.now = 0
        self.pending = 0

    def __call__(self) -> int:
        self.now += self.pending
        self.pending = 0
        return self.now


class FakeSession:
    """Looks like an onnxruntime session: one input; each run "costs" ``cost_ns`` on the fake clock."""

    def __init__(self, name: str, cost_ns: int, clock: FakeClock, log: list[str], input_type: str = "tensor(float)"):
        self.name, self.cost_ns, self.clock, self.log = name, cost_ns, clock, log
        self.input_type = input_type
        self.feeds: list[dict] = []

    def get_inputs(self):
        return [types.SimpleNamespace(name="images", type=self.input_type)]

    def run(self, outputs, feed):
        self.log.append(self.name)
        self.feeds.append(feed)
        self.clock.pending = self.cost_ns


def _sessions(costs: dict[str, int]):
    clock, log = FakeClock(), []
    return {name: FakeSession(name, cost, clock, log) for name, cost in costs.items()}, clock, log


def test_every_timed_call_gets_exactly_its_own_cost() -> None:
    sessions, clock, _ = _sessions({"fast": 1_000, "slow": 3_000})
    sleeps: list[float] = []
    times = interleaved_latency_ns(
        sessions, np.zeros((1, 4, 4), np.float32), runs=8, rounds=2, clock=clock, sleep=sleeps.append
    )
    assert times == {"fast": [1_000] * 8, "slow": [3_000] * 8}
    assert sleeps == []  # pause_s=0: never sleeps


def test_rounds_warm_up_wake_and_pause() -> None:
    sessions, clock, log = _sessions({"a": 10, "b": 20, "c": 30})
    sleeps: list[float] = []
    times = interleaved_latency_ns(
        sessions,
        np.zeros((1, 4, 4), np.float32),
        runs=6,
        rounds=3,
        seed=1,
        pause_s=0.05,
        clock=clock,
        sleep=sleeps.append,
    )
    assert {name: len(t) for name, t in times.items()} == {"a": 6, "b": 6, "c": 6}
    warmup, timed = log[: 3 * LATENCY_WARMUP], log[3 * LATENCY_WARMUP :]
    assert warmup == ["a"] * LATENCY_WARMUP + ["b"] * LATENCY_WARMUP + ["c"] * LATENCY_WARMUP
    # each round visits every session once: one untimed wake-up call, then 2 timed calls, then a pause
    slices = [timed[i : i + 3] for i in range(0, len(timed), 3)]
    assert len(slices) == 9 and all(len(set(s)) == 1 for s in slices)
    visits = [s[0] for s in slices]
    assert all(sorted(visits[r * 3 : r * 3 + 3]) == ["a", "b", "c"] for r in range(3))
    assert sleeps == [0.05] * 9


def test_the_visiting_order_depends_on_the_seed_only() -> None:
    def order(seed: int) -> list[str]:
        sessions, clock, log = _sessions({name: 1 for name in "abcdef"})
        interleaved_latency_ns(sessions, np.zeros(3, np.float32), runs=4, rounds=4, seed=seed, clock=clock)
        return log[6 * LATENCY_WARMUP :: 2]  # the wake-up call of each slice (1 timed call per round)

    assert order(7) == order(7)
    assert order(7) != order(8)


@pytest.mark.parametrize(
    ("runs", "rounds", "plan"), [(50, None, (12, 5)), (9, 3, (3, 3)), (10, 3, (3, 4)), (1, None, (1, 1))]
)
def test_round_plan_makes_at_least_the_runs_asked(runs: int, rounds: int | None, plan: tuple[int, int]) -> None:
    assert round_plan(runs, rounds) == plan
    assert plan[0] * plan[1] >= runs


def test_feeds_are_batch_one_in_the_inputs_dtype() -> None:
    clock, log = FakeClock(), []
    half = FakeSession("h", 1, clock, log, input_type="tensor(float16)")
    feed = batch_one_feed(half, np.ones((1, 2, 3), np.float32))
    assert feed["images"].shape == (1, 1, 2, 3) and feed["images"].dtype == np.float16
    pixels = FakeSession("u", 1, clock, log, input_type="tensor(uint8)")
    assert batch_one_feed(pixels, np.ones((2, 3, 1), np.float32))["images"].dtype == np.uint8
