"""Deprecated: moved to :mod:`edgeseq.optimization.sandbox`; this module re-exports it for one release."""

from __future__ import annotations

import warnings

from edgeseq.optimization.sandbox import (
    DEFAULT_TIMEOUT_S,
    SessionCheck,
    SessionChecker,
    check_session,
    judge_child,
    run_python_check,
)

__all__ = ["DEFAULT_TIMEOUT_S", "SessionCheck", "SessionChecker", "check_session", "judge_child", "run_python_check"]

warnings.warn(
    "edgeseq.passes.sandbox is deprecated; import from edgeseq.optimization.sandbox",
    DeprecationWarning,
    stacklevel=2,
)
