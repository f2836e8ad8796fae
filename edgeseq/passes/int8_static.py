"""Deprecated: moved to :mod:`edgeseq.optimization.quantization`; this module re-exports it for one release."""

from __future__ import annotations

import warnings

from edgeseq.optimization.quantization import (
    CALIBRATION_METHODS,
    QUANT_TYPES,
    StaticQuantSettings,
    preprocess_for_quantization,
    quantize_static_qdq,
    quiet_quantizer,
    static_op_types,
)

_quiet_quantizer = quiet_quantizer  # the old private name, imported by old copies of int8_dynamic

__all__ = [
    "CALIBRATION_METHODS",
    "QUANT_TYPES",
    "StaticQuantSettings",
    "preprocess_for_quantization",
    "quantize_static_qdq",
    "static_op_types",
]

warnings.warn(
    "edgeseq.passes.int8_static is deprecated; import from edgeseq.optimization.quantization",
    DeprecationWarning,
    stacklevel=2,
)
