"""Deprecated: moved to :mod:`edgeseq.optimization.variants.fp16`; this module re-exports it for one release."""

from __future__ import annotations

import warnings

from edgeseq.optimization.variants.fp16 import convert_fp16

__all__ = ["convert_fp16"]

warnings.warn(
    "edgeseq.passes.fp16 is deprecated; import from edgeseq.optimization.variants.fp16",
    DeprecationWarning,
    stacklevel=2,
)
