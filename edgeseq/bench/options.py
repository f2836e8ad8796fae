"""What a benchmark run measures and for how long (standard library only, so the CLI can read the defaults).

:class:`TimingOptions` is the one declaration of the timing knobs (minimum/maximum timed seconds,
minimum timed calls, warm-up calls), with their defaults and validation. :class:`BenchOptions` (the
whole run) and :class:`~edgeseq.bench.spec.MeasureSpec` (one row) inherit them, ``time_callable``
validates through them and the ``edgeseq bench`` flags take their defaults from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from edgeseq.cpu import usable_cpus
from edgeseq.errors import ConfigError

BACKENDS = ("ort-cpu", "ort-cuda", "torch", "openvino", "openvino-f32")
# Thread counts above this many times the usable CPUs measure only contention: oversubscription is a
# legitimate measurement (docs/traps.md #15), 99 threads on 2 cores is a typo.
MAX_OVERSUBSCRIPTION = 4
# A timed loop longer than a day is a mistake, not a benchmark.
MAX_TIME_S = 86400.0
# Backends that read the ONNX file (torch runs the checkpoint it came from).
ONNX_BACKENDS = tuple(b for b in BACKENDS if b != "torch")


@dataclass(kw_only=True)
class TimingOptions:
    """How long one row is timed.

    Attributes:
        min_time_s: minimum total timed wall time in seconds.
        min_runs: minimum number of timed calls (the loop runs until both minimums are reached).
        warmup_runs: untimed calls first (lazy init, caches, allocator, cuDNN search); a row measured
            by a worker keeps warming up past this count until its latency is steady.
        max_time_s: hard cap on the timed loop's wall time in seconds (at least one call is made).

    Raises:
        ConfigError: a count that is not a whole number or is negative, a time that is not finite, negative
            or above :data:`MAX_TIME_S`, ``max_time_s`` not above 0, or ``max_time_s < min_time_s``.
    """

    min_time_s: float = 1.0
    min_runs: int = 20
    warmup_runs: int = 3
    max_time_s: float = 30.0

    def __post_init__(self) -> None:
        for key in ("min_runs", "warmup_runs"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{key}: got {value!r}; expected a whole number")
        for key in ("min_time_s", "max_time_s"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{key}: got {value!r}; expected a finite number of seconds")
            if value > MAX_TIME_S:
                raise ConfigError(f"{key}: got {value!r}; expected at most {MAX_TIME_S:g} seconds")
        if self.min_runs < 1 or self.warmup_runs < 0:
            raise ConfigError(
                f"min_runs/warmup_runs: got {self.min_runs}/{self.warmup_runs}; expected min_runs >= 1, warmup_runs >= 0"
            )
        if self.min_time_s < 0 or self.max_time_s <= 0 or self.max_time_s < self.min_time_s:
            raise ConfigError(
                f"min_time_s/max_time_s: got {self.min_time_s}/{self.max_time_s}; expected 0 <= min <= max and max > 0"
            )

    def timing_fields(self) -> dict[str, Any]:
        """The timing knobs alone, as keyword arguments (e.g. for a :class:`MeasureSpec` of this run)."""
        return {f.name: getattr(self, f.name) for f in fields(TimingOptions)}


@dataclass
class BenchOptions(TimingOptions):
    """What to measure and how long.

    Attributes:
        backends: any of ort-cpu, ort-cuda, torch (needs ``checkpoint``), openvino, openvino-f32.
        batches: batch sizes.
        threads: intra-op thread counts; ``None`` = the physical cores this process may use.
        widths, heights: values for a dynamic width/height axis (``None``: the model's default size).
        spinning: onnxruntime intra-op spin-waiting (off by default, docs/traps.md #15; recorded per row).
        min_time_s, min_runs, warmup_runs, max_time_s: see :class:`TimingOptions`.
        isolate: measure each row in a fresh Python process so peak RSS is per row.
        rounds: > 1 interleaves the rows: each row's timed calls are split into this many slices and
            every round visits the rows in a random order (fair side-by-side ratios on a machine
            whose load drifts); needs ``isolate``.
        profile: onnxruntime profiler per-stage times for ort-cpu rows.
        flops: estimate FLOPs from the graph and report achieved GFLOP/s.
        seed: seed of the random inputs.
    """

    backends: list[str] = field(default_factory=lambda: ["ort-cpu"])
    batches: list[int] = field(default_factory=lambda: [1])
    threads: list[int] | None = None
    widths: list[int] | None = None
    heights: list[int] | None = None
    spinning: bool = False
    isolate: bool = True
    rounds: int = 1
    profile: bool = True
    flops: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        for name in self.backends:
            if name not in BACKENDS:
                raise ConfigError(f"--backend: got {name!r}; expected any of {', '.join(BACKENDS)}")
        if not self.backends:
            raise ConfigError("--backend: expected at least one backend")
        for key in ("batches", "threads", "widths", "heights"):
            values = getattr(self, key)
            if values is not None and (
                not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values)
            ):
                raise ConfigError(f"{key}: got {values!r}; expected a non-empty list of positive integers")
        ceiling = MAX_OVERSUBSCRIPTION * usable_cpus()
        if self.threads and max(self.threads) > ceiling:
            raise ConfigError(
                f"threads: got {max(self.threads)}; expected at most {ceiling} "
                f"({MAX_OVERSUBSCRIPTION}x the {usable_cpus()} CPUs this process may use)"
            )
        if self.widths and self.heights:
            raise ConfigError("widths and heights: got both; expected a sweep over one dynamic axis at a time")
        if self.rounds < 1 or (self.rounds > 1 and not self.isolate):
            raise ConfigError(f"rounds: got {self.rounds} with isolate={self.isolate}; expected 1, or > 1 with isolate")
        super().__post_init__()
