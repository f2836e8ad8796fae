"""edgeseq.cpu: one /proc/cpuinfo parser (x86, ARM, VM samples) and the CPUs/cores this process may use."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from edgeseq import cpu
from edgeseq.cpu import CpuFacts, parse_cpuinfo, read_cpu_facts, usable_cpus, usable_physical_cores

# Two sockets x one core x two hyper-threads: 4 logical CPUs, 2 physical cores; AMX (tile, int8, bf16).
SAPPHIRE_RAPIDS = "\n\n".join(
    f"""processor\t: {i}
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
cpu MHz\t\t: 2000.000
physical id\t: {i // 2}
core id\t\t: 0
flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8"""
    for i in range(4)
)
# ARM (Graviton 2): per-CPU blocks with "Features", no clock, no core ids, a trailing "Hardware"-less layout.
GRAVITON2 = "\n\n".join(
    f"""processor\t: {i}
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs
CPU implementer\t: 0x41
CPU part\t: 0xd0c"""
    for i in range(2)
)
# A Raspberry Pi kernel names the board in a trailing block ("Model" wins over "Hardware"), no model name per CPU.
RASPBERRY_PI = (
    "processor\t: 0\nFeatures\t: half thumb fastmult vfp edsp neon\n\nHardware\t: BCM2835\nModel\t: Raspberry Pi 3"
)
# A VM: no physical/core ids, a "hypervisor" flag, AVX2 but no VNNI.
VM_AVX2 = "\n\n".join(
    f"processor : {i}\nmodel name : Intel Xeon Processor (Skylake, IBRS)\ncpu MHz : bogus\nflags : sse avx avx2 fma hypervisor"
    for i in range(3)
)


def test_x86_with_amx():
    facts = parse_cpuinfo(SAPPHIRE_RAPIDS, arch="x86_64")
    assert facts.model_name == "Intel(R) Xeon(R) Platinum 8480+"
    assert (facts.logical_cpus, facts.physical_cores, facts.mhz) == (4, 2, 2000.0)
    assert facts.is_x86 and not facts.is_arm
    assert facts.avx2 and facts.fma and facts.avx512 and facts.avx512_vnni and not facts.avx_vnni
    assert facts.amx_int8 and facts.amx_bf16 and facts.vnni and not facts.arm_dotprod
    assert facts.isa_names == [
        "AVX2", "FMA", "AVX-512F", "AVX-512BW", "AVX512-VNNI", "AVX512-BF16", "AMX-TILE", "AMX-INT8", "AMX-BF16"
    ]  # fmt: skip
    assert "fpu" in facts.flags  # the raw flags are all kept


def test_amx_means_amx_int8_for_int8_choices():
    """A CPU with AMX tiles but no INT8 tiles (flags as listed) has no 8-bit dot product from AMX."""
    tiles_only = parse_cpuinfo("processor : 0\nflags : avx2 amx_tile amx_bf16", arch="x86_64")
    assert not tiles_only.amx_int8 and not tiles_only.vnni
    assert "AMX-TILE" in tiles_only.isa_names and "AMX-INT8" not in tiles_only.isa_names


def test_arm_sample():
    facts = parse_cpuinfo(GRAVITON2, arch="aarch64")
    assert facts.is_arm and facts.arm_dotprod and not facts.vnni and not facts.avx2
    assert (facts.logical_cpus, facts.physical_cores, facts.mhz, facts.model_name) == (2, 2, None, "")
    assert facts.isa_names == []
    pi = parse_cpuinfo(RASPBERRY_PI, arch="armv7l")
    assert pi.model_name == "Raspberry Pi 3" and pi.logical_cpus == 1 and "neon" in pi.flags


def test_vm_sample_without_core_ids_counts_logical_cpus():
    facts = parse_cpuinfo(VM_AVX2, arch="x86_64")
    assert (facts.logical_cpus, facts.physical_cores) == (3, 3)
    assert facts.mhz is None  # "bogus" is not a clock
    assert facts.isa_names == ["AVX2", "FMA"] and not facts.vnni


def test_empty_text_and_missing_file(tmp_path):
    empty = parse_cpuinfo("", arch="x86_64")
    assert empty == CpuFacts(arch="x86_64")
    facts = read_cpu_facts(tmp_path / "nope", arch="x86_64")
    assert not facts.flags and facts.logical_cpus == facts.physical_cores == (os.cpu_count() or 1)


def test_read_from_a_file_and_default_arch(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(VM_AVX2)
    facts = read_cpu_facts(path)
    assert facts.logical_cpus == 3 and facts.arch  # platform.machine() (or "unknown")


def test_to_json_keeps_the_int8_keys():
    data = parse_cpuinfo(SAPPHIRE_RAPIDS, arch="x86_64").to_json()
    # the keys optimize manifests recorded before edgeseq.cpu existed ("made_on_cpu")
    assert {"arch", "model_name", "avx2", "avx512_vnni", "avx_vnni", "amx_int8", "arm_dotprod", "vnni"} <= set(data)
    assert data["vnni"] is True and data["isa"][-1] == "AMX-BF16"
    assert "flags" not in data  # not every raw flag: records stay small


# ------------------------------------------------------------------------------------------ the process


@pytest.mark.parametrize(
    ("text", "quota"),
    [("max 100000", None), ("100000 100000", 1), ("150000 100000", 2), ("50000 100000", 1), ("x y", None), ("", None)],
)
def test_cgroup_quota(tmp_path, text, quota):
    path = tmp_path / "cpu.max"
    path.write_text(text + "\n")
    assert cpu.cgroup_cpu_quota(path) == quota


def test_quota_caps_usable_cpus(tmp_path):
    path = tmp_path / "cpu.max"
    path.write_text("200000 100000\n")
    assert usable_cpus(affinity=range(8), cgroup_cpu_max=path) == 2
    assert usable_cpus(affinity=range(8), cgroup_cpu_max=tmp_path / "none") == 8
    assert usable_cpus(affinity=[3], cgroup_cpu_max=path) == 1


def _topology(root: Path, cpu_number: int, package: int, core: int) -> None:
    folder = root / f"cpu{cpu_number}" / "topology"
    folder.mkdir(parents=True)
    (folder / "physical_package_id").write_text(f"{package}\n")
    (folder / "core_id").write_text(f"{core}\n")


def test_usable_physical_cores_count_hyperthread_siblings_once(tmp_path):
    sysfs = tmp_path / "cpu"
    for n in range(4):  # cpu0/cpu2 and cpu1/cpu3 are siblings on one package
        _topology(sysfs, n, 0, n % 2)
    none = tmp_path / "no-quota"
    assert usable_physical_cores(affinity=range(4), sysfs_cpu=sysfs, cgroup_cpu_max=none) == 2
    assert usable_physical_cores(affinity=[0, 2], sysfs_cpu=sysfs, cgroup_cpu_max=none) == 1
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")
    assert usable_physical_cores(affinity=range(4), sysfs_cpu=sysfs, cgroup_cpu_max=quota) == 1
    # unreadable topology: every usable logical CPU counts
    assert usable_physical_cores(affinity=range(4), sysfs_cpu=tmp_path / "missing", cgroup_cpu_max=none) == 4


def test_this_process(monkeypatch, tmp_path):
    cores = usable_physical_cores()
    assert 1 <= cores <= usable_cpus() <= (os.cpu_count() or 1)
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")
    monkeypatch.setattr(cpu, "CGROUP_CPU_MAX", str(quota))  # the default path is read at call time
    assert usable_cpus() == 1 and usable_physical_cores() == 1


def test_standard_library_only():
    """L0: importing edgeseq.cpu pulls in nothing outside the standard library (and edgeseq's own package)."""
    code = (
        "import sys\n"
        "for name in ('torch', 'onnx', 'numpy', 'onnxruntime', 'PIL'): sys.modules[name] = None\n"
        "import edgeseq.cpu as c\n"
        "print(c.usable_cpus() >= 1, c.read_cpu_facts().logical_cpus >= 1)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0 and proc.stdout.split() == ["True", "True"], proc.stderr[-1000:]


def test_old_names_point_to_the_one_home():
    """Until their callers migrate, the old homes re-export edgeseq.cpu's objects (not copies)."""
    import edgeseq.runtime
    from edgeseq.bench import envcard
    from edgeseq.runtime import session

    with warnings.catch_warnings():  # the shim's warning itself is tested in tests/optimization/test_optimize_shims.py
        warnings.simplefilter("ignore", DeprecationWarning)
        from edgeseq.passes import cpuinfo

    assert cpuinfo.CpuFeatures is CpuFacts
    assert cpuinfo.parse_cpuinfo is parse_cpuinfo
    assert cpuinfo.detect_cpu_features is read_cpu_facts
    assert session.physical_cores is edgeseq.runtime.physical_cores is usable_physical_cores
    assert session.usable_cpus is edgeseq.runtime.usable_cpus is usable_cpus
    # bench migrated to edgeseq.cpu, so bench.envcard's aliases are gone (nothing re-exports CPU facts there)
    assert not any(hasattr(envcard, n) for n in ("CpuInfo", "read_cpuinfo", "usable_cores", "ISA_FLAGS"))
