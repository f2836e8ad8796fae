"""Deprecated: moved to :mod:`edgeseq.optimization.conv_weights`; this module re-exports it for one release."""

from __future__ import annotations

import warnings

from edgeseq.optimization.conv_weights import (
    SHIFTED_ZERO_POINT,
    conv_weight_dequantizers,
    shift_conv_weight_zero_points,
    unshift_conv_weight_zero_points,
)

__all__ = [
    "SHIFTED_ZERO_POINT",
    "conv_weight_dequantizers",
    "shift_conv_weight_zero_points",
    "unshift_conv_weight_zero_points",
]

warnings.warn(
    "edgeseq.passes.conv_weights is deprecated; import from edgeseq.optimization.conv_weights",
    DeprecationWarning,
    stacklevel=2,
)
