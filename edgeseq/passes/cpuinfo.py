"""CPU feature detection for choosing INT8 settings (standard library only).

Reads the flags of ``/proc/cpuinfo`` (Linux). VNNI (``avx512_vnni``, ``avx_vnni``) and AMX
(``amx_int8``) let x86 cores accumulate u8×s8 products without the 16-bit saturation that
``reduce_range`` guards against; ARM's ``asimddp`` (dot product) plays the same role there.
The choices follow onnxruntime's own guidance in ``quantize_static``'s docstring (1.32).
"""

from __future__ import annotations

import platform
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CPUINFO_PATH = "/proc/cpuinfo"
_X86 = ("x86_64", "amd64", "i386", "i686")
_ARM = ("aarch64", "arm64", "armv7l", "armv8l")


@dataclass(frozen=True)
class CpuFeatures:
    """What the CPU offers for 8-bit inference."""

    arch: str  # "x86_64", "aarch64", ... (platform.machine() unless given)
    model_name: str = ""
    avx2: bool = False
    avx512_vnni: bool = False
    avx_vnni: bool = False
    amx_int8: bool = False
    arm_dotprod: bool = False  # ARM "asimddp"

    @property
    def is_x86(self) -> bool:
        """Whether this is an x86/x64 CPU."""
        return self.arch.lower() in _X86

    @property
    def is_arm(self) -> bool:
        """Whether this is an ARM CPU."""
        return self.arch.lower() in _ARM

    @property
    def vnni(self) -> bool:
        """Whether the CPU has an 8-bit dot-product instruction without 16-bit saturation."""
        return self.avx512_vnni or self.avx_vnni or self.amx_int8

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict, with the derived ``vnni`` flag."""
        return {**asdict(self), "vnni": self.vnni}


def cpuinfo_records(text: str) -> list[dict[str, str]]:
    """The blank-line separated blocks of ``/proc/cpuinfo`` as ``{lower-cased key: value}`` dicts.

    x86 writes one block per logical CPU (``processor``, ``model name``, ``flags``, ...); ARM writes
    per-CPU blocks with ``Features`` and a trailing block with ``Hardware``. The one parser of that
    file in edgeseq (the INT8 choices here, the benchmark's environment card in ``bench.envcard``).
    """
    records = []
    for block in re.split(r"\n\s*\n", text.strip()):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip().lower(), value.strip())
        if fields:
            records.append(fields)
    return records


def cpu_flags(records: list[dict[str, str]]) -> set[str]:
    """Every ISA flag any CPU lists (x86 ``flags``, ARM ``Features``)."""
    flags: set[str] = set()
    for fields in records:
        flags.update((fields.get("flags") or fields.get("features") or "").split())
    return flags


def cpu_model_name(records: list[dict[str, str]]) -> str:
    """The first model name found (x86 ``model name``, some ARM kernels ``model``/``cpu model``/``Hardware``)."""
    for key in ("model name", "cpu model", "model", "hardware"):
        for fields in records:
            if fields.get(key):
                return fields[key]
    return ""


def parse_cpuinfo(text: str, arch: str | None = None) -> CpuFeatures:
    """Parse the text of ``/proc/cpuinfo``.

    Args:
        text: the file's contents (x86 lists ``flags``, ARM lists ``Features``).
        arch: the machine name; defaults to ``platform.machine()``.
    """
    records = cpuinfo_records(text)
    flags = cpu_flags(records)
    return CpuFeatures(
        arch=arch or platform.machine() or "unknown",
        model_name=cpu_model_name(records),
        avx2="avx2" in flags,
        avx512_vnni="avx512_vnni" in flags,
        avx_vnni="avx_vnni" in flags,
        amx_int8="amx_int8" in flags,
        arm_dotprod="asimddp" in flags,
    )


def detect_cpu_features(path: str | Path = CPUINFO_PATH) -> CpuFeatures:
    """Detect this machine's CPU features; all flags are False where ``path`` cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return parse_cpuinfo(text)


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


def choose_conv_kernel(features: CpuFeatures, activation_type: str, weight_type: str) -> str:
    """``"gemm"`` where onnxruntime's U8S8 GEMM beats its symmetric conv kernel (AMX, u8 activations, s8 weights)."""
    if features.is_x86 and features.amx_int8 and activation_type == "QUInt8" and weight_type == "QInt8":
        return "gemm"
    return "symmetric"


def choose_int8_settings(features: CpuFeatures) -> Int8Choice:
    """onnxruntime's recommended INT8 settings for ``features`` (see ``quantize_static``'s docstring)."""
    if features.is_arm:
        return Int8Choice("QInt8", "QInt8", False, "ARM: symmetric int8 activations and weights")
    if features.vnni:
        kernel = choose_conv_kernel(features, "QUInt8", "QInt8")
        return Int8Choice("QUInt8", "QInt8", False, "x86 with VNNI/AMX: no 7-bit weight range needed", kernel)
    return Int8Choice("QUInt8", "QInt8", True, "x86 without VNNI: 7-bit weights avoid u8*s8 16-bit saturation")
