"""The environment card recorded with every benchmark result: what hardware and software ran it.

Reads ``/proc/cpuinfo`` and ``/proc/meminfo`` where they exist (Linux) and falls back to the
``platform`` module elsewhere; versions of optional packages are read from installed metadata,
so nothing heavy is imported to fill the card.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

# ISA features that decide which kernels run: flag name in /proc/cpuinfo -> name shown on the card.
ISA_FLAGS = {
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512F",
    "avx512bw": "AVX-512BW",
    "avx512_vnni": "AVX512-VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX512-BF16",
    "avx512_fp16": "AVX512-FP16",
    "amx_tile": "AMX-TILE",
    "amx_int8": "AMX-INT8",
    "amx_bf16": "AMX-BF16",
}
PACKAGES = ("edgeseq", "numpy", "torch", "onnx", "onnxruntime", "onnxruntime-gpu", "openvino")
NVIDIA_SMI_TIMEOUT_S = 10


@dataclass
class CpuInfo:
    """What /proc/cpuinfo says about the processor."""

    model: str = ""
    logical_cpus: int = 0
    physical_cores: int = 0
    mhz: float | None = None
    flags: list[str] = field(default_factory=list)  # the ISA_FLAGS present, display names

    @property
    def has_avx512(self) -> bool:
        return "AVX-512F" in self.flags

    @property
    def has_vnni(self) -> bool:
        return "AVX512-VNNI" in self.flags or "AVX-VNNI" in self.flags

    @property
    def has_amx(self) -> bool:
        return "AMX-TILE" in self.flags


def parse_cpuinfo(text: str) -> CpuInfo:
    """Parse the text of ``/proc/cpuinfo`` (x86 layout; other layouts give what they can).

    Physical cores are the distinct ``(physical id, core id)`` pairs; without those fields
    (some VMs, ARM) every logical CPU counts as a core.
    """
    from edgeseq.passes.cpuinfo import cpu_flags, cpu_model_name, cpuinfo_records

    cpus = [fields for fields in cpuinfo_records(text) if "processor" in fields]
    mhz: float | None = None
    for fields in cpus:
        try:
            mhz = float(fields["cpu mhz"])
            break
        except (KeyError, ValueError):
            continue
    cores = {(f["physical id"], f["core id"]) for f in cpus if "physical id" in f and "core id" in f}
    flags = cpu_flags(cpus)
    return CpuInfo(
        model=cpu_model_name(cpus) or platform.processor(),
        logical_cpus=len(cpus),
        physical_cores=len(cores) if cores else len(cpus),
        mhz=mhz,
        flags=[name for flag, name in ISA_FLAGS.items() if flag in flags],
    )


def read_cpuinfo(path: str | Path = "/proc/cpuinfo") -> CpuInfo:
    """CpuInfo of this machine; a minimal one from ``os``/``platform`` where /proc is absent."""
    try:
        info = parse_cpuinfo(Path(path).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        info = CpuInfo(model=platform.processor())
    if not info.logical_cpus:
        info.logical_cpus = os.cpu_count() or 1
        info.physical_cores = info.physical_cores or info.logical_cpus
    return info


def usable_cores() -> int:
    """Physical cores this process may run on (affinity and cgroup quota): the default and ceiling for threads.

    More threads than physical cores made onnxruntime about 3x slower at the median on a
    2-core machine (docs/traps.md #15). The runtime's own count, so bench and Predictor agree.
    """
    from edgeseq.runtime.session import physical_cores

    return physical_cores()


def fp32_flops_per_cycle(cpu: CpuInfo) -> int:
    """FP32 FLOPs one core can issue per cycle: FMA width x 2 (multiply+add) x 2 FMA ports.

    Two FMA ports is what server Intel/AMD cores of the AVX2/AVX-512 era have; a single-port
    part makes the peak half of this. It is an *estimate* and the card says so.
    """
    if cpu.has_avx512:
        return 16 * 2 * 2
    if "AVX2" in cpu.flags or "FMA" in cpu.flags:
        return 8 * 2 * 2
    return 4 * 2  # SSE: 4 lanes, separate mul and add


def peak_gflops_estimate(cpu: CpuInfo, threads: int) -> float | None:
    """Theoretical FP32 peak for ``threads`` cores at the reported clock (None without a clock)."""
    if not cpu.mhz:
        return None
    return threads * cpu.mhz / 1e3 * fp32_flops_per_cycle(cpu)


def read_meminfo_gib(path: str | Path = "/proc/meminfo") -> float | None:
    """Total memory in GiB from /proc/meminfo (None where unavailable)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None when not installed), without importing them."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    if versions.get("edgeseq") is None:  # run from a source tree, not installed
        from edgeseq import __version__

        versions["edgeseq"] = __version__
    return versions


