"""Deprecated: graph inspection moved to :mod:`edgeseq.graphs`, the export checks to :mod:`edgeseq.export.verify`.

This module re-exports both for one release.
"""

from __future__ import annotations

import warnings

from edgeseq.export.verify import check_graph, frozen_axes, unrolled_loops
from edgeseq.graphs import RNN_OPS, dims, io_specs, iter_nodes, op_histogram, rnn_node_counts, rnn_nodes

__all__ = [
    "RNN_OPS",
    "check_graph",
    "dims",
    "frozen_axes",
    "io_specs",
    "iter_nodes",
    "op_histogram",
    "rnn_node_counts",
    "rnn_nodes",
    "unrolled_loops",
]

warnings.warn(
    "edgeseq.onnx_checks is deprecated; import graph helpers from edgeseq.graphs and "
    "check_graph/frozen_axes/unrolled_loops from edgeseq.export.verify",
    DeprecationWarning,
    stacklevel=2,
)
