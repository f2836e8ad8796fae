"""Deprecated: moved to :mod:`edgeseq.optimization.gate` (scores, the gate) and :mod:`edgeseq.bench.sidebyside`
(latency); this module re-exports them for one release."""

from __future__ import annotations

import warnings

from edgeseq.bench.sidebyside import DEFAULT_LATENCY_RUNS, interleaved_latency_ns, median_latency_ms
from edgeseq.optimization.gate import (
    DEFAULT_MAX_ACCURACY_DROP,
    Outputs,
    Score,
    accuracy_drop,
    decode,
    evaluate,
    gate,
    make_session,
    metric,
    run_logits,
)

__all__ = [
    "DEFAULT_LATENCY_RUNS",
    "DEFAULT_MAX_ACCURACY_DROP",
    "Outputs",
    "Score",
    "accuracy_drop",
    "decode",
    "evaluate",
    "gate",
    "interleaved_latency_ns",
    "make_session",
    "median_latency_ms",
    "metric",
    "run_logits",
]

warnings.warn(
    "edgeseq.accuracy is deprecated; import from edgeseq.optimization.gate (scores, the gate) and "
    "edgeseq.bench.sidebyside (latency)",
    DeprecationWarning,
    stacklevel=2,
)
