"""CPU facts: the one reader of ``/proc/cpuinfo`` and of the cores this process may use (standard library only).

Two kinds of numbers live here, named apart because they are easy to confuse:

* the *machine*: :class:`CpuFacts` from ``/proc/cpuinfo`` (architecture, model, clock, ISA flags,
  ``logical_cpus`` and ``physical_cores`` of the whole machine);
* the *process*: :func:`usable_cpus` (logical CPUs this process may run on: its affinity mask, capped
  by a cgroup CPU quota) and :func:`usable_physical_cores` (physical cores among those). These are the
  default and the ceiling for thread counts: more intra-op threads than cores was 3x slower at the
  median on 2 cores (docs/traps.md #15).

ISA flags have one meaning each. For INT8 choices AMX means ``amx_int8`` and "VNNI" means an 8-bit dot
product without 16-bit saturation (``avx512_vnni``, ``avx_vnni`` or ``amx_int8``); ARM's ``asimddp``
plays that role there. The environment card shows the flags by their display names
(:data:`ISA_DISPLAY_NAMES`: AMX-TILE, AMX-INT8 and AMX-BF16 are listed separately).

Every path is a module constant read at call time and can also be passed in, so tests feed samples.
"""

from __future__ import annotations

import math
import os
import platform
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CPUINFO_PATH = "/proc/cpuinfo"
# cgroup v2: "<quota> <period>" in microseconds, or "max <period>" when unlimited.
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"
# Per-CPU topology: <SYSFS_CPU>/cpu<N>/topology/{physical_package_id,core_id}.
SYSFS_CPU = "/sys/devices/system/cpu"

_X86 = ("x86_64", "amd64", "i386", "i686")
_ARM = ("aarch64", "arm64", "armv7l", "armv8l")

