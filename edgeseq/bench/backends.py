"""Deprecated: split by responsibility; this module re-exports the old names for one release.

* :mod:`edgeseq.bench.spec`: ``MeasureSpec``, ``OpenedModel``, ``BackendUnavailable``, ``make_input``;
* :mod:`edgeseq.bench.options`: ``BACKENDS``; :mod:`edgeseq.bench.modelinfo`: ``INT8_OPS``;
* :mod:`edgeseq.bench.ort_backend`, :mod:`edgeseq.bench.torch_backend`, :mod:`edgeseq.bench.openvino_backend`:
  the backends (``open_ort``, ``open_torch``, ``open_openvino``, ``ov_precision``);
* :mod:`edgeseq.bench.worker`: ``Measurement``, ``measure`` and the worker process
  (``python -m edgeseq.bench.worker``); :mod:`edgeseq.bench.processes`: ``measure_isolated``, ``worker_env``.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any

from edgeseq.bench.modelinfo import INT8_OPS
from edgeseq.bench.openvino_backend import open_openvino, ov_precision
from edgeseq.bench.options import BACKENDS
from edgeseq.bench.ort_backend import CUDNN_SEARCH, open_ort
from edgeseq.bench.processes import WORKER_TIMEOUT_MARGIN_S, measure_isolated, worker_env
from edgeseq.bench.spec import BackendUnavailable, MeasureSpec, OpenedModel, make_input
from edgeseq.bench.worker import (
    INTERLEAVED_REWARM,
    WARMUP_MAX_RUNS,
    WARMUP_MAX_S,
    WARMUP_STABLE_RATIO,
    WARMUP_WINDOW,
    Measurement,
    main,
    measure,
)

__all__ = [
    "BACKENDS",
    "CUDNN_SEARCH",
    "INT8_OPS",
    "INTERLEAVED_REWARM",
    "WARMUP_MAX_RUNS",
    "WARMUP_MAX_S",
    "WARMUP_STABLE_RATIO",
    "WARMUP_WINDOW",
    "WORKER_TIMEOUT_MARGIN_S",
    "BackendUnavailable",
    "MeasureSpec",
    "Measurement",
    "OpenedModel",
    "make_input",
    "measure",
    "measure_isolated",
    "open_openvino",
    "open_ort",
    "ov_precision",
    "worker_env",
]

warnings.warn(
    "edgeseq.bench.backends is deprecated; import from edgeseq.bench.spec, .worker, .processes or the "
    "backend modules (edgeseq.bench.ort_backend, .torch_backend, .openvino_backend)",
    DeprecationWarning,
    stacklevel=2,
)


def __getattr__(name: str) -> Any:
    # open_torch lives with torch: importing it imports torch, so only on request
    if name == "open_torch":
        return importlib.import_module("edgeseq.bench.torch_backend").open_torch
    raise AttributeError(f"module 'edgeseq.bench.backends' has no attribute {name!r}")


if __name__ == "__main__":
    sys.exit(main())
