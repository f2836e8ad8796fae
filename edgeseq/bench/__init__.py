"""Latency benchmarks: timing statistics, backends, environment card, reports and plots.

Heavy parts load lazily (PEP 562) so ``from edgeseq.bench.timing import time_callable`` stays
numpy-only.
"""

from __future__ import annotations

from edgeseq.bench.timing import TimingStats, time_callable

__all__ = ["TimingStats", "time_callable"]
