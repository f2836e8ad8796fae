"""The variant builders, one module each; importing this package registers them all.

In build order (``variant_names()``; fp32, the reference, first):

======================  ==========================================================================
``fp32``                the input model, copied (the reference)
``ort-opt``             onnxruntime's offline-optimized graph at ``graph_level``
``int8-static``         static QDQ, per-channel weights, calibrated on samples
``int8-dynamic``        dynamic quantization of LSTM/MatMul/Gemm only (never Conv: docs/traps.md #11)
``int8-mixed``          static QDQ for the convolutional part + dynamic for LSTM/MatMul/Gemm
``fp16``                float16 with float32 inputs/outputs (for CUDA)
``ort``                 the ORT format (.ort) of ``ort_source`` plus its reduced-operator config (mobile)
======================  ==========================================================================
"""

from __future__ import annotations

# Importing each builder's module registers it (VARIANT_BUILDERS).
from edgeseq.optimization.variants import fp16, fp32, int8_dynamic, int8_mixed, int8_static, ort_format, ort_opt
from edgeseq.optimization.variants.base import (
    VARIANT_BUILDERS,
    BuildContext,
    VariantBuilder,
    builder,
    register_variant,
    variant_names,
)

__all__ = [
    "VARIANT_BUILDERS",
    "fp16",
    "fp32",
    "int8_dynamic",
    "int8_mixed",
    "int8_static",
    "ort_format",
    "ort_opt",
    "BuildContext",
    "VariantBuilder",
    "builder",
    "register_variant",
    "variant_names",
]
