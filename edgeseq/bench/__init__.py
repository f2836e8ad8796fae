"""Latency benchmarks: timing statistics, backends, environment card, per-stage profile, reports, plots.

``bench(models, checkpoint=..., options=BenchOptions(...)) -> BenchResult`` is the front door;
``compare_results`` is the CI gate. Every name loads lazily (PEP 562): ``from edgeseq.bench.timing
import time_callable`` stays numpy-only and ``edgeseq.bench.options`` standard-library only.
The benchmark suite (``run_suite``, ``load_suite``) moved to :mod:`edgeseq.pipeline.suite`: it builds
the models it measures, which is orchestration; the old names still work, with a DeprecationWarning.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

_LAZY = {
    "TimingStats": "edgeseq.bench.timing",
    "time_callable": "edgeseq.bench.timing",
    "TimingOptions": "edgeseq.bench.options",
    "bench": "edgeseq.bench.runner",
    "BenchOptions": "edgeseq.bench.options",
    "BenchResult": "edgeseq.bench.result",
    "BenchRow": "edgeseq.bench.result",
    "ModelRef": "edgeseq.bench.modelinfo",
    "compare_results": "edgeseq.bench.compare",
    "CompareResult": "edgeseq.bench.compare",
    "env_card": "edgeseq.bench.envcard",
    "EnvCard": "edgeseq.bench.envcard",
    "write_reports": "edgeseq.bench.report",
    "write_plots": "edgeseq.bench.plots",
}
# moved to the orchestration layer; kept importable from here for one release
_MOVED = {
    "run_suite": "edgeseq.pipeline.suite",
    "load_suite": "edgeseq.pipeline.suite",
}

__all__ = [*_LAZY, *_MOVED]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _MOVED:
        warnings.warn(
            f"edgeseq.bench.{name} is deprecated; import it from {_MOVED[name]}", DeprecationWarning, stacklevel=2
        )
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'edgeseq.bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
