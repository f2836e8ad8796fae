"""ONNX Runtime sessions for edge use: providers that are really in use, threads that fit the machine.

Three traps shape this module (see docs/traps.md):

* #17: asking ONNX Runtime for ``CUDAExecutionProvider`` without a usable GPU only logs a warning
  and runs on CPU. :func:`create_session` compares what was asked with ``session.get_providers()``
  and raises when an explicit ``"cuda"`` was not honoured.
* #20: ONNX Runtime reads external-data files a model names, even a hard link to a file outside
  the model's folder. :func:`check_model_file` (``edgeseq.runtime.safety``) refuses those, corrupt
  files and custom operator domains before ONNX Runtime sees the file.
* #15: more intra-op threads than cores was 3x slower at the median with a far worse p99, and
  spinning threads burn the CPU that preprocessing needs. The default is one thread per physical
  core (of the cores this process may use) and spinning off.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import onnxruntime as ort

from edgeseq.cpu import usable_cpus, usable_physical_cores
from edgeseq.errors import ConfigError, DependencyError, InputError, ModelFileError
from edgeseq.fileio import atomic_path, sha256_file, write_json_atomic  # standard library only: no torch/onnx

if TYPE_CHECKING:  # pragma: no cover
    from edgeseq.runtime.safety import ModelFileReport

# Old names of the process's CPU counts (they live in edgeseq.cpu); kept importable from here.
physical_cores = usable_physical_cores

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
PROVIDER_CHOICES = ("auto", "cpu", "cuda")

GRAPH_OPTIMIZATION_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}

# The optimized-model cache's key file layout; bump it when the key's fields change so old keys never match.
CACHE_KEY_FORMAT = "edgeseq-session-cache/1"

# cuDNN convolution algorithm search on CUDA. ORT's default, EXHAUSTIVE, benchmarks every algorithm
# for every new input shape (docs/traps.md #16): each new width of a text line pays it again.
CUDNN_SEARCH = ("heuristic", "exhaustive", "default")


@dataclass(frozen=True)
class SessionConfig:
    """How the ONNX Runtime session is created.

    Attributes:
        providers: "auto" (CUDA when onnxruntime-gpu and a GPU work, else CPU), "cpu" or "cuda"
            (refuses to fall back to CPU).
        threads: intra-op threads; None means one per physical core. Never more than the usable CPUs.
        inter_op_threads: threads running independent graph nodes in parallel (1: sequential execution,
            which is what small edge models want).
        graph_optimization: "disable", "basic", "extended" or "all" (ONNX Runtime's levels).
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
        if self.graph_optimization not in GRAPH_OPTIMIZATION_LEVELS:
            raise ConfigError(
                f"graph_optimization: got {self.graph_optimization!r}; "
                f"expected one of {', '.join(GRAPH_OPTIMIZATION_LEVELS)}"
            )
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


def cuda_available() -> bool:
    """Whether this onnxruntime build has the CUDA provider (onnxruntime-gpu); says nothing about a GPU."""
    return CUDA in ort.get_available_providers()


def requested_providers(config: SessionConfig) -> list:
    """The provider list handed to ONNX Runtime for ``config.providers``.

    Raises:
        DependencyError: "cuda" was asked for and this onnxruntime has no CUDA provider.
    """
    choice = config.providers.lower()
    cuda = (
        CUDA,
        {"device_id": config.cuda_device, "cudnn_conv_algo_search": config.cudnn_conv_algo_search.upper()},
    )
    if choice == "cpu":
        return [CPU]
    if choice == "cuda":
        if not cuda_available():
            raise DependencyError(
                f"providers='cuda': this onnxruntime has no {CUDA} (available: "
                f"{', '.join(ort.get_available_providers())}); install edgeseq[gpu] (onnxruntime-gpu)"
            )
        return [cuda, CPU]
    return [cuda, CPU] if cuda_available() else [CPU]


def session_options(config: SessionConfig) -> ort.SessionOptions:
    """ONNX Runtime session options from ``config`` (threads, spinning, optimization level, logging)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = config.inter_op_threads
    options.execution_mode = (
        ort.ExecutionMode.ORT_SEQUENTIAL if config.inter_op_threads == 1 else ort.ExecutionMode.ORT_PARALLEL
    )
    options.graph_optimization_level = GRAPH_OPTIMIZATION_LEVELS[config.graph_optimization]
    spinning = "1" if config.allow_spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
    options.add_session_config_entry("session.inter_op.allow_spinning", spinning)
    options.log_severity_level = config.log_severity
    return options


def check_model_file(
    path: str | os.PathLike, allow_domains: tuple[str, ...] = (), verify_manifest: bool = True
) -> ModelFileReport:
    """Check a model file before ONNX Runtime opens it.

    Delegates to :func:`edgeseq.runtime.safety.check_model_file`: an existing, non-empty regular file
    that parses as ONNX (or ORT format), external data only as plain files inside the model's folder
    (docs/traps.md #20), operators from edgeseq's domains or ``allow_domains``, and the sha256 recorded
    in the manifest beside it (when there is one) matching.

    Returns:
        The :class:`~edgeseq.runtime.safety.ModelFileReport` (its ``path``, ``sha256``, ...).

    Raises:
        ModelFileError: naming what is wrong with the file.
    """
    from edgeseq.runtime.safety import check_model_file as check

    return check(path, allow_domains=allow_domains or None, verify_manifest=verify_manifest)


def cache_key_path(cache: str | os.PathLike) -> Path:
    """The sidecar ``<cache>.key.json`` recording which model and settings an optimized-model cache came from."""
    cache = Path(cache)
    return cache.with_name(cache.name + ".key.json")


def create_session(path: str | os.PathLike, config: SessionConfig) -> ort.InferenceSession:
    """Create an InferenceSession for the model at ``path`` and check its providers.

    With ``config.optimized_model_path`` the optimized graph is cached there and reused only when its
    key file (:func:`cache_key_path`) matches this model's sha256, the providers, the optimization
    level, the onnxruntime version and the cache file's own sha256; otherwise it is rewritten.

    Raises:
        ModelFileError: the file is missing, empty, or not a model ONNX Runtime can load.
        InputError: the optimized-model cache cannot be written where ``optimized_model_path`` says.
        DependencyError: "cuda" was asked for and the session did not get the CUDA provider.
    """
    report = check_model_file(path, config.allow_domains, config.verify_manifest)
    path = Path(path)
    providers = requested_providers(config)
    options = session_options(config)
    if config.optimized_model_path:
        session = _cached_session(path, report, Path(config.optimized_model_path), config, options, providers)
    else:
        session = _load(path, options, providers)
    in_use = session.get_providers()
    if config.providers.lower() == "cuda" and CUDA not in in_use:
        raise DependencyError(
            f"providers='cuda': ONNX Runtime fell back to {', '.join(in_use)}; expected {CUDA} "
            "(no usable GPU, or the CUDA/cuDNN libraries onnxruntime-gpu needs are missing)"
        )
    return session


def _cached_session(
    path: Path,
    report: ModelFileReport,
    cache: Path,
    config: SessionConfig,
    options: ort.SessionOptions,
    providers: list,
) -> ort.InferenceSession:
    """Load the optimized graph from ``cache`` when its key matches, else optimize ``path`` and rewrite it."""
    if cache.is_dir():
        raise InputError(f"optimized_model_path {str(cache)!r} is a folder; expected a file path for the cache")
    if cache.exists() and os.path.samefile(cache, path):
        # Writing the cache would overwrite the model itself (and break its manifest's sha256).
        raise InputError(f"optimized_model_path {str(cache)!r} is the model file; expected a separate cache file")
    # JSON round trip: the providers' tuples become lists, as they read back from the key file.
    key = json.loads(
        json.dumps(
            {
                "format": CACHE_KEY_FORMAT,
                "model_sha256": report.sha256,
                "providers": providers,
                "graph_optimization": config.graph_optimization,
                "onnxruntime": ort.__version__,
            },
            sort_keys=True,
        )
    )
    if _cache_matches(cache, key, config.allow_domains):
        # The cached graph is already optimized: loading it at "disable" skips the work it saved.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return _load(cache, options, providers)
    try:
        with atomic_path(cache) as tmp:
            options.optimized_model_filepath = str(tmp)
            session = _load(path, options, providers)
            # Hash the bytes ORT wrote before the rename: another process may replace ``cache`` after it,
            # and its graph must then fail this key rather than pass for ours.
            written = sha256_file(tmp)
        write_json_atomic(cache_key_path(cache), {**key, "cache_sha256": written})
    except InputError as exc:
        raise InputError(f"optimized_model_path: {exc}") from None
    return session


def _cache_matches(cache: Path, key: dict, allow_domains: tuple[str, ...]) -> bool:
    """Whether ``cache`` was written for exactly ``key`` and is still the file its key file hashed."""
    try:
        recorded = json.loads(cache_key_path(cache).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # no key (a cache from elsewhere), unreadable, or not JSON: rebuild
        return False
    if not isinstance(recorded, dict):
        return False
    cache_sha256 = recorded.pop("cache_sha256", None)
    if recorded != key:
        return False
    try:
        # The cache is a model file ORT will read: the same safety checks; its manifest is the key file.
        cached = check_model_file(cache, allow_domains, verify_manifest=False)
    except ModelFileError:
        return False  # gone or damaged: it is derived data, so it is simply rebuilt
    return cached.sha256 == cache_sha256


def _load(source: Path, options: ort.SessionOptions, providers: list) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(source), sess_options=options, providers=providers)
    except Exception as exc:  # ORT raises its pybind11 classes (InvalidProtobuf, Fail, ...), not ours
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"cannot load model {str(source)!r}: {type(exc).__name__}: {detail[:300]}; expected a valid ONNX model"
        ) from None
