"""The machine's memory and the memory limit for untrusted work (standard library only).

A model file, an input or a config from elsewhere can ask for more memory than the machine has; on
Linux the kernel then kills the whole process (the app embedding edgeseq, not only edgeseq). edgeseq
estimates what such work needs before it allocates and refuses what exceeds a limit
(:func:`memory_limit`): by default half of the machine's memory (the smaller of ``MemTotal`` in
``/proc/meminfo`` and the cgroup's ``memory.max``), or what ``EDGESEQ_MEMORY_LIMIT`` says ("8G",
"512M", "1.5GiB", or a byte count). The estimates themselves live where the work is: graph memory in
:mod:`edgeseq.runtime.limits`, config sizes in :mod:`edgeseq.config`.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from edgeseq.errors import ConfigError

MEMORY_LIMIT_ENV = "EDGESEQ_MEMORY_LIMIT"
# Half the machine: leaves the other half to the app, the OS and estimates that ran low.
DEFAULT_LIMIT_FRACTION = 0.5
# When the machine's memory cannot be read (not Linux, no /proc): a limit that fits a small edge box.
FALLBACK_LIMIT_BYTES = 4 * 1024**3
# cgroup v1 writes "no limit" as a huge number (PAGE_COUNTER_MAX pages); anything above this means none.
_NO_CGROUP_LIMIT = 1 << 60
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def meminfo_total_bytes(meminfo: str | None = None) -> int | None:
    """``MemTotal`` of ``/proc/meminfo`` in bytes (None when unreadable)."""
    try:
        text = meminfo if meminfo is not None else Path("/proc/meminfo").read_text(encoding="ascii")
    except OSError:
        return None
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def cgroup_memory_limit(root: Path = Path("/sys/fs/cgroup"), proc_cgroup: str | None = None) -> int | None:
    """The tightest memory limit of this process's cgroup and its ancestors, in bytes (None: no limit).

    Reads cgroup v2 ``memory.max`` and cgroup v1 ``memory.limit_in_bytes`` along the process's cgroup
    paths (``/proc/self/cgroup``), up to the hierarchy's root.
    """
    try:
        text = proc_cgroup if proc_cgroup is not None else Path("/proc/self/cgroup").read_text(encoding="ascii")
    except OSError:
        text = ""
    limits = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":  # the cgroup v2 hierarchy
            limits += _limits_up(root, parts[2], "memory.max")
        elif "memory" in parts[1].split(","):  # the cgroup v1 memory controller
            limits += _limits_up(root / "memory", parts[2], "memory.limit_in_bytes")
    found = [value for value in limits if value is not None]
    return min(found) if found else None


def _limits_up(base: Path, cgroup: str, name: str) -> list[int | None]:
    """The limit file ``name`` in the cgroup's folder under ``base`` and in each folder above it."""
    folder = base / cgroup.lstrip("/")
    found = [_read_limit(folder / name)]
    while folder != base and base in folder.parents:
        folder = folder.parent
        found.append(_read_limit(folder / name))
    return found


def _read_limit(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except OSError:
        return None
    if not text.isdigit():  # "max"
        return None
    value = int(text)
    return value if 0 < value < _NO_CGROUP_LIMIT else None


def machine_memory_bytes() -> int | None:
    """The memory this process can have: the smaller of ``MemTotal`` and the cgroup limit (None when unknown)."""
    found = [value for value in (meminfo_total_bytes(), cgroup_memory_limit()) if value]
    return min(found) if found else None


def parse_bytes(text: str | int, what: str = MEMORY_LIMIT_ENV) -> int:
    """``"8G"``, ``"512MiB"``, ``"1.5g"``, ``"1000000"`` or an int → bytes (k/M/G/T are powers of 1024).

    Raises:
        ConfigError: not a positive size.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        match = _SIZE.match(str(text)) if isinstance(text, str) else None
        if match is None:
            raise ConfigError(f"{what}: got {text!r}; expected a size such as 8G, 512M or a number of bytes")
        number = float(match.group(1)) * _UNITS[match.group(2).lower()]
        value = int(number) if math.isfinite(number) else 0
    if value <= 0:
        raise ConfigError(f"{what}: got {text!r}; expected a positive size such as 8G or 512M")
    return value


def format_bytes(count: float) -> str:
    """``1610612736`` → ``"1.5 GiB"``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - the loop returns


def memory_limit(value: str | int | None = None) -> int:
    """The memory limit in bytes: ``value`` when given, else ``$EDGESEQ_MEMORY_LIMIT``, else half the machine.

    Args:
        value: a size (``"8G"``, bytes as an int); None for the environment or the default.

    Raises:
        ConfigError: ``value`` or the environment variable is not a positive size.
    """
    if value is not None:
        return parse_bytes(value, what="memory_limit")
    configured = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if configured:
        return parse_bytes(configured)
    machine = machine_memory_bytes()
    return int(machine * DEFAULT_LIMIT_FRACTION) if machine else FALLBACK_LIMIT_BYTES


def limit_source(value: str | int | None = None) -> str:
    """Where :func:`memory_limit` took its value from, for messages ("set EDGESEQ_MEMORY_LIMIT to change it")."""
    if value is not None:
        return "the memory_limit given"
    if os.environ.get(MEMORY_LIMIT_ENV, "").strip():
        return f"{MEMORY_LIMIT_ENV}"
    return f"half the machine's memory; set {MEMORY_LIMIT_ENV} to change it"