def read_gpus() -> list[dict[str, str]]:
    """GPUs and driver from ``nvidia-smi`` (empty when there is none or it fails)."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=NVIDIA_SMI_TIMEOUT_S,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3:
            gpus.append({"name": parts[0], "driver": parts[1], "memory": parts[2]})
    return gpus


@dataclass
class EnvCard:
    """Hardware and software a benchmark ran on."""

    cpu_model: str
    isa_flags: list[str]
    logical_cpus: int
    physical_cores: int
    usable_cores: int
    cpu_mhz: float | None
    peak_fp32_gflops_per_core: float | None  # estimate: clock x FLOPs/cycle (see fp32_flops_per_cycle)
    memory_gib: float | None
    os: str
    python: str
    packages: dict[str, str | None]
    gpus: list[dict[str, str]] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)  # model file name -> sha256
    load_avg: list[float] | None = None  # 1/5/15-minute load when the card was taken (end of the run)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)

    def summary(self) -> str:
        """One line for reports: CPU, cores, ISA, memory, key versions."""
        pk = self.packages
        parts = [
            f"{self.cpu_model} ({self.physical_cores} cores, {self.usable_cores} usable)",
            "ISA " + ("/".join(self.isa_flags) or "baseline"),
            f"{self.memory_gib} GiB" if self.memory_gib else "",
            self.os,
            f"Python {self.python}",
            ", ".join(f"{k} {v}" for k, v in pk.items() if v and k != "numpy"),
        ]
        if self.gpus:
            parts.append("; ".join(f"{g['name']} (driver {g['driver']})" for g in self.gpus))
        return " · ".join(p for p in parts if p)


def env_card(
    model_paths: list[str | Path] | None = None,
    *,
    cpuinfo_text: str | None = None,
    meminfo_path: str | Path = "/proc/meminfo",
) -> EnvCard:
    """Collect the environment card.

    Args:
        model_paths: model files whose sha256 goes on the card.
        cpuinfo_text: parse this instead of /proc/cpuinfo (tests).
        meminfo_path: where to read total memory from.
    """
    from edgeseq.fileio import sha256_file

    cpu = parse_cpuinfo(cpuinfo_text) if cpuinfo_text is not None else read_cpuinfo()
    peak = peak_gflops_estimate(cpu, 1)
    return EnvCard(
        cpu_model=cpu.model,
        isa_flags=cpu.flags,
        logical_cpus=cpu.logical_cpus,
        physical_cores=cpu.physical_cores,
        usable_cores=usable_cores(),
        cpu_mhz=cpu.mhz,
        peak_fp32_gflops_per_core=round(peak, 1) if peak else None,
        memory_gib=read_meminfo_gib(meminfo_path),
        os=f"{platform.system()} {platform.release()} ({platform.machine()})",
        python=platform.python_version()
        + ("" if sys.implementation.name == "cpython" else f" {sys.implementation.name}"),
        packages=package_versions(),
        gpus=read_gpus(),
        models={str(p): sha256_file(p) for p in (model_paths or []) if Path(p).is_file()},
        load_avg=_load_avg(),
    )


def _load_avg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):  # not available on this OS
        return None
