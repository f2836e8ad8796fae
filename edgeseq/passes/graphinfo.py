"""What a (quantized) ONNX graph contains: op histogram and the compute ops still running in float.

The graph helpers live in :mod:`edgeseq.graphs` (one home); ``load_graph``, ``float_compute_ops``,
``qdq_wrapped``, ``COMPUTE_OPS`` and ``RNN_OPS`` are re-exported here for existing callers.

:func:`op_histogram` here keeps its old meaning (main graph only, most frequent first) until the
optimization stage switches to :func:`edgeseq.graphs.op_histogram`, the manifest key's meaning.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from edgeseq.graphs import COMPUTE_OPS, RNN_OPS, float_compute_ops, load_graph, qdq_wrapped

__all__ = ["COMPUTE_OPS", "RNN_OPS", "float_compute_ops", "load_graph", "op_histogram", "qdq_wrapped"]


def op_histogram(model: Any) -> dict[str, int]:
    """Count of nodes per op type in the main graph, most frequent first."""
    return dict(Counter(node.op_type for node in model.graph.node).most_common())
