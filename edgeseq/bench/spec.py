"""One row to measure (:class:`MeasureSpec`) and a model opened by a backend (:class:`OpenedModel`).

Plain data shared by the backends, the worker process that measures a row and the parent that plans
the rows; numpy only, so a worker imports nothing but the backend its row needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeseq.bench.options import BACKENDS, TimingOptions
from edgeseq.errors import ConfigError, EdgeseqError

INPUT_DTYPES = ("float32", "uint8", "float16")


@dataclass
class MeasureSpec(TimingOptions):
    """One row to measure; plain data so it can travel to a worker process as JSON.

    Attributes:
        backend: one of BACKENDS.
        model_path: the ONNX file (ONNX backends) or the checkpoint (``torch``).
        input_name: the graph input to feed.
        shape: the full input shape, batch first.
        dtype: ``"float32"``, ``"float16"`` or ``"uint8"``.
        batch, threads: recorded, and ``threads`` is applied to the backend.
        spinning: let onnxruntime's intra-op threads spin-wait between runs (off by default:
            spinning burns CPU that preprocessing needs, docs/traps.md #15).
        model_precision: what the graph computes in ("fp32", "fp16", "int8"), from the graph.
        min_time_s, min_runs, warmup_runs, max_time_s: see :class:`TimingOptions`.
        profile: also run onnxruntime's profiler (ort-cpu only) for per-stage times.
        profile_runs: profiled inferences after the timed loop.
        seed: seed of the random input.
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
    profile: bool = False
    profile_runs: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend: got {self.backend!r}; expected one of {', '.join(BACKENDS)}")
        if self.dtype not in INPUT_DTYPES:
            raise ConfigError(f"input dtype: got {self.dtype!r}; expected float32, float16 or uint8")
        if self.threads < 1 or self.batch < 1:
            raise ConfigError(f"threads and batch must be >= 1; got {self.threads}, {self.batch}")
        super().__post_init__()


def _no_op() -> None:
    return None


@dataclass
class OpenedModel:
    """A model opened by a backend, ready to time.

    Attributes:
        infer: one inference on the given input.
        provider: what actually executes: "CPUExecutionProvider", "torch-cpu", "openvino-CPU", ...
        precision: what it actually computes in.
        settings: backend settings read back for the record.
        close: releases the backend's resources.
        profile: per-stage milliseconds per inference for an input, from the backend's own profiler
            (None: the backend has none).
    """

    infer: Callable[[np.ndarray], Any]
    provider: str
    precision: str
    settings: dict[str, Any] = field(default_factory=dict)
    close: Callable[[], None] = _no_op
    profile: Callable[[np.ndarray], dict[str, float]] | None = None


class BackendUnavailable(EdgeseqError):
    """The backend cannot run here (not installed, no GPU); the row is recorded as skipped."""


def make_input(shape: list[int], dtype: str, seed: int = 0) -> np.ndarray:
    """Random input of ``shape``: uint8 pixels 0..255 or standard-normal floats (fixed seed)."""
    rng = np.random.default_rng(seed)
    if dtype == "uint8":
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    return rng.standard_normal(size=shape).astype(dtype)
