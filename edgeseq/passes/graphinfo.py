"""Deprecated: moved to :mod:`edgeseq.graphs`; this module re-exports it for one release.

``op_histogram`` is :func:`edgeseq.graphs.op_histogram` now: the whole model, subgraphs included, sorted by
op name (the manifest's meaning), no longer the main graph by frequency.
"""

from __future__ import annotations

import warnings

from edgeseq.graphs import COMPUTE_OPS, RNN_OPS, float_compute_ops, load_graph, op_histogram, qdq_wrapped

__all__ = ["COMPUTE_OPS", "RNN_OPS", "float_compute_ops", "load_graph", "op_histogram", "qdq_wrapped"]

warnings.warn(
    "edgeseq.passes.graphinfo is deprecated; import from edgeseq.graphs",
    DeprecationWarning,
    stacklevel=2,
)
