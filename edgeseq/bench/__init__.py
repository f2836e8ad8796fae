"""Latency benchmarks: timing statistics, backends, environment card, per-stage profile, reports, plots.

``bench(models, checkpoint=..., options=BenchOptions(...)) -> BenchResult`` is the front door;
``compare_results`` is the CI gate. Everything except :mod:`edgeseq.bench.timing` loads lazily
(PEP 562), so ``from edgeseq.bench.timing import time_callable`` stays numpy-only.
"""

from __future__ import annotations

import importlib
from typing import Any

from edgeseq.bench.timing import TimingStats, time_callable

_LAZY = {
    "bench": "edgeseq.bench.runner",
    "BenchOptions": "edgeseq.bench.runner",
    "BenchResult": "edgeseq.bench.result",
    "BenchRow": "edgeseq.bench.result",
    "ModelRef": "edgeseq.bench.modelinfo",
    "compare_results": "edgeseq.bench.compare",
    "CompareResult": "edgeseq.bench.compare",
    "env_card": "edgeseq.bench.envcard",
    "EnvCard": "edgeseq.bench.envcard",
    "write_reports": "edgeseq.bench.report",
    "write_plots": "edgeseq.bench.plots",
    "run_suite": "edgeseq.bench.suite",
    "load_suite": "edgeseq.bench.suite",
}

__all__ = ["TimingStats", "time_callable", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgeseq.bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
