"""Optimize an edgeseq ONNX model for the edge: graph optimization, INT8, FP16, ORT format — each re-checked.

:func:`optimize` builds the requested variants with onnxruntime's own tools (one registered builder per
variant under :mod:`edgeseq.optimization.variants`), opens each in a child process first (a crashing
session becomes a rejected row, never a dead caller), runs it on the held-out samples beside FP32
(accuracy or CER, agreement, max difference, size, batch-1 latency), rejects variants over the allowed
accuracy drop, and names the fastest accepted variant for the target device.

Variants:
    fp32          the input model, copied (the reference)
    ort-opt       onnxruntime's offline-optimized graph at ``graph_level``
    int8-static   static QDQ, per-channel weights, calibrated on samples
    int8-dynamic  dynamic quantization of LSTM/MatMul/Gemm only (never Conv: docs/traps.md #11)
    int8-mixed    static QDQ for the convolutional part + dynamic for LSTM/MatMul/Gemm
    fp16          float16 with float32 inputs/outputs (for CUDA)
    ort           the ORT format (.ort) of ``ort_source`` plus its reduced-operator config (mobile)

Modules: ``config`` (:class:`OptimizeConfig`), ``variants`` (the builders), ``int8`` (the INT8 policy),
``quantization`` and ``conv_weights`` (file-to-file passes), ``samples`` (calibration and evaluation
samples), ``gate`` (scores and the accuracy gate), ``measure``, ``sandbox`` (the child-process check),
``report``, ``manifests`` and ``run`` (:func:`optimize` as named phases). The profile loader is
:func:`edgeseq.profiles.load_profile_optimize`.
"""

from __future__ import annotations

from typing import Any

from edgeseq.optimization.config import TARGETS, OptimizeConfig
from edgeseq.optimization.int8 import (
    CONV_KERNEL_CHOICES,
    QUANT_TYPE_CHOICES,
    Int8Choice,
    choose_conv_kernel,
    choose_int8_settings,
)
from edgeseq.optimization.report import REPORT_JSON, REPORT_MD, OptimizeResult, VariantResult
from edgeseq.optimization.run import RANDOM_EVAL_SAMPLES, optimize
from edgeseq.optimization.samples import SampleSet, from_arrays, load_samples, random_samples
from edgeseq.optimization.variants import VARIANT_BUILDERS, builder, variant_names
from edgeseq.optimization.variants.int8_static import CALIBRATION_CHOICES

# The variants in build order, and the precision each reports ("ort": its source's).
VARIANTS = tuple(variant_names())
PRECISIONS = {name: builder(name).precision for name in VARIANTS}

__all__ = [
    "CALIBRATION_CHOICES",
    "CONV_KERNEL_CHOICES",
    "PRECISIONS",
    "QUANT_TYPE_CHOICES",
    "RANDOM_EVAL_SAMPLES",
    "REPORT_JSON",
    "REPORT_MD",
    "TARGETS",
    "VARIANTS",
    "VARIANT_BUILDERS",
    "Int8Choice",
    "OptimizeConfig",
    "OptimizeResult",
    "SampleSet",
    "VariantResult",
    "choose_conv_kernel",
    "choose_int8_settings",
    "from_arrays",
    "load_samples",
    "optimize",
    "random_samples",
]


def __getattr__(name: str) -> Any:
    if name == "load_profile_optimize":
        # it reads a profile, which is orchestration (edgeseq.profiles); this package does not import upwards
        raise AttributeError(
            "edgeseq.optimization.load_profile_optimize moved to edgeseq.profiles.load_profile_optimize"
        )
    raise AttributeError(f"module 'edgeseq.optimization' has no attribute {name!r}")
