"""ONNX Runtime sessions for edge use: providers that are really in use, threads that fit the machine.

Two traps shape this module (see ONNX-TRAPS.md):

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

import contextlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from edgeseq.errors import ConfigError, DependencyError, ModelFileError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
PROVIDER_CHOICES = ("auto", "cpu", "cuda")

GRAPH_OPTIMIZATION_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}

# cuDNN convolution algorithm search on CUDA. ORT's default, EXHAUSTIVE, benchmarks every algorithm
# for every new input shape (ONNX-TRAPS #16): each new width of a text line pays it again.
CUDNN_SEARCH = ("heuristic", "exhaustive", "default")


def usable_cpus() -> int:
    """Logical CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        count = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        count = min(count, quota)
    return max(1, count)


def _cgroup_cpu_quota() -> int | None:
    """CPUs allowed by a cgroup v2 ``cpu.max`` quota (containers), or None when unlimited/unknown."""
    try:
        fields = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        return max(1, math.ceil(int(fields[0]) / int(fields[1])))
    except (ValueError, ZeroDivisionError):
        return None


def physical_cores() -> int:
    """Physical cores among the CPUs this process may use (hyperthread siblings count once).

    Falls back to :func:`usable_cpus` where the topology is not readable (non-Linux).
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return usable_cpus()
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return usable_cpus()
        cores.add((package, core))
    return max(1, min(len(cores), usable_cpus()))


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
        optimized_model_path: where to cache the optimized graph; reused while it is newer than the
            model file. The cache is specific to this machine and provider.
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
        return self.threads if self.threads is not None else physical_cores()


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
) -> Path:
    """Check a model file before ONNX Runtime opens it; returns it as a Path.

    Delegates to :func:`edgeseq.runtime.safety.check_model_file`: an existing, non-empty regular file
    that parses as ONNX (or ORT format), external data only as plain files inside the model's folder
    (ONNX-TRAPS #20), operators from edgeseq's domains or ``allow_domains``, and the sha256 recorded
    in the manifest beside it (when there is one) matching.

    Raises:
        ModelFileError: naming what is wrong with the file.
    """
    from edgeseq.runtime.safety import check_model_file as check

    check(path, allow_domains=allow_domains or None, verify_manifest=verify_manifest)
    return Path(path)


def check_external_data(path: str | os.PathLike) -> None:
    """Refuse a model whose external data leaves its folder (ONNX-TRAPS #20), or that is not ONNX.

    The same full check as :func:`check_model_file` (kept under this name for callers that use it).

    Raises:
        ModelFileError: naming the file, what is wrong and what was expected.
    """
    check_model_file(path)


def create_session(path: str | os.PathLike, config: SessionConfig) -> ort.InferenceSession:
    """Create an InferenceSession for the model at ``path`` and check its providers.

    Raises:
        ModelFileError: the file is missing, empty, or not a model ONNX Runtime can load.
        DependencyError: "cuda" was asked for and the session did not get the CUDA provider.
    """
    path = check_model_file(path, config.allow_domains, config.verify_manifest)
    providers = requested_providers(config)
    options = session_options(config)
    source = path
    cache = Path(config.optimized_model_path) if config.optimized_model_path else None
    if cache is not None and cache.is_file() and cache.stat().st_mtime >= path.stat().st_mtime:
        # The cached graph is already optimized: loading it at "disable" skips the work it saved.
        source = check_model_file(cache, config.allow_domains)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        cache = None
    with _cache_writer(cache, options):
        session = _load(source, options, providers)
    in_use = session.get_providers()
    if config.providers.lower() == "cuda" and CUDA not in in_use:
        raise DependencyError(
            f"providers='cuda': ONNX Runtime fell back to {', '.join(in_use)}; expected {CUDA} "
            "(no usable GPU, or the CUDA/cuDNN libraries onnxruntime-gpu needs are missing)"
        )
    return session


def _load(source: Path, options: ort.SessionOptions, providers: list) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(source), sess_options=options, providers=providers)
    except Exception as exc:  # ORT raises its pybind11 classes (InvalidProtobuf, Fail, ...), not ours
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"cannot load model {str(source)!r}: {type(exc).__name__}: {detail[:300]}; expected a valid ONNX model"
        ) from None


@contextlib.contextmanager
def _cache_writer(cache: Path | None, options: ort.SessionOptions):
    """Let ORT write the optimized graph to a temporary file, then rename it over ``cache`` (atomic)."""
    if cache is None:
        yield
        return
    cache.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{cache.name}.", suffix=".tmp", dir=cache.parent)
    os.close(fd)
    options.optimized_model_filepath = tmp_name
    try:
        yield
        if Path(tmp_name).stat().st_size > 0:
            os.replace(tmp_name, cache)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
