"""Backends that run a model for the benchmark: ONNX Runtime (CPU, CUDA), PyTorch eager, OpenVINO.

Each backend opens the model for one :class:`MeasureSpec` and returns an :class:`OpenedModel`:
a zero-argument ``infer`` bound to its input, plus what actually ran (provider, precision),
read back from the backend rather than assumed (docs/traps.md #14 and #17).

:func:`measure` turns a spec into one result row. :func:`measure_isolated` does the same in a
fresh Python process (``python -m edgeseq.bench.backends``) so that peak RSS, allocator arenas
and thread pools belong to that row alone; this is the default for ``bench``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeseq.errors import ConfigError, DependencyError, EdgeseqError, InputError

BACKENDS = ("ort-cpu", "ort-cuda", "torch", "openvino", "openvino-f32")
# Ops whose presence means the graph computes in int8 (static QDQ, QOperator or dynamic quantization).
INT8_OPS = frozenset(
    {
        "QuantizeLinear",
        "DequantizeLinear",
        "QLinearConv",
        "QLinearMatMul",
        "ConvInteger",
        "MatMulInteger",
        "DynamicQuantizeLinear",
        "DynamicQuantizeLSTM",
        "DynamicQuantizeMatMul",
    }
)
# A worker that takes longer than this is stuck (the timed loop itself is capped by max_time_s).
WORKER_TIMEOUT_MARGIN_S = 300.0
CUDNN_SEARCH = "HEURISTIC"
# Warm-up ends when the last WARMUP_WINDOW calls are within WARMUP_STABLE_RATIO of each other (after at
# least warmup_runs calls), or at the caps. 1.5x: steady calls here vary by a few tens of percent on a
# shared machine, while start-up calls were 25-40x the steady time (PyTorch eager, see _warm_up).
WARMUP_WINDOW = 3
WARMUP_STABLE_RATIO = 1.5
WARMUP_MAX_S = 20.0
WARMUP_MAX_RUNS = 200
INTERLEAVED_REWARM = 1  # untimed calls at the start of each interleaved slice
_OV_TYPE_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16", "i8": "int8", "u8": "int8"}


@dataclass
class MeasureSpec:
    """One row to measure; plain data so it can travel to a worker process as JSON.

    Attributes:
        backend: one of BACKENDS.
        model_path: the ONNX file (ONNX backends) or the checkpoint (``torch``).
        input_name: the graph input to feed.
        shape: the full input shape, batch first.
        dtype: ``"float32"`` or ``"uint8"``.
        batch, threads: recorded, and ``threads`` is applied to the backend.
        spinning: let onnxruntime's intra-op threads spin-wait between runs (off by default:
            spinning burns CPU that preprocessing needs, docs/traps.md #15).
        model_precision: what the graph computes in ("fp32", "fp16", "int8"), from the graph.
        profile: also run onnxruntime's profiler (ort-cpu only) for per-stage times.
    """

    backend: str
    model_path: str
    input_name: str
    shape: list[int]
    dtype: str = "float32"
    batch: int = 1
    threads: int = 1
    spinning: bool = False
    model_precision: str = "fp32"
    min_time_s: float = 1.0
    min_runs: int = 20
    warmup_runs: int = 3
    max_time_s: float = 30.0
    profile: bool = False
    profile_runs: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend: got {self.backend!r}; expected one of {', '.join(BACKENDS)}")
        if self.dtype not in ("float32", "uint8", "float16"):
            raise ConfigError(f"input dtype: got {self.dtype!r}; expected float32, float16 or uint8")
        if self.threads < 1 or self.batch < 1:
            raise ConfigError(f"threads and batch must be >= 1; got {self.threads}, {self.batch}")


@dataclass
class OpenedModel:
    """A model opened by a backend, ready to time."""

    infer: Callable[[np.ndarray], Any]
    provider: str  # what actually executes: "CPUExecutionProvider", "torch-cpu", "openvino-CPU", ...
    precision: str  # what it actually computes in
    settings: dict[str, Any] = field(default_factory=dict)  # backend settings read back for the record
    close: Callable[[], None] = lambda: None


class BackendUnavailable(EdgeseqError):
    """The backend cannot run here (not installed, no GPU); the row is recorded as skipped."""


def make_input(shape: list[int], dtype: str, seed: int = 0) -> np.ndarray:
    """Random input of ``shape``: uint8 pixels 0..255 or standard-normal floats (fixed seed)."""
    rng = np.random.default_rng(seed)
    if dtype == "uint8":
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    return rng.standard_normal(size=shape).astype(dtype)


# ---------------------------------------------------------------------------------------------
# ONNX Runtime


def _ort_session(spec: MeasureSpec, providers: list[Any], *, profile_dir: str | None = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = spec.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # the same session settings as edgeseq.runtime.session (what a deployed Predictor gets)
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spec.spinning else "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "1" if spec.spinning else "0")
    so.log_severity_level = 3  # the CUDA-fallback warning is checked via get_providers() instead
    if profile_dir is not None:
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(profile_dir) / "ort_profile")
    return ort.InferenceSession(spec.model_path, sess_options=so, providers=providers)


def open_ort(spec: MeasureSpec) -> OpenedModel:
    """Open an ONNX model with onnxruntime on the CPU or CUDA provider."""
    import onnxruntime as ort

    if spec.backend == "ort-cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BackendUnavailable(
                "CUDAExecutionProvider is not available (needs onnxruntime-gpu and a CUDA GPU: pip install 'edgeseq[gpu]')"
            )
        # the runtime's default: no per-shape cuDNN benchmarking (docs/traps.md #16, variable widths)
        providers = [("CUDAExecutionProvider", {"cudnn_conv_algo_search": CUDNN_SEARCH}), "CPUExecutionProvider"]
    else:
        providers = ["CPUExecutionProvider"]
    session = _ort_session(spec, providers)
    used = session.get_providers()
    if spec.backend == "ort-cuda" and used[0] != "CUDAExecutionProvider":
        # onnxruntime silently falls back to the CPU when CUDA cannot start (docs/traps.md #17).
        raise BackendUnavailable(f"CUDAExecutionProvider was requested but the session runs on {used[0]}")
    output_names = [o.name for o in session.get_outputs()]
    return OpenedModel(
        infer=lambda x: session.run(output_names, {spec.input_name: x}),
        provider=used[0],
        precision=spec.model_precision,
        settings={
            "intra_op_num_threads": spec.threads,
            "allow_spinning": spec.spinning,
            "graph_optimization_level": "ORT_ENABLE_ALL",
            "onnxruntime": ort.__version__,
            **({"cudnn_conv_algo_search": CUDNN_SEARCH} if spec.backend == "ort-cuda" else {}),
        },
    )


# ---------------------------------------------------------------------------------------------
# PyTorch eager


def open_torch(spec: MeasureSpec) -> OpenedModel:
    """Rebuild the model from its checkpoint and run it eagerly under ``torch.inference_mode``."""
    try:
        import torch
    except ImportError:
        raise BackendUnavailable("torch is not installed (pip install 'edgeseq[train]')") from None
    from edgeseq.checkpoint import model_from_checkpoint

    torch.set_num_threads(spec.threads)
    model, _ckpt = model_from_checkpoint(spec.model_path)
    model.eval()

    def infer(x: np.ndarray) -> Any:
        with torch.inference_mode():
            return model(torch.from_numpy(x))

    return OpenedModel(
        infer=infer,
        provider="torch-cpu",
        precision="fp32",
        settings={"torch_num_threads": torch.get_num_threads(), "torch": torch.__version__, "mode": "eager"},
    )


# ---------------------------------------------------------------------------------------------
# OpenVINO


def ov_precision(type_name: str, model_precision: str) -> str:
    """What an OpenVINO CPU model computes in: its inference precision hint, with int8 for a QDQ graph."""
    hint = _OV_TYPE_NAMES.get(type_name, type_name)
    if model_precision == "int8":
        return "int8" if hint == "int8" else f"int8+{hint}"
    return hint


def open_openvino(spec: MeasureSpec) -> OpenedModel:
    """Read the same ONNX file with OpenVINO, reshape to the static benchmark shape, compile for CPU.

    ``openvino`` keeps OpenVINO's default precision (bf16 on CPUs with AMX/AVX512-BF16,
    docs/traps.md #14); ``openvino-f32`` forces f32 for a like-for-like row. The precision that
    actually ran is read back from the compiled model.
    """
    try:
        import openvino as ov
    except ImportError:
        raise BackendUnavailable("openvino is not installed (pip install 'edgeseq[openvino]')") from None
    core = ov.Core()
    model = core.read_model(spec.model_path)
    # A static shape is what OpenVINO's own benchmark_app uses with -shape: its best case.
    model.reshape({spec.input_name: spec.shape})
    config: dict[str, Any] = {
        "INFERENCE_NUM_THREADS": spec.threads,
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
    }
    if spec.backend == "openvino-f32":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    return OpenedModel(
        infer=lambda x: request.infer({0: x}),
        provider="openvino-CPU",
        precision=ov_precision(hint, spec.model_precision),
        settings={
            "INFERENCE_PRECISION_HINT": hint,
            "INFERENCE_NUM_THREADS": compiled.get_property("INFERENCE_NUM_THREADS"),
            "NUM_STREAMS": int(compiled.get_property("NUM_STREAMS")),
            "static_reshape": True,
            "openvino": ov.__version__.split("-")[0],
        },
    )


_OPENERS: dict[str, Callable[[MeasureSpec], OpenedModel]] = {
    "ort-cpu": open_ort,
    "ort-cuda": open_ort,
    "torch": open_torch,
    "openvino": open_openvino,
    "openvino-f32": open_openvino,
}


# ---------------------------------------------------------------------------------------------
# Measuring one row


def _current_rss_mb() -> float | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _load_1m() -> float | None:
    """The 1-minute load average: other processes on the cores make every number slower and noisier."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not available on this OS
        return None


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB.

    ``VmHWM`` from /proc belongs to this address space alone. ``ru_maxrss`` is the fallback
    elsewhere; on Linux it survives fork+exec, so a worker would report its parent's peak if the
    parent was larger (a parent that imported torch made every worker look 855 MB).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10  # kB
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def _output_shape(out: Any) -> list[int] | None:
    first = out[0] if isinstance(out, (list, tuple)) else out
    if isinstance(first, dict) or not hasattr(first, "shape"):
        values = list(out.values()) if hasattr(out, "values") else []
        first = values[0] if values else None
    shape = getattr(first, "shape", None)
    return [int(d) for d in shape] if shape is not None else None


