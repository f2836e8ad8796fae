"""Deprecated: moved to :mod:`edgeseq.optimization.quantization`; this module re-exports it for one release."""

from __future__ import annotations

import warnings

from edgeseq.optimization.quantization import DEFAULT_DYNAMIC_OP_TYPES, quantize_dynamic_ops

__all__ = ["DEFAULT_DYNAMIC_OP_TYPES", "quantize_dynamic_ops"]

warnings.warn(
    "edgeseq.passes.int8_dynamic is deprecated; import from edgeseq.optimization.quantization",
    DeprecationWarning,
    stacklevel=2,
)
