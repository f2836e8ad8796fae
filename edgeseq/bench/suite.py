"""Deprecated: the benchmark suite moved to :mod:`edgeseq.pipeline.suite` (it builds models: orchestration).

This module re-exports its names for one release.
"""

from __future__ import annotations

import warnings

from edgeseq.pipeline.suite import (
    CALIBRATION_SAMPLES,
    DEFAULT_WORK_DIR,
    IDLE_LOAD_PER_CORE,
    IDLE_POLL_S,
    RANDOM_WEIGHTS_NOTE,
    SYMMETRIC_SUFFIX,
    TARGET_BEST_VS_EAGER,
    TARGET_ORT_FP32_VS_EAGER,
    Suite,
    SuiteModel,
    load_suite,
    prepare_model,
    run_suite,
    target_lines,
    wait_until_idle,
)

__all__ = [
    "CALIBRATION_SAMPLES",
    "DEFAULT_WORK_DIR",
    "IDLE_LOAD_PER_CORE",
    "IDLE_POLL_S",
    "RANDOM_WEIGHTS_NOTE",
    "SYMMETRIC_SUFFIX",
    "TARGET_BEST_VS_EAGER",
    "TARGET_ORT_FP32_VS_EAGER",
    "Suite",
    "SuiteModel",
    "load_suite",
    "prepare_model",
    "run_suite",
    "target_lines",
    "wait_until_idle",
]

warnings.warn("edgeseq.bench.suite is deprecated; import from edgeseq.pipeline.suite", DeprecationWarning, stacklevel=2)
