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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from edgeseq import __version__
from edgeseq.cpu import CpuFacts, parse_cpuinfo, read_cpu_facts, usable_physical_cores
from edgeseq.fileio import sha256_file

PACKAGES = ("edgeseq", "numpy", "torch", "onnx", "onnxruntime", "onnxruntime-gpu", "openvino")
NVIDIA_SMI_TIMEOUT_S = 10


def fp32_flops_per_cycle(cpu: CpuFacts) -> int:
    """FP32 FLOPs one core can issue per cycle: FMA width x 2 (multiply+add) x 2 FMA ports.

    Two FMA ports is what server Intel/AMD cores of the AVX2/AVX-512 era have; a single-port
    part makes the peak half of this. It is an *estimate* and the card says so.
    """
    if cpu.avx512:
        return 16 * 2 * 2
    if cpu.avx2 or cpu.fma:
        return 8 * 2 * 2
    return 4 * 2  # SSE: 4 lanes, separate mul and add


def peak_gflops_estimate(cpu: CpuFacts, threads: int) -> float | None:
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
    model_paths: Sequence[str | Path] | None = None,
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
    cpu = parse_cpuinfo(cpuinfo_text) if cpuinfo_text is not None else read_cpu_facts()
    peak = peak_gflops_estimate(cpu, 1)
    return EnvCard(
        cpu_model=cpu.model_name or platform.processor(),
        isa_flags=cpu.isa_names,
        logical_cpus=cpu.logical_cpus,
        physical_cores=cpu.physical_cores,
        # the physical cores this process may run on (affinity, cgroup quota): the default and ceiling for
        # threads, as for the runtime's Predictor (more threads than cores: docs/traps.md #15)
        usable_cores=usable_physical_cores(),
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
