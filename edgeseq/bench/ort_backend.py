"""The ONNX Runtime backend of the benchmark (CPU and CUDA providers) and its per-stage profiler.

Sessions are built by :mod:`edgeseq.runtime` (the options a deployed ``Predictor`` gets), except that
the thread count is taken as given, beyond the usable CPUs too: the benchmark measures oversubscription
(docs/traps.md #15). What actually runs is read back from the session (docs/traps.md #17).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edgeseq.bench.profile import parse_profile
from edgeseq.bench.spec import BackendUnavailable, MeasureSpec, OpenedModel
from edgeseq.runtime.options import CPU, CUDA, GraphLevel, SessionConfig, session_options
from edgeseq.runtime.session import SessionLoadError, open_session

CUDNN_SEARCH = "HEURISTIC"
GRAPH_LEVEL = GraphLevel.ALL


def ort_session(spec: MeasureSpec, providers: list[Any], *, profile_dir: str | Path | None = None) -> Any:
    """An ``InferenceSession`` for ``spec``: its threads and spinning, all graph optimizations, quiet logs.

    Args:
        spec: the row (model path, threads, spinning).
        providers: the provider list handed to ONNX Runtime.
        profile_dir: turn ONNX Runtime's profiler on, writing ``ort_profile_*.json`` there.

    Raises:
        SessionLoadError: ONNX Runtime refused the model.
    """
    # log severity 3 (the config's default): the CUDA-fallback warning is checked via get_providers() instead
    options = session_options(
        SessionConfig(allow_spinning=spec.spinning, graph_optimization=GRAPH_LEVEL),
        intra_op_threads=spec.threads,
        profile_prefix=None if profile_dir is None else Path(profile_dir) / "ort_profile",
    )
    return open_session(spec.model_path, options, providers)


def _providers(spec: MeasureSpec) -> list[Any]:
    if spec.backend != "ort-cuda":
        return [CPU]
    if CUDA not in ort.get_available_providers():
        raise BackendUnavailable(
            "CUDAExecutionProvider is not available (needs onnxruntime-gpu and a CUDA GPU: pip install 'edgeseq[gpu]')"
        )
    # the runtime's default: no per-shape cuDNN benchmarking (docs/traps.md #16, variable widths)
    return [(CUDA, {"cudnn_conv_algo_search": CUDNN_SEARCH}), CPU]


def open_ort(spec: MeasureSpec) -> OpenedModel:
    """Open an ONNX model with onnxruntime on the CPU or CUDA provider.

    Raises:
        BackendUnavailable: CUDA asked for and not usable here.
        Exception: ONNX Runtime's own error when it cannot load the model (the row records it).
    """
    try:
        session = ort_session(spec, _providers(spec))
    except SessionLoadError as exc:
        raise exc.ort_error from None  # the row names ONNX Runtime's own error, as it always has
    used = session.get_providers()
    if spec.backend == "ort-cuda" and used[0] != CUDA:
        # onnxruntime silently falls back to the CPU when CUDA cannot start (docs/traps.md #17).
        raise BackendUnavailable(f"{CUDA} was requested but the session runs on {used[0]}")
    output_names = [o.name for o in session.get_outputs()]
    return OpenedModel(
        infer=lambda x: session.run(output_names, {spec.input_name: x}),
        provider=used[0],
        precision=spec.model_precision,
        settings={
            "intra_op_num_threads": spec.threads,
            "allow_spinning": spec.spinning,
            "graph_optimization_level": GRAPH_LEVEL.value,  # reports store the short name (GraphLevel)
            "onnxruntime": ort.__version__,
            **({"cudnn_conv_algo_search": CUDNN_SEARCH} if spec.backend == "ort-cuda" else {}),
        },
        profile=(lambda x: profile_ort(spec, x)) if spec.backend == "ort-cpu" else None,
    )


def profile_ort(spec: MeasureSpec, x: np.ndarray) -> dict[str, float]:
    """Run onnxruntime's profiler for ``spec.profile_runs`` inferences; per-stage ms per inference.

    Profiling adds overhead, so it runs in a separate session after the timed loop and its
    times are only used as shares of the whole, never as the reported latency.
    """
    with tempfile.TemporaryDirectory(prefix="edgeseq-profile-") as tmp:
        session = ort_session(spec, [CPU], profile_dir=tmp)
        skip = 1 + spec.warmup_runs  # the cold run and the warm-up runs are dropped by parse_profile
        for _ in range(spec.profile_runs + skip):
            session.run(None, {spec.input_name: x})
        path = session.end_profiling()
        events = json.loads(Path(path).read_text())
    return parse_profile(events, skip_runs=skip)
