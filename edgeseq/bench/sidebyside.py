"""Side-by-side latency of several in-process ONNX Runtime sessions, in interleaved rounds.

The optimizer's accuracy gate times every accepted variant here (batch 1): each round visits every
session in a fresh random order and times a few calls of each, so drift of a shared machine (other
jobs, clock frequency) spreads over all sessions alike instead of landing on whichever ran at the wrong
moment. :mod:`edgeseq.bench.interleave` does the same with one worker process per row.

The clock and the sleep are parameters (``time.perf_counter_ns`` and ``time.sleep`` by default), so
tests drive the rounds with a fake clock instead of depending on how well ``time.sleep`` keeps time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from edgeseq.bench.timing import time_callable

# Batch-1 latency runs per variant: enough for a stable median on a 2-core machine without
# making `edgeseq optimize` slow (a 224x224 ResNet-18 variant takes ~10-30 ms per run).
DEFAULT_LATENCY_RUNS = 50
# The first runs pay allocation and kernel selection (docs/traps.md #16).
LATENCY_WARMUP = 5
# Tiny models run in microseconds: time at least this long so the median is not one scheduler tick.
LATENCY_MIN_TIME_S = 0.2
# ONNX Runtime input types the timed feeds are cast to (anything else is fed as float32).
INPUT_DTYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(uint8)": np.uint8,
}

Clock = Callable[[], int]
Sleep = Callable[[float], None]


def input_dtype(session: Any) -> Any:
    """The numpy dtype of ``session``'s first input (float32 for types not in :data:`INPUT_DTYPES`)."""
    return INPUT_DTYPES.get(session.get_inputs()[0].type, np.float32)


def batch_one_feed(session: Any, sample: np.ndarray) -> dict[str, np.ndarray]:
    """``{first input name: sample[None]}`` in the input's dtype: one batch-1 call's feed."""
    name = session.get_inputs()[0].name
    return {name: sample[None].astype(input_dtype(session), copy=False)}


def median_latency_ms(session: Any, sample: np.ndarray, runs: int = DEFAULT_LATENCY_RUNS) -> float:
    """Median batch-1 latency of ``session`` on ``sample`` (no batch axis) in milliseconds.

    Times at least ``runs`` calls and at least :data:`LATENCY_MIN_TIME_S` seconds, after
    :data:`LATENCY_WARMUP` untimed calls.
    """
    feed = batch_one_feed(session, sample)
    stats = time_callable(
        lambda: session.run(None, feed), min_time_s=LATENCY_MIN_TIME_S, min_runs=runs, warmup_runs=LATENCY_WARMUP
    )
    return stats.p50_ms


def round_plan(runs: int, rounds: int | None = None) -> tuple[int, int]:
    """``(rounds, calls per session per round)`` for at least ``runs`` timed calls per session.

    Args:
        runs: timed calls per session in all (at least this many are made).
        rounds: how many rounds; ``None`` or 0: about 4 calls per round.
    """
    rounds = rounds or max(1, runs // 4)
    return rounds, -(-runs // rounds)  # ceil


def interleaved_latency_ns(
    sessions: Mapping[str, Any],
    sample: np.ndarray,
    runs: int = DEFAULT_LATENCY_RUNS,
    rounds: int | None = None,
    seed: int = 0,
    pause_s: float = 0.0,
    *,
    clock: Clock = time.perf_counter_ns,
    sleep: Sleep = time.sleep,
) -> dict[str, list[int]]:
    """Batch-1 run times (ns) of several sessions, measured side by side in interleaved rounds.

    Each session first gets :data:`LATENCY_WARMUP` untimed calls. Each round then visits every session
    in a fresh random order: one untimed call (it wakes threads that slept while the others ran), then
    the round's timed calls, then ``sleep(pause_s)`` when ``pause_s`` > 0.

    Args:
        sessions: name -> onnxruntime session (all taking the same input).
        sample: one input without the batch axis.
        runs: timed calls per session in all (at least this many).
        rounds: how many rounds to split them into (default: about 4 calls per round).
        seed: seed of the visiting order.
        pause_s: pause after each session's slice; give spinning sessions
            ``edgeseq.bench.interleave.SPIN_SETTLE_S`` so their threads go quiet before the next one runs.
        clock: integer nanosecond clock read around each timed call.
        sleep: called with ``pause_s`` after each slice.

    Returns:
        name -> the timed calls' durations in nanoseconds, ``rounds * ceil(runs / rounds)`` each.
    """
    rounds, per_round = round_plan(runs, rounds)
    feeds = {name: batch_one_feed(session, sample) for name, session in sessions.items()}
    for name, session in sessions.items():
        for _ in range(LATENCY_WARMUP):
            session.run(None, feeds[name])
    order = list(sessions)
    rng = random.Random(seed)
    times: dict[str, list[int]] = {name: [] for name in sessions}
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            session, feed = sessions[name], feeds[name]
            session.run(None, feed)  # untimed: wakes threads that slept while the others ran
            for _ in range(per_round):
                t0 = clock()
                session.run(None, feed)
                times[name].append(clock() - t0)
            if pause_s > 0:
                sleep(pause_s)
    return times
