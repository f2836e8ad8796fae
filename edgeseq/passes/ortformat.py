"""Deprecated: moved to :mod:`edgeseq.optimization.variants.ort_format`; this module re-exports it for one release."""

from __future__ import annotations

import warnings

from edgeseq.optimization.variants.ort_format import (
    CONVERT_TIMEOUT_S,
    TARGET_PLATFORMS,
    OrtFormatOutput,
    convert_to_ort,
)

__all__ = ["CONVERT_TIMEOUT_S", "OrtFormatOutput", "TARGET_PLATFORMS", "convert_to_ort"]

warnings.warn(
    "edgeseq.passes.ortformat is deprecated; import from edgeseq.optimization.variants.ort_format",
    DeprecationWarning,
    stacklevel=2,
)
