"""The INT8 policy: VNNI/AMX detection from /proc/cpuinfo texts and the INT8 settings chosen from it."""

from __future__ import annotations

import pytest

from edgeseq.cpu import parse_cpuinfo, read_cpu_facts
from edgeseq.optimization.int8 import choose_conv_kernel, choose_int8_settings

SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse sse2 avx avx2 avx512f avx512bw avx512_vnni avx_vnni amx_bf16 amx_tile amx_int8
"""
SKYLAKE_CLIENT = """processor\t: 0
model name\t: Intel(R) Core(TM) i7-6700 CPU @ 3.40GHz
flags\t\t: fpu vme sse sse2 avx avx2 fma
"""
ALDER_LAKE = "model name\t: 12th Gen Intel(R) Core(TM) i7-12700H\nflags\t\t: avx2 avx_vnni\n"
CASCADE_LAKE = "model name\t: Intel(R) Xeon(R) Gold 6248\nflags\t\t: avx2 avx512f avx512_vnni\n"
GRAVITON2 = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs
CPU implementer\t: 0x41
"""


@pytest.mark.parametrize(
    ("text", "arch", "vnni", "reduce_range", "activation"),
    [
        (SAPPHIRE_RAPIDS, "x86_64", True, False, "QUInt8"),
        (CASCADE_LAKE, "x86_64", True, False, "QUInt8"),
        (ALDER_LAKE, "x86_64", True, False, "QUInt8"),
        (SKYLAKE_CLIENT, "x86_64", False, True, "QUInt8"),
        (GRAVITON2, "aarch64", False, False, "QInt8"),
        ("", "x86_64", False, True, "QUInt8"),  # unreadable cpuinfo: the safe x86 choice
    ],
)
def test_vnni_detection_and_choice(text: str, arch: str, vnni: bool, reduce_range: bool, activation: str) -> None:
    features = parse_cpuinfo(text, arch=arch)
    assert features.vnni is vnni
    choice = choose_int8_settings(features)
    assert (choice.reduce_range, choice.activation_type, choice.weight_type) == (reduce_range, activation, "QInt8")


def test_flags_parsed_individually() -> None:
    f = parse_cpuinfo(SAPPHIRE_RAPIDS, arch="x86_64")
    assert (f.avx2, f.avx512_vnni, f.avx_vnni, f.amx_int8, f.arm_dotprod) == (True, True, True, True, False)
    assert f.model_name == "Intel(R) Xeon(R) Platinum 8480+"
    assert parse_cpuinfo(GRAVITON2, arch="aarch64").arm_dotprod
    assert f.to_json()["vnni"] is True


def test_detect_on_a_missing_file_is_all_false(tmp_path) -> None:
    f = read_cpu_facts(tmp_path / "nope")
    assert not (f.vnni or f.avx2)


@pytest.mark.parametrize(
    ("text", "arch", "kernel"),
    [
        (SAPPHIRE_RAPIDS, "x86_64", "gemm"),  # AMX: onnxruntime's U8S8 GEMM runs on the tile unit
        (CASCADE_LAKE, "x86_64", "symmetric"),  # VNNI only: the direct symmetric conv kernel is the fast one
        (ALDER_LAKE, "x86_64", "symmetric"),
        (SKYLAKE_CLIENT, "x86_64", "symmetric"),
        (GRAVITON2, "aarch64", "symmetric"),
        (SAPPHIRE_RAPIDS, "aarch64", "symmetric"),  # flags alone never pick an x86 kernel elsewhere
    ],
)
def test_conv_kernel_choice(text: str, arch: str, kernel: str) -> None:
    features = parse_cpuinfo(text, arch=arch)
    assert choose_conv_kernel(features, "QUInt8", "QInt8") == kernel
    if arch == "x86_64":
        assert choose_int8_settings(features).conv_kernel == kernel


@pytest.mark.parametrize(("activation", "weight"), [("QInt8", "QInt8"), ("QUInt8", "QUInt8")])
def test_conv_kernel_gemm_only_for_u8_activations_and_s8_weights(activation: str, weight: str) -> None:
    # s8 activations on the general path hit onnxruntime's slow S8S8 GEMM (measured 0.07 TOPS vs 3 TOPS for U8S8)
    assert choose_conv_kernel(parse_cpuinfo(SAPPHIRE_RAPIDS, arch="x86_64"), activation, weight) == "symmetric"
