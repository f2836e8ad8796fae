"""Deprecated: moved to :mod:`edgeseq.optimization.int8` (the INT8 policy) and :mod:`edgeseq.cpu` (the CPU
facts); this module re-exports them for one release.

The CPU names (``CpuFeatures``, ``parse_cpuinfo``, ``detect_cpu_features``, ...) are :mod:`edgeseq.cpu`'s objects.
"""

from __future__ import annotations

import warnings

from edgeseq.cpu import CPUINFO_PATH, cpu_flags, cpu_model_name, cpuinfo_records, parse_cpuinfo
from edgeseq.cpu import CpuFacts as CpuFeatures
from edgeseq.cpu import read_cpu_facts as detect_cpu_features
from edgeseq.optimization.int8 import Int8Choice, choose_conv_kernel, choose_int8_settings

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

warnings.warn(
    "edgeseq.passes.cpuinfo is deprecated; import from edgeseq.optimization.int8 (the INT8 policy) and "
    "edgeseq.cpu (the CPU facts)",
    DeprecationWarning,
    stacklevel=2,
)
