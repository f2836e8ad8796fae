"""Deprecated: moved to :mod:`edgeseq.export.rewrites`; this module re-exports it for one release."""

from __future__ import annotations

import warnings

from edgeseq.export.rewrites import AxisReduce, InGraphPreprocess, WithProbabilities, rewrite_for_export

__all__ = ["AxisReduce", "InGraphPreprocess", "WithProbabilities", "rewrite_for_export"]

warnings.warn(
    "edgeseq.export_rewrites is deprecated; import from edgeseq.export.rewrites",
    DeprecationWarning,
    stacklevel=2,
)
