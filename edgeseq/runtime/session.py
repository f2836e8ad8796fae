"""ONNX Runtime sessions for edge use: every ``InferenceSession`` in edgeseq is created here.

Three traps shape this module (see docs/traps.md):

* #17: asking ONNX Runtime for ``CUDAExecutionProvider`` without a usable GPU only logs a warning
  and runs on CPU. :func:`create_session` compares what was asked with ``session.get_providers()``
  and raises when an explicit ``"cuda"`` was not honoured.
* #20: ONNX Runtime reads external-data files a model names, even a hard link to a file outside
  the model's folder. :func:`check_model_file` (``edgeseq.runtime.safety``) refuses those, corrupt
  files and custom operator domains before ONNX Runtime sees the file.
* #15: more intra-op threads than cores was 3x slower at the median with a far worse p99, and
  spinning threads burn the CPU that preprocessing needs. The default is one thread per physical
  core (of the cores this process may use) and spinning off (:mod:`edgeseq.runtime.options`).

:func:`create_session` is the front door (file checks, providers, the optimized-model cache);
:func:`open_session` is the one lower-level opener, for callers that must skip the checks (a fresh
export, a graph written by ONNX Runtime's optimizer, a benchmark worker with profiling) or that bring
their own ``SessionOptions`` from :func:`~edgeseq.runtime.options.session_options`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort

from edgeseq.cpu import usable_cpus, usable_physical_cores
from edgeseq.errors import DependencyError, InputError, ModelFileError, first_line
from edgeseq.fileio import atomic_path, sha256_file, write_json_atomic  # standard library only: no torch/onnx
from edgeseq.runtime.limits import check_model_memory
from edgeseq.runtime.modelfile.policy import ModelFileReport
from edgeseq.runtime.modelfile.policy import check_model_file as check_file
from edgeseq.runtime.options import (
    CPU,
    CUDA,
    CUDNN_SEARCH,
    PROVIDER_CHOICES,
    GraphLevel,
    SessionConfig,
    session_options,
)

# Names that lived here before edgeseq.cpu and edgeseq.runtime.options; kept importable from here.
physical_cores = usable_physical_cores
GRAPH_OPTIMIZATION_LEVELS = {level.value: level.ort_level for level in GraphLevel}
__all__ = [
    "CACHE_KEY_FORMAT",
    "CPU",
    "CUDA",
    "CUDNN_SEARCH",
    "GRAPH_OPTIMIZATION_LEVELS",
    "PROVIDER_CHOICES",
    "GraphLevel",
    "SessionConfig",
    "SessionLoadError",
    "cache_key_path",
    "check_model_file",
    "create_session",
    "cuda_available",
    "open_session",
    "physical_cores",
    "requested_providers",
    "session_options",
    "usable_cpus",
    "usable_physical_cores",
]

# The optimized-model cache's key file layout; bump it when the key's fields change so old keys never match.
CACHE_KEY_FORMAT = "edgeseq-session-cache/1"

ModelSource = str | os.PathLike | bytes


class SessionLoadError(ModelFileError):
    """ONNX Runtime refused to create a session for a model.

    Attributes:
        source: the model's path (or ``"<N bytes>"`` for a model given as bytes).
        ort_error: ONNX Runtime's own exception (a pybind11 class such as ``InvalidProtobuf`` or ``Fail``),
            for callers that word their own message.
    """

    def __init__(self, source: str, ort_error: BaseException) -> None:
        self.source = source
        self.ort_error = ort_error
        super().__init__(
            f"cannot load model {source!r}: {type(ort_error).__name__}: {first_line(ort_error, 300)}; "
            "expected a valid ONNX model"
        )


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


def check_model_file(
    path: str | os.PathLike, allow_domains: tuple[str, ...] = (), verify_manifest: bool = True
) -> ModelFileReport:
    """Check a model file before ONNX Runtime opens it.

    Delegates to :func:`edgeseq.runtime.modelfile.policy.check_model_file` (also importable from
    ``edgeseq.runtime.safety``): an existing, non-empty regular file that parses as ONNX (or ORT format),
    external data only as plain files inside the model's folder (docs/traps.md #20), operators from
    edgeseq's domains or ``allow_domains``, and the sha256 recorded in the manifest beside it (when there
    is one) matching.

    Returns:
        The :class:`~edgeseq.runtime.safety.ModelFileReport` (its ``path``, ``sha256``, ...).

    Raises:
        ModelFileError: naming what is wrong with the file.
    """
    return check_file(path, allow_domains=allow_domains or None, verify_manifest=verify_manifest)


def open_session(
    source: ModelSource,
    options: SessionConfig | ort.SessionOptions | None = None,
    providers: Sequence[Any] | None = None,
    *,
    check: bool = False,
    allow_domains: Sequence[str] = (),
    verify_manifest: bool = True,
) -> ort.InferenceSession:
    """Create an InferenceSession with the given options: the one place edgeseq calls ONNX Runtime's constructor.

    Args:
        source: the model's path, or its serialized bytes (only with ``check=False``).
        options: a :class:`SessionConfig` (its options come from :func:`session_options`, its providers
            from :func:`requested_providers`, and an explicit "cuda" must be honoured), or ready
            ``onnxruntime.SessionOptions`` (e.g. from :func:`session_options` with extras); None means
            ``SessionConfig()``.
        providers: the provider list (names or ``(name, options)`` pairs); default: the config's
            (:func:`requested_providers`), or the CPU alone with ready ``SessionOptions``.
        check: run :func:`check_model_file` first (with ``allow_domains`` and ``verify_manifest``).
        allow_domains, verify_manifest: passed to the check (added to a config's own settings).

    Returns:
        The session. No optimized-model cache here: that is :func:`create_session`'s.

    Raises:
        SessionLoadError: ONNX Runtime refused the model (a :class:`ModelFileError`).
        ModelFileError: the check failed.
        InputError: ``check=True`` with bytes (the checks need the file and its folder).
        DependencyError: the config asked for "cuda" and did not get it.
    """
    config: SessionConfig | None = None
    if options is None or isinstance(options, SessionConfig):
        config = options if options is not None else SessionConfig()
        options = session_options(config)
    if isinstance(source, bytes | bytearray):
        if check:
            raise InputError("open_session: check=True needs a model path, got bytes")
    elif check:
        if config is not None:  # the config's own check settings count too
            allow_domains = (*config.allow_domains, *allow_domains)
            verify_manifest = verify_manifest and config.verify_manifest
        check_model_file(source, tuple(allow_domains), verify_manifest)
    if providers is None:
        providers = requested_providers(config) if config is not None else [CPU]
    session = _load(source, options, list(providers))
    if config is not None:
        _require_cuda(session, config)
    return session


def cache_key_path(cache: str | os.PathLike) -> Path:
    """The sidecar ``<cache>.key.json`` recording which model and settings an optimized-model cache came from."""
    cache = Path(cache)
    return cache.with_name(cache.name + ".key.json")


def create_session(
    path: str | os.PathLike, config: SessionConfig, *, memory_limit: int | str | None = None
) -> ort.InferenceSession:
    """Create an InferenceSession for the model at ``path`` and check its providers.

    With ``config.optimized_model_path`` the optimized graph is cached there and reused only when its
    key file (:func:`cache_key_path`) matches this model's sha256, the providers, the optimization
    level, the onnxruntime version and the cache file's own sha256; otherwise it is rewritten.

    Args:
        path: the model file.
        config: how the session is created.
        memory_limit: most bytes one run at the model's declared input size may need, by the graph
            (:func:`edgeseq.runtime.limits.check_model_memory`); default :func:`edgeseq.memory.memory_limit`.

    Raises:
        ModelFileError: the file is missing, empty, or not a model ONNX Runtime can load.
        ResourceLimitError: running the model once would need more memory than ``memory_limit``.
        InputError: the optimized-model cache cannot be written where ``optimized_model_path`` says.
        DependencyError: "cuda" was asked for and the session did not get the CUDA provider.
    """
    report = check_model_file(path, config.allow_domains, config.verify_manifest)
    check_model_memory(path, limit=memory_limit)  # before ONNX Runtime allocates anything
    path = Path(path)
    providers = requested_providers(config)
    if config.optimized_model_path:
        session = _cached_session(path, report, Path(config.optimized_model_path), config, providers)
    else:
        session = _load(path, session_options(config), providers)
    _require_cuda(session, config)
    return session


def _cached_session(
    path: Path,
    report: ModelFileReport,
    cache: Path,
    config: SessionConfig,
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
        as_is = dataclasses.replace(config, graph_optimization=GraphLevel.DISABLE)
        return _load(cache, session_options(as_is), providers)
    try:
        with atomic_path(cache) as tmp:
            session = _load(path, session_options(config, optimized_model_path=tmp), providers)
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


def _require_cuda(session: ort.InferenceSession, config: SessionConfig) -> None:
    """An explicit "cuda" must have got the CUDA provider (ONNX Runtime falls back silently, docs/traps.md #17)."""
    in_use = session.get_providers()
    if config.providers.lower() == "cuda" and CUDA not in in_use:
        raise DependencyError(
            f"providers='cuda': ONNX Runtime fell back to {', '.join(in_use)}; expected {CUDA} "
            "(no usable GPU, or the CUDA/cuDNN libraries onnxruntime-gpu needs are missing)"
        )


def _load(source: ModelSource, options: ort.SessionOptions, providers: list) -> ort.InferenceSession:
    """``onnxruntime.InferenceSession`` itself; its errors become a :class:`SessionLoadError`."""
    where = f"<{len(source)} bytes>" if isinstance(source, bytes | bytearray) else str(source)
    model = bytes(source) if isinstance(source, bytes | bytearray) else where
    try:
        return ort.InferenceSession(model, sess_options=options, providers=providers)
    except Exception as exc:  # ORT raises its pybind11 classes (InvalidProtobuf, Fail, ...), not ours
        raise SessionLoadError(where, exc) from None
