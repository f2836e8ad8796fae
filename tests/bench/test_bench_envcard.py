"""The environment card: CPU model, ISA flags, cores from a fake /proc/cpuinfo; required fields."""

from __future__ import annotations

import pytest

from edgeseq.bench.envcard import env_card, fp32_flops_per_cycle, peak_gflops_estimate
from edgeseq.cpu import parse_cpuinfo

# Two physical cores with two hyper-threads each (4 logical CPUs), AVX-512 with VNNI and AMX.
FAKE_CPUINFO = "\n\n".join(
    f"""processor	: {i}
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Fake 8480
cpu MHz		: 2000.000
physical id	: 0
core id		: {i // 2}
flags		: fpu sse sse2 avx avx2 fma avx512f avx512bw avx512_vnni amx_tile amx_int8 amx_bf16"""
    for i in range(4)
)
# An AVX2-only laptop without physical/core ids (as some VMs report).
FAKE_AVX2 = "\n\n".join(
    f"processor : {i}\nmodel name : Fake Core i5\ncpu MHz : 1000.0\nflags : sse avx avx2 fma" for i in range(2)
)


def test_parse_cpuinfo_cores_and_flags():
    cpu = parse_cpuinfo(FAKE_CPUINFO)
    assert cpu.model_name == "Intel(R) Xeon(R) Fake 8480"
    assert (cpu.logical_cpus, cpu.physical_cores) == (4, 2)
    assert cpu.mhz == 2000.0
    for flag in ("AVX2", "AVX-512F", "AVX512-VNNI", "AMX-TILE", "AMX-INT8"):
        assert flag in cpu.isa_names
    assert "AVX-VNNI" not in cpu.isa_names
    assert cpu.avx512 and cpu.avx512_vnni and cpu.amx_int8


def test_parse_cpuinfo_without_core_ids_counts_logical_cpus():
    cpu = parse_cpuinfo(FAKE_AVX2)
    assert (cpu.logical_cpus, cpu.physical_cores) == (2, 2)
    assert cpu.isa_names == ["AVX2", "FMA"]
    assert not cpu.avx512 and not cpu.amx_int8


def test_peak_estimate_from_clock_and_isa():
    # 2.0 GHz x 64 FLOP/cycle (AVX-512: 16 lanes x FMA x 2 ports) = 128 GFLOP/s per core
    avx512 = parse_cpuinfo(FAKE_CPUINFO)
    assert fp32_flops_per_cycle(avx512) == 64
    assert peak_gflops_estimate(avx512, 2) == pytest.approx(256.0)
    # 1.0 GHz x 32 FLOP/cycle (AVX2) = 32 GFLOP/s per core
    assert peak_gflops_estimate(parse_cpuinfo(FAKE_AVX2), 1) == pytest.approx(32.0)


def test_env_card_fields(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"abc")
    card = env_card([model], cpuinfo_text=FAKE_CPUINFO).to_json()
    required = {
        "cpu_model", "isa_flags", "logical_cpus", "physical_cores", "usable_cores", "cpu_mhz",
        "peak_fp32_gflops_per_core", "memory_gib", "os", "python", "packages", "gpus", "models",
    }  # fmt: skip
    assert required <= set(card)
    assert card["cpu_model"] == "Intel(R) Xeon(R) Fake 8480"
    assert card["isa_flags"] == [
        "AVX2",
        "FMA",
        "AVX-512F",
        "AVX-512BW",
        "AVX512-VNNI",
        "AMX-TILE",
        "AMX-INT8",
        "AMX-BF16",
    ]
    assert 1 <= card["usable_cores"] <= 2
    assert {"torch", "onnx", "onnxruntime", "openvino", "numpy", "edgeseq"} <= set(card["packages"])
    assert card["packages"]["onnxruntime"]  # installed in every environment edgeseq runs in
    # sha256 of b"abc"
    assert card["models"][str(model)] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
