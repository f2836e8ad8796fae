"""INT8 settings chosen for a CPU (standard library only); the CPU facts come from :mod:`edgeseq.cpu`.

VNNI (``avx512_vnni``, ``avx_vnni``) and AMX (``amx_int8``) let x86 cores accumulate u8×s8 products
without the 16-bit saturation that ``reduce_range`` guards against; ARM's ``asimddp`` (dot product)
plays the same role there. The choices follow onnxruntime's own guidance in ``quantize_static``'s
docstring (1.32).

``CpuFeatures``, ``parse_cpuinfo``, ``detect_cpu_features``, ``cpuinfo_records``, ``cpu_flags`` and
``cpu_model_name`` are kept here as aliases of :mod:`edgeseq.cpu` until the optimization package owns
this policy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edgeseq.cpu import CPUINFO_PATH, CpuFacts, cpu_flags, cpu_model_name, cpuinfo_records, parse_cpuinfo
from edgeseq.cpu import read_cpu_facts as detect_cpu_features

# Deprecated aliases (the facts moved to edgeseq.cpu); the names stay importable from here.
CpuFeatures = CpuFacts

__all__ = [
    "CPUINFO_PATH",
    "CpuFeatures",
    "Int8Choice",
    "choose_conv_kernel",
    "choose_int8_settings",
    "cpu_flags",
    "cpu_model_name",
    "cpuinfo_records",
    "detect_cpu_features",
    "parse_cpuinfo",
]


@dataclass(frozen=True)
class Int8Choice:
    """Activation/weight types and ``reduce_range`` picked for a CPU, with the reason."""

    activation_type: str  # "QUInt8" or "QInt8" (onnxruntime.quantization.QuantType names)
    weight_type: str
    reduce_range: bool
    reason: str
    # "gemm": symmetric Conv weights re-expressed with zero point -1 so onnxruntime uses its U8S8 GEMM
    # (AMX where present; see passes.conv_weights); "symmetric": left at zero point 0 (its VNNI conv kernel)
    conv_kernel: str = "symmetric"

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


def choose_conv_kernel(features: CpuFacts, activation_type: str, weight_type: str) -> str:
    """``"gemm"`` where onnxruntime's U8S8 GEMM beats its symmetric conv kernel (AMX, u8 activations, s8 weights)."""
    if features.is_x86 and features.amx_int8 and activation_type == "QUInt8" and weight_type == "QInt8":
        return "gemm"
    return "symmetric"


def choose_int8_settings(features: CpuFacts) -> Int8Choice:
    """onnxruntime's recommended INT8 settings for ``features`` (see ``quantize_static``'s docstring)."""
    if features.is_arm:
        return Int8Choice("QInt8", "QInt8", False, "ARM: symmetric int8 activations and weights")
    if features.vnni:
        kernel = choose_conv_kernel(features, "QUInt8", "QInt8")
        return Int8Choice("QUInt8", "QInt8", False, "x86 with VNNI/AMX: no 7-bit weight range needed", kernel)
    return Int8Choice("QUInt8", "QInt8", True, "x86 without VNNI: 7-bit weights avoid u8*s8 16-bit saturation")