# ISA features that decide which kernels run: flag name in /proc/cpuinfo -> name shown on the card.
ISA_DISPLAY_NAMES = {
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


@dataclass(frozen=True)
class CpuFacts:
    """What ``/proc/cpuinfo`` says about the machine's processor.

    Attributes:
        arch: the machine name ("x86_64", "aarch64", ...; ``platform.machine()`` unless given).
        model_name: the processor's model ("" when the file names none).
        mhz: the clock of the first CPU that reports one (None when none does, e.g. ARM).
        flags: every raw ISA flag any CPU lists (x86 ``flags``, ARM ``Features``).
        logical_cpus: logical CPUs of the machine (``processor`` blocks); 0 when unknown.
        physical_cores: distinct (physical id, core id) pairs; where the file has no such fields
            (ARM, some VMs) every logical CPU counts as a core.
    """

    arch: str = "unknown"
    model_name: str = ""
    mhz: float | None = None
    flags: frozenset[str] = field(default_factory=frozenset)
    logical_cpus: int = 0
    physical_cores: int = 0

    @property
    def is_x86(self) -> bool:
        """Whether this is an x86/x64 CPU."""
        return self.arch.lower() in _X86

    @property
    def is_arm(self) -> bool:
        """Whether this is an ARM CPU."""
        return self.arch.lower() in _ARM

    @property
    def avx2(self) -> bool:
        """AVX2 (256-bit integer and float vectors)."""
        return "avx2" in self.flags

    @property
    def fma(self) -> bool:
        """Fused multiply-add (FMA3)."""
        return "fma" in self.flags

    @property
    def avx512(self) -> bool:
        """AVX-512 Foundation."""
        return "avx512f" in self.flags

    @property
    def avx512_vnni(self) -> bool:
        """AVX-512 VNNI (8-bit dot products on 512-bit vectors)."""
        return "avx512_vnni" in self.flags

    @property
    def avx_vnni(self) -> bool:
        """AVX-VNNI (the 256-bit VEX encoding of VNNI, e.g. Alder Lake)."""
        return "avx_vnni" in self.flags

    @property
    def amx_int8(self) -> bool:
        """AMX with INT8 tiles: what "AMX" means for INT8 choices."""
        return "amx_int8" in self.flags

    @property
    def amx_bf16(self) -> bool:
        """AMX with BF16 tiles."""
        return "amx_bf16" in self.flags

    @property
    def arm_dotprod(self) -> bool:
        """ARM's 8-bit dot product (``asimddp``)."""
        return "asimddp" in self.flags

    @property
    def vnni(self) -> bool:
        """Whether the CPU has an 8-bit dot-product instruction without 16-bit saturation (x86)."""
        return self.avx512_vnni or self.avx_vnni or self.amx_int8

    @property
    def isa_names(self) -> list[str]:
        """The ISA flags that decide kernels, by display name, in :data:`ISA_DISPLAY_NAMES` order."""
        return [name for flag, name in ISA_DISPLAY_NAMES.items() if flag in self.flags]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict: the facts, the ISA display names and the derived ISA properties (not every raw flag)."""
        return {
            "arch": self.arch,
            "model_name": self.model_name,
            "mhz": self.mhz,
            "logical_cpus": self.logical_cpus,
            "physical_cores": self.physical_cores,
            "isa": self.isa_names,
            "avx2": self.avx2,
            "avx512": self.avx512,
            "avx512_vnni": self.avx512_vnni,
            "avx_vnni": self.avx_vnni,
            "vnni": self.vnni,
            "amx_int8": self.amx_int8,
            "amx_bf16": self.amx_bf16,
            "arm_dotprod": self.arm_dotprod,
        }


def cpuinfo_records(text: str) -> list[dict[str, str]]:
    """The blank-line separated blocks of ``/proc/cpuinfo`` as ``{lower-cased key: value}`` dicts.

    x86 writes one block per logical CPU (``processor``, ``model name``, ``flags``, ...); ARM writes
    per-CPU blocks with ``Features`` and a trailing block with ``Hardware``.
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


def _first_mhz(cpus: list[dict[str, str]]) -> float | None:
    for fields in cpus:
        try:
            return float(fields["cpu mhz"])
        except (KeyError, ValueError):
            continue
    return None


def parse_cpuinfo(text: str, arch: str | None = None) -> CpuFacts:
    """Parse the text of ``/proc/cpuinfo`` (x86 and ARM layouts; others give what they can).

    Args:
        text: the file's contents.
        arch: the machine name; defaults to ``platform.machine()``.

    Returns:
        The :class:`CpuFacts`; an empty text gives no flags and zero counts.
    """
    records = cpuinfo_records(text)
    cpus = [fields for fields in records if "processor" in fields]
    cores = {(f["physical id"], f["core id"]) for f in cpus if "physical id" in f and "core id" in f}
    return CpuFacts(
        arch=arch or platform.machine() or "unknown",
        model_name=cpu_model_name(records),
        mhz=_first_mhz(cpus),
        flags=frozenset(cpu_flags(records)),
        logical_cpus=len(cpus),
        physical_cores=len(cores) if cores else len(cpus),
    )


def read_cpu_facts(path: str | os.PathLike | None = None, arch: str | None = None) -> CpuFacts:
    """This machine's :class:`CpuFacts`.

    Args:
        path: the cpuinfo file (default :data:`CPUINFO_PATH`).
        arch: the machine name; defaults to ``platform.machine()``.

    Returns:
        The facts; where the file cannot be read (not Linux) no flags, and the counts from ``os.cpu_count()``.
    """
    try:
        text = Path(path or CPUINFO_PATH).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    facts = parse_cpuinfo(text, arch=arch)
    if not facts.logical_cpus:
        count = os.cpu_count() or 1
        facts = CpuFacts(
            arch=facts.arch,
            model_name=facts.model_name,
            mhz=facts.mhz,
            flags=facts.flags,
            logical_cpus=count,
            physical_cores=facts.physical_cores or count,
        )
    return facts


# ---------------------------------------------------------------------------------------------------
# What this process may use
# ---------------------------------------------------------------------------------------------------


def cgroup_cpu_quota(path: str | os.PathLike | None = None) -> int | None:
    """CPUs allowed by a cgroup v2 ``cpu.max`` quota (containers), rounded up; None when unlimited or unknown.

    Args:
        path: the ``cpu.max`` file (default :data:`CGROUP_CPU_MAX`).
    """
    try:
        fields = Path(path or CGROUP_CPU_MAX).read_text().split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        return max(1, math.ceil(int(fields[0]) / int(fields[1])))
    except (ValueError, ZeroDivisionError):
        return None


def _affinity() -> list[int] | None:
    """The CPU numbers this process may run on, or None where the OS does not say (not Linux)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def usable_cpus(*, affinity: Iterable[int] | None = None, cgroup_cpu_max: str | os.PathLike | None = None) -> int:
    """Logical CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota.

    Args:
        affinity: CPU numbers to use instead of the process's affinity mask (tests).
        cgroup_cpu_max: the ``cpu.max`` file (default :data:`CGROUP_CPU_MAX`).

    Returns:
        At least 1.
    """
    cpus = list(affinity) if affinity is not None else _affinity()
    count = len(cpus) if cpus is not None else (os.cpu_count() or 1)
    quota = cgroup_cpu_quota(cgroup_cpu_max)
    if quota is not None:
        count = min(count, quota)
    return max(1, count)


def usable_physical_cores(
    *,
    affinity: Iterable[int] | None = None,
    sysfs_cpu: str | os.PathLike | None = None,
    cgroup_cpu_max: str | os.PathLike | None = None,
) -> int:
    """Physical cores among the CPUs this process may use (hyperthread siblings count once), capped by the quota.

    Falls back to :func:`usable_cpus` where the topology is not readable (non-Linux).

    Args:
        affinity: CPU numbers to use instead of the process's affinity mask (tests).
        sysfs_cpu: the folder holding ``cpu<N>/topology`` (default :data:`SYSFS_CPU`).
        cgroup_cpu_max: the ``cpu.max`` file (default :data:`CGROUP_CPU_MAX`).

    Returns:
        At least 1, never more than :func:`usable_cpus`.
    """
    cpus = list(affinity) if affinity is not None else _affinity()
    logical = usable_cpus(affinity=cpus, cgroup_cpu_max=cgroup_cpu_max)
    if cpus is None:
        return logical
    root = Path(sysfs_cpu or SYSFS_CPU)
    cores = set()
    for cpu in cpus:
        topology = root / f"cpu{cpu}" / "topology"
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return logical
        cores.add((package, core))
    return max(1, min(len(cores), logical))
