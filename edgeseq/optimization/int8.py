"""The INT8 policy: activation/weight types, ``reduce_range`` and the Conv kernel chosen for a CPU.

VNNI (``avx512_vnni``, ``avx_vnni``) and AMX (``amx_int8``) let x86 cores accumulate u8×s8 products
without the 16-bit saturation that ``reduce_range`` guards against; ARM's ``asimddp`` (dot product)
plays the same role there. The choices follow onnxruntime's own guidance in ``quantize_static``'s
docstring (1.32). The CPU facts come from :mod:`edgeseq.cpu`.

:class:`Int8Settings` holds the ``[optimize]`` keys that steer the policy ("auto" leaves a choice to
the CPU); :func:`resolve_int8` turns them into the :class:`Int8Choice` every INT8 variant is built with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edgeseq.config import _choice
from edgeseq.cpu import CpuFacts
from edgeseq.errors import ConfigError

QUANT_TYPE_CHOICES = ("auto", "quint8", "qint8")
CONV_KERNEL_CHOICES = ("auto", "gemm", "symmetric")
# config value -> onnxruntime.quantization.QuantType member name
QUANT_TYPE_NAMES = {"quint8": "QUInt8", "qint8": "QInt8"}


@dataclass(frozen=True)
class Int8Choice:
    """Activation/weight types and ``reduce_range`` picked for a CPU, with the reason."""

    activation_type: str  # "QUInt8" or "QInt8" (onnxruntime.quantization.QuantType names)
    weight_type: str
    reduce_range: bool
    reason: str
    # "gemm": symmetric Conv weights re-expressed with zero point -1 so onnxruntime uses its U8S8 GEMM
    # (AMX where present; see edgeseq.optimization.conv_weights); "symmetric": left at zero point 0 (its
    # VNNI conv kernel)
    conv_kernel: str = "symmetric"

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


@dataclass
class Int8Settings:
    """The ``[optimize]`` keys of the INT8 policy; ``"auto"`` lets :func:`resolve_int8` pick for the CPU."""

    activation_type: str = "auto"  # auto | quint8 | qint8
    weight_type: str = "auto"  # auto | quint8 | qint8
    reduce_range: bool | str = "auto"  # true | false | "auto" (7-bit weights only on x86 without VNNI)
    conv_kernel: str = "auto"  # auto | gemm | symmetric: which onnxruntime INT8 conv kernel

    def __post_init__(self) -> None:
        _choice("optimize.activation_type", self.activation_type, QUANT_TYPE_CHOICES)
        _choice("optimize.weight_type", self.weight_type, QUANT_TYPE_CHOICES)
        _choice("optimize.conv_kernel", self.conv_kernel, CONV_KERNEL_CHOICES)
        if not isinstance(self.reduce_range, bool) and self.reduce_range != "auto":
            raise ConfigError(f'optimize.reduce_range: got {self.reduce_range!r}; expected true, false or "auto"')


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


def resolve_int8(settings: Int8Settings, target: str, cpu: CpuFacts) -> Int8Choice:
    """The INT8 choice for ``cpu``: the CPU's recommendation where ``settings`` say "auto", theirs elsewhere.

    Args:
        settings: the profile's INT8 keys.
        target: the deployment target (``optimize.target``); the GEMM conv kernel is picked by "auto"
            only for "cpu", since the zero-point -1 encoding pays off on this machine's (AMX) CPU only.
        cpu: the CPU the variants are built on.

    Raises:
        ConfigError: the GEMM conv kernel with other than quint8 activations and qint8 weights.
    """
    auto = choose_int8_settings(cpu)
    activation = (
        auto.activation_type if settings.activation_type == "auto" else QUANT_TYPE_NAMES[settings.activation_type]
    )
    weight = auto.weight_type if settings.weight_type == "auto" else QUANT_TYPE_NAMES[settings.weight_type]
    reduce_range = auto.reduce_range if settings.reduce_range == "auto" else bool(settings.reduce_range)
    if settings.conv_kernel == "auto":
        conv_kernel = choose_conv_kernel(cpu, activation, weight) if target == "cpu" else "symmetric"
    else:
        conv_kernel = settings.conv_kernel
    if conv_kernel == "gemm" and (activation, weight) != ("QUInt8", "QInt8"):
        # s8 activations on onnxruntime's general conv path hit its S8S8 GEMM (~40x slower than U8S8 here)
        raise ConfigError(
            f'optimize.conv_kernel: "gemm" needs quint8 activations and qint8 weights; got {activation} and '
            f'{weight} (set conv_kernel = "symmetric" or "auto")'
        )
    user_set = [
        k for k in ("activation_type", "weight_type", "reduce_range", "conv_kernel") if getattr(settings, k) != "auto"
    ]
    reason = auto.reason + (
        "; conv kernel gemm: Conv weights at zero point -1 so onnxruntime runs them on its U8S8 GEMM (AMX)"
        if conv_kernel == "gemm"
        else ""
    )
    reason += f"; set by the profile: {', '.join(user_set)}" if user_set else ""
    return Int8Choice(activation, weight, reduce_range, reason, conv_kernel)