class Measurement:
    """One row being measured: open (timed), cold run (timed), warm-up, then timed calls on demand.

    :func:`measure` drives it start to finish; the interleaving worker (``--serve``) drives it in
    slices so that several rows take turns on the cores (see :mod:`edgeseq.bench.interleave`).
    """

    def __init__(self, spec: MeasureSpec) -> None:
        self.spec = spec
        self.info: dict[str, Any] = {"rss_before_mb": _current_rss_mb(), "load_avg_1m": _load_1m()}
        self.samples: list[int] = []
        t0 = time.perf_counter_ns()
        self.opened = _OPENERS[spec.backend](spec)  # BackendUnavailable propagates: the row is skipped
        self.info["session_create_ms"] = (time.perf_counter_ns() - t0) / 1e6
        self.x = make_input(spec.shape, spec.dtype, spec.seed)
        t0 = time.perf_counter_ns()
        out = self.opened.infer(self.x)
        self.info["cold_ms"] = (time.perf_counter_ns() - t0) / 1e6
        self.info["output_shape"] = _output_shape(out)
        self.info["warmup"] = self._warm_up()

    def _warm_up(self) -> dict[str, Any]:
        """Untimed calls until steady: at least ``warmup_runs``, then until the last few agree.

        A fixed count is not enough for every backend: PyTorch eager took 500-850 ms per call for
        its first ~6 calls of resnet18-rows-lstm here, then 20 ms (oneDNN setting itself up), so
        three warm-up calls left its slow start inside the timed samples.
        """
        if self.spec.warmup_runs == 0:
            return {"runs": 0, "seconds": 0.0, "steady": False}
        clock = time.perf_counter_ns
        times: list[int] = []
        start = clock()
        while True:
            t0 = clock()
            self.opened.infer(self.x)
            times.append(clock() - t0)
            last = times[-WARMUP_WINDOW:]
            steady = len(last) == WARMUP_WINDOW and max(last) <= WARMUP_STABLE_RATIO * min(last)
            if len(times) >= self.spec.warmup_runs and steady:
                break
            if clock() - start > WARMUP_MAX_S * 1e9 or len(times) >= WARMUP_MAX_RUNS:
                break
        return {"runs": len(times), "seconds": (clock() - start) / 1e9, "steady": steady}

    def run_for(self, time_s: float, min_runs: int, *, rewarm: int = 0) -> list[int]:
        """Timed calls until both ``time_s`` seconds and ``min_runs`` calls; returns their durations (ns).

        ``rewarm`` untimed calls come first: after sitting idle while other rows ran, a backend's
        threads and caches need a call to wake up (the interleaved mode passes 1).
        """
        infer, x, clock = self.opened.infer, self.x, time.perf_counter_ns
        for _ in range(rewarm):
            infer(x)
        deadline_ns = int(time_s * 1e9)
        out: list[int] = []
        start = clock()
        while True:
            t0 = clock()
            infer(x)
            t1 = clock()
            out.append(t1 - t0)
            if len(out) >= min_runs and t1 - start >= deadline_ns:
                break
        self.samples.extend(out)
        return out

    def finish(self, stats: Any = None) -> dict[str, Any]:
        """Close the backend, run the profiler if asked, and return the row's fields."""
        from edgeseq.bench.timing import TimingStats

        stats = stats or TimingStats.from_samples(self.samples, warmup_runs=self.spec.warmup_runs)
        row: dict[str, Any] = {
            "provider": self.opened.provider,
            "precision": self.opened.precision,
            "settings": self.opened.settings,
            "timing": stats.to_json(),
            **self.info,
        }
        self.opened.close()
        if self.spec.profile and self.spec.backend == "ort-cpu":
            from edgeseq.bench.profile import profile_ort

            row["stages_ms"] = profile_ort(self.spec, self.x)
        row["peak_rss_mb"] = _peak_rss_mb()
        return row


