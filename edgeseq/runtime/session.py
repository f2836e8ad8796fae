"""ONNX Runtime sessions for edge use: providers that are really in use, threads that fit the machine.

Two traps shape this module (see ONNX-TRAPS.md):

* #17: asking ONNX Runtime for ``CUDAExecutionProvider`` without a usable GPU only logs a warning
  and runs on CPU. :func:`create_session` compares what was asked with ``session.get_providers()``
  and raises when an explicit ``"cuda"`` was not honoured.
* #20: ONNX Runtime reads external-data files a model names, even a hard link to a file outside
  the model's folder. :func:`check_external_data` walks the protobuf (no onnx package needed) and
  refuses any external tensor that is not a plain file inside the model's folder.
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

# ONNX files start with a protobuf field tag; an empty file is the commonest "model" that is not one.
_MIN_MODEL_BYTES = 1


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


def check_model_file(path: str | os.PathLike) -> Path:
    """Refuse a missing, empty or non-file model path before ONNX Runtime sees it.

    Raises:
        ModelFileError: naming what is wrong with the path.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file {str(path)!r} not found; expected an .onnx file")
    if not path.is_file():
        raise ModelFileError(f"model path {str(path)!r} is not a file; expected an .onnx file")
    if path.stat().st_size < _MIN_MODEL_BYTES:
        raise ModelFileError(f"model file {str(path)!r} is empty; expected an ONNX model")
    return path


# Which length-delimited fields of each ONNX message hold messages that may contain tensors
# (field numbers from onnx/onnx.proto). Everything else (raw_data, doc strings) is skipped unread.
_MODEL, _TRAINING, _FUNCTION, _GRAPH, _NODE, _ATTRIBUTE, _SPARSE, _TENSOR, _ENTRY = range(9)
_CHILDREN = {
    _MODEL: {7: _GRAPH, 20: _TRAINING, 25: _FUNCTION},  # graph, training_info, functions
    _TRAINING: {1: _GRAPH, 2: _GRAPH},  # initialization, algorithm
    _FUNCTION: {7: _NODE},  # node
    _GRAPH: {1: _NODE, 5: _TENSOR, 15: _SPARSE},  # node, initializer, sparse_initializer
    _NODE: {5: _ATTRIBUTE},  # attribute
    _ATTRIBUTE: {5: _TENSOR, 6: _GRAPH, 10: _TENSOR, 11: _GRAPH, 22: _SPARSE, 23: _SPARSE},
    _SPARSE: {1: _TENSOR, 2: _TENSOR},  # values, indices
}
_TENSOR_NAME, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION, _EXTERNAL = 8, 13, 14, 1
_MAX_DEPTH = 64  # subgraphs nest (If/Loop bodies); a deeper file is hostile, not a model


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview):
    """Yield (field number, value) of one protobuf message; value is an int or a memoryview (bytes)."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire in (1, 5):
            value, pos = None, pos + (8 if wire == 1 else 4)
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated message")
        yield key >> 3, value


def _external_tensors(buf: memoryview, kind: int = _MODEL, depth: int = 0) -> list[tuple[str, str]]:
    """(tensor name, location) for every tensor stored in external data, anywhere in the model."""
    if depth > _MAX_DEPTH:
        raise ValueError("messages nested too deeply")
    if kind == _TENSOR:
        name, location, external = "", "", False
        for field, value in _fields(buf):
            if field == _TENSOR_NAME and isinstance(value, memoryview):
                name = bytes(value).decode("utf-8", "replace")
            elif field == _TENSOR_DATA_LOCATION and value == _EXTERNAL:
                external = True
            elif field == _TENSOR_EXTERNAL_DATA and isinstance(value, memoryview):
                entry = {f: bytes(v).decode("utf-8", "replace") for f, v in _fields(value) if isinstance(v, memoryview)}
                if entry.get(1) == "location":
                    location = entry.get(2, "")
        return [(name, location)] if external or location else []
    found = []
    children = _CHILDREN[kind]
    for field, value in _fields(buf):
        if field in children and isinstance(value, memoryview):
            found.extend(_external_tensors(value, children[field], depth + 1))
    return found


def check_external_data(path: Path) -> None:
    """Refuse external-data references that leave the model's folder (ONNX-TRAPS #20).

    Each external tensor must name a relative path without ``..``, to a regular file inside the
    model's folder that is not a symlink and has one hard link.

    Raises:
        ModelFileError: the file is not an ONNX protobuf, or an external reference is unsafe.
    """
    # read once (edge models are small); ORT reads the file again itself
    try:
        external = _external_tensors(memoryview(path.read_bytes()))
    except ValueError as exc:
        raise ModelFileError(
            f"cannot load model {str(path)!r}: not an ONNX protobuf ({exc}); expected a valid ONNX model"
        ) from None
    folder = path.resolve().parent
    for name, location in external:
        target = folder / location
        problem = None
        if not location or Path(location).is_absolute() or ".." in Path(location).parts:
            problem = "is not a relative path inside the model's folder"
        elif any(p.is_symlink() for p in [target, *target.parents] if p != folder and folder in p.parents):
            problem = "is a symlink"
        elif not target.is_file():
            problem = "is not a file beside the model"
        elif folder not in target.resolve().parents:
            problem = "resolves outside the model's folder"
        elif target.stat().st_nlink != 1:
            problem = "is a hard link (it may point at a file outside the model's folder)"
        if problem:
            raise ModelFileError(
                f"model {str(path)!r}: external data {location!r} of tensor {name!r} {problem}; "
                "expected a plain file in the model's folder"
            )


def create_session(path: str | os.PathLike, config: SessionConfig) -> ort.InferenceSession:
    """Create an InferenceSession for the model at ``path`` and check its providers.

    Raises:
        ModelFileError: the file is missing, empty, or not a model ONNX Runtime can load.
        DependencyError: "cuda" was asked for and the session did not get the CUDA provider.
    """
    path = check_model_file(path)
    check_external_data(path)
    providers = requested_providers(config)
    options = session_options(config)
    source = path
    cache = Path(config.optimized_model_path) if config.optimized_model_path else None
    if cache is not None and cache.is_file() and cache.stat().st_mtime >= path.stat().st_mtime:
        # The cached graph is already optimized: loading it at "disable" skips the work it saved.
        source = cache
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
