"""ONNX Runtime session options: the one graph-optimization level and the one ``SessionOptions`` builder.

* :class:`GraphLevel` names ONNX Runtime's graph-optimization levels by the short names reports and
  manifests store ("disable", "basic", "extended", "all") and converts to and from ONNX Runtime's
  ``GraphOptimizationLevel`` (and its member names such as ``"ORT_ENABLE_ALL"``, which older records hold).
* :class:`SessionConfig` is how a session is created (providers, threads, level, cache, logging).
* :func:`session_options` builds every ``onnxruntime.SessionOptions`` in edgeseq from a config, plus the
  extras some callers need (an optimized-model output file, profiling, free-form config entries).

Trap #15 (docs/traps.md) sets the defaults: one intra-op thread per physical core this process may use,
never more threads than its usable CPUs, and idle threads do not spin.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import onnxruntime as ort

from edgeseq.cpu import usable_cpus, usable_physical_cores
from edgeseq.errors import ConfigError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
PROVIDER_CHOICES = ("auto", "cpu", "cuda")

# cuDNN convolution algorithm search on CUDA. ORT's default, EXHAUSTIVE, benchmarks every algorithm
# for every new input shape (docs/traps.md #16): each new width of a text line pays it again.
CUDNN_SEARCH = ("heuristic", "exhaustive", "default")

# Session config entries that let idle worker threads spin (docs/traps.md #15: spinning burns CPU).
SPINNING_ENTRIES = ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning")


class GraphLevel(enum.StrEnum):
    """ONNX Runtime's graph-optimization levels by their short names (what reports and manifests store)."""

    DISABLE = "disable"
    BASIC = "basic"
    EXTENDED = "extended"
    ALL = "all"

    @property
    def ort_name(self) -> str:
        """The ``GraphOptimizationLevel`` member name, e.g. ``"ORT_ENABLE_ALL"``."""
        return _ORT_NAMES[self]

    @property
    def ort_level(self) -> ort.GraphOptimizationLevel:
        """The ``onnxruntime.GraphOptimizationLevel`` member."""
        return getattr(ort.GraphOptimizationLevel, self.ort_name)

    @classmethod
    def parse(cls, value: Any, what: str = "graph_optimization") -> GraphLevel:
        """The level named by a short name, a GraphLevel, an ORT member name or an ORT member.

        Args:
            value: ``"all"``, ``GraphLevel.ALL``, ``"ORT_ENABLE_ALL"`` or
                ``onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL``.
            what: the option's name, for the message.

        Raises:
            ConfigError: anything else (the message lists the short names).
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, ort.GraphOptimizationLevel):
            value = value.name
        if isinstance(value, str):
            if value in cls._value2member_map_:
                return cls(value)
            for level, name in _ORT_NAMES.items():
                if value == name:
                    return level
        raise ConfigError(f"{what}: got {value!r}; expected one of {', '.join(level.value for level in cls)}")

    @classmethod
    def from_ort(cls, level: ort.GraphOptimizationLevel | str) -> GraphLevel:
        """The short-named level of an ``onnxruntime.GraphOptimizationLevel`` (or its member name).

        Raises:
            ConfigError: a level without a short name (e.g. ``ORT_ENABLE_LAYOUT``).
        """
        return cls.parse(level, what="graph optimization level")


_ORT_NAMES = {
    GraphLevel.DISABLE: "ORT_DISABLE_ALL",
    GraphLevel.BASIC: "ORT_ENABLE_BASIC",
    GraphLevel.EXTENDED: "ORT_ENABLE_EXTENDED",
    GraphLevel.ALL: "ORT_ENABLE_ALL",
}


@dataclass(frozen=True)
class SessionConfig:
    """How the ONNX Runtime session is created.

    Attributes:
        providers: "auto" (CUDA when onnxruntime-gpu and a GPU work, else CPU), "cpu" or "cuda"
            (refuses to fall back to CPU).
        threads: intra-op threads; None means one per physical core. Never more than the usable CPUs.
        inter_op_threads: threads running independent graph nodes in parallel (1: sequential execution,
            which is what small edge models want).
        graph_optimization: "disable", "basic", "extended" or "all" (ONNX Runtime's levels); a
            :class:`GraphLevel` or an ORT member name (``"ORT_ENABLE_ALL"``) is stored as its short name.
        optimized_model_path: where to cache the optimized graph. A key file beside it
            (``<cache>.key.json``) records the model's sha256, the providers, ``graph_optimization``, the
            onnxruntime version and the cache's own sha256; the cache is reused only when all of them
            match, and rewritten otherwise (another model, level or provider never loads it). It is
            also specific to this machine's CPU (ORT's layout optimizations pick its instruction set).
        allow_spinning: let idle worker threads spin (lower latency, but burns CPU; off for embedded use).
        cuda_device: the GPU index for the CUDA provider.
        cudnn_conv_algo_search: "heuristic" (default: no per-shape benchmarking, good for variable
            widths), "exhaustive" (fastest kernels for fixed-size inputs, after a slow first call per
            shape) or "default".
        allow_domains: custom operator domains to accept beyond edgeseq's (a custom-op library you trust).
        verify_manifest: check the model's sha256 against the manifest (``model.json``) beside it, when present.
        log_severity: ONNX Runtime log level (0 verbose .. 4 fatal); 3 keeps embedding apps quiet.
    """

    providers: str = "auto"
    threads: int | None = None
    inter_op_threads: int = 1
    graph_optimization: str = "all"
    optimized_model_path: str | None = None
    allow_spinning: bool = False
    cuda_device: int = 0
    cudnn_conv_algo_search: str = "heuristic"
    allow_domains: tuple[str, ...] = ()
    verify_manifest: bool = True
    log_severity: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.providers, str) or self.providers.lower() not in PROVIDER_CHOICES:
            raise ConfigError(f"providers: got {self.providers!r}; expected one of {', '.join(PROVIDER_CHOICES)}")
        limit = usable_cpus()
        for key in ("threads", "inter_op_threads"):
            value = getattr(self, key)
            if value is None and key == "threads":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
                raise ConfigError(
                    f"{key}: got {value!r}; expected an integer from 1 to {limit} (the CPUs this process may use)"
                )
        # stored as the plain short name: the cache key, reports and repr() stay what they were
        object.__setattr__(self, "graph_optimization", GraphLevel.parse(self.graph_optimization).value)
        if not isinstance(self.cuda_device, int) or self.cuda_device < 0:
            raise ConfigError(f"cuda_device: got {self.cuda_device!r}; expected a GPU index >= 0")
        if self.cudnn_conv_algo_search not in CUDNN_SEARCH:
            raise ConfigError(
                f"cudnn_conv_algo_search: got {self.cudnn_conv_algo_search!r}; expected one of {', '.join(CUDNN_SEARCH)}"
            )
        if self.log_severity not in range(5):
            raise ConfigError(f"log_severity: got {self.log_severity!r}; expected 0..4")

    @property
    def intra_op_threads(self) -> int:
        """The intra-op thread count actually used."""
        return self.threads if self.threads is not None else usable_physical_cores()

    @property
    def graph_level(self) -> GraphLevel:
        """``graph_optimization`` as a :class:`GraphLevel`."""
        return GraphLevel(self.graph_optimization)


def session_options(
    config: SessionConfig | None = None,
    *,
    intra_op_threads: int | None = None,
    optimized_model_path: str | os.PathLike | None = None,
    profile_prefix: str | os.PathLike | None = None,
    config_entries: Mapping[str, str] | None = None,
) -> ort.SessionOptions:
    """ONNX Runtime session options from ``config``: threads, execution mode, spinning, level, logging.

    Args:
        config: the settings (default: ``SessionConfig()``).
        intra_op_threads: use this many intra-op threads instead of ``config``'s, without the usable-CPU
            ceiling (benchmarks that measure oversubscription, docs/traps.md #15).
        optimized_model_path: have ONNX Runtime write the optimized graph to this file when the session is
            created (the suffix picks the format: ``.onnx`` or ``.ort``). Not ``config.optimized_model_path``,
            which is :func:`edgeseq.runtime.session.create_session`'s keyed cache.
        profile_prefix: turn ONNX Runtime's profiler on, writing ``<prefix>_<timestamp>.json``.
        config_entries: further session config entries (``add_session_config_entry``), applied last.

    Raises:
        ConfigError: ``intra_op_threads`` is not a positive integer.
    """
    config = config if config is not None else SessionConfig()
    threads = config.intra_op_threads if intra_op_threads is None else intra_op_threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"intra_op_threads: got {threads!r}; expected a positive integer")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = config.inter_op_threads
    options.execution_mode = (
        ort.ExecutionMode.ORT_SEQUENTIAL if config.inter_op_threads == 1 else ort.ExecutionMode.ORT_PARALLEL
    )
    options.graph_optimization_level = config.graph_level.ort_level
    for entry in SPINNING_ENTRIES:
        options.add_session_config_entry(entry, "1" if config.allow_spinning else "0")
    options.log_severity_level = config.log_severity
    if optimized_model_path is not None:
        options.optimized_model_filepath = os.fspath(optimized_model_path)
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = os.fspath(profile_prefix)
    for key, value in (config_entries or {}).items():
        options.add_session_config_entry(key, value)
    return options