def _failure(spec: MeasureSpec, exc: Exception) -> str:
    """One line for a backend that failed to open or run a model (e.g. OpenVINO and com.microsoft ops)."""
    text = str(exc).strip().splitlines()
    return f"failed: {spec.backend} could not run this model: {type(exc).__name__}: {text[0][:200] if text else ''}"


def measure(spec: MeasureSpec) -> dict[str, Any]:
    """Open, cold-run, warm up and time one configuration; return its result row fields.

    A backend that cannot run here gives ``{"skipped": reason}`` instead of raising.
    """
    from edgeseq.bench.timing import time_callable

    try:
        m = Measurement(spec)
    except BackendUnavailable as exc:
        return {"skipped": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a backend that cannot open a model is a row, not a crash
        return {"skipped": _failure(spec, exc)}
    stats = time_callable(
        lambda: m.opened.infer(m.x),
        min_time_s=spec.min_time_s,
        min_runs=spec.min_runs,
        warmup_runs=0,  # Measurement already warmed up
        max_time_s=spec.max_time_s,
    )
    stats = type(stats).from_samples(stats.samples_ns, warmup_runs=spec.warmup_runs, total_time_s=stats.total_time_s)
    return m.finish(stats)


def worker_env(threads: int) -> dict[str, str]:
    """Environment of a worker process: this one's, with the repository importable and OpenMP sized."""
    env = dict(os.environ)
    # torch/OpenMP read this at start-up; the backend's own thread setting is applied as well.
    env["OMP_NUM_THREADS"] = str(threads)
    repo_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo_root, env.get("PYTHONPATH", "")) if p)
    return env


