"""Deprecated: moved to :mod:`edgeseq.optimization.variants.ort_opt`; this module re-exports it for one release.

The level names are :class:`edgeseq.runtime.options.GraphLevel`'s; ``GRAPH_LEVELS`` and ``ort_level_name``
are kept here as thin views of it.
"""

from __future__ import annotations

import warnings

from edgeseq.optimization.variants.ort_opt import PORTABILITY, optimize_graph
from edgeseq.runtime.options import GraphLevel

GRAPH_LEVELS = {level.value: level.ort_name for level in GraphLevel}


def ort_level_name(level: str) -> str:
    """``"all"`` -> ``"ORT_ENABLE_ALL"`` (``GraphLevel.parse(level).ort_name``).

    Raises:
        ConfigError: an unknown level.
    """
    return GraphLevel.parse(level, what="graph level").ort_name


__all__ = ["GRAPH_LEVELS", "PORTABILITY", "optimize_graph", "ort_level_name"]

warnings.warn(
    "edgeseq.passes.graphopt is deprecated; import from edgeseq.optimization.variants.ort_opt",
    DeprecationWarning,
    stacklevel=2,
)