def measure_isolated(spec: MeasureSpec, *, python: str | None = None) -> dict[str, Any]:
    """:func:`measure` in a fresh Python process, so peak RSS belongs to this row alone.

    A worker that crashes or exits with an error gives ``{"skipped": "failed: ..."}`` (its exit
    status and last stderr line), so one bad backend/model pair does not end the run.
    """
    proc = subprocess.run(
        [python or sys.executable, "-m", "edgeseq.bench.backends"],
        input=json.dumps(asdict(spec)),
        capture_output=True,
        text=True,
        env=worker_env(spec.threads),
        timeout=spec.max_time_s + WORKER_TIMEOUT_MARGIN_S,
    )
    if proc.returncode != 0:
        # a crash inside a backend (onnxruntime segfaulted creating FP16 sessions, docs/traps.md #13) is this
        # row's result, not the end of the run
        from edgeseq.runtime.safety import describe_returncode

        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        detail = lines[-1][:200] if lines else "no output"
        return {
            "skipped": f"failed: the {spec.backend} worker ended with {describe_returncode(proc.returncode)}: {detail}"
        }
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"skipped": f"failed: the {spec.backend} worker printed no result"}


def _reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def _serve() -> int:
    """Interleaving worker: first line a spec; then commands ``{"run": [time_s, min_runs]}`` / ``{"finish": 1}``."""
    spec = MeasureSpec(**json.loads(sys.stdin.readline()))
    try:
        m = Measurement(spec)
    except BackendUnavailable as exc:
        _reply({"skipped": str(exc)})
        return 0
    except Exception as exc:  # noqa: BLE001 - a backend that cannot open a model is a row, not a crash
        _reply({"skipped": _failure(spec, exc)})
        return 0
    _reply({"ready": True})
    for line in sys.stdin:
        cmd = json.loads(line)
        if "run" in cmd:
            time_s, min_runs = cmd["run"]
            _reply({"samples_ns": m.run_for(float(time_s), int(min_runs), rewarm=INTERLEAVED_REWARM)})
        elif "finish" in cmd:
            _reply(m.finish())
            return 0
    return 0


def _worker_main() -> int:
    try:
        if "--serve" in sys.argv[1:]:
            return _serve()
        spec = MeasureSpec(**json.loads(sys.stdin.read()))
        row = measure(spec)
    except (InputError, DependencyError, EdgeseqError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    _reply(row)
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main())
