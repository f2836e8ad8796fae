"""``ort-opt``: onnxruntime's offline-optimized graph (``SessionOptions.optimized_model_filepath``).

The saved graph at ``all`` contains layout transforms (NCHWc) and fusions chosen for *this* CPU's
instruction set: such a file may run slower, or not at all, on another machine. ``basic`` and
``extended`` are portable. :data:`PORTABILITY` says so in words for the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeseq.config import _choice
from edgeseq.fileio import atomic_with_sidecars
from edgeseq.optimization.external import (
    EXTERNAL_SIZE_THRESHOLD,
    ORT_EXTERNAL_FILE_ENTRY,
    ORT_EXTERNAL_MIN_SIZE_ENTRY,
    data_file_name,
    has_external_data,
)
from edgeseq.optimization.variants.base import BuildContext, VariantBuilder, register_variant
from edgeseq.runtime.options import CPU, GraphLevel, SessionConfig, session_options
from edgeseq.runtime.session import open_session

PORTABILITY = {
    "disable": "portable",
    "basic": "portable",
    "extended": "portable (onnxruntime contrib ops; needs onnxruntime, not any ONNX runtime)",
    "all": "specific to the machine it was made on (layout and kernels chosen for this CPU); "
    "re-run the optimization on the target machine or ship a lower level",
}
# The levels worth shipping as a variant ("disable" would be the input model again).
GRAPH_LEVEL_CHOICES = (GraphLevel.BASIC.value, GraphLevel.EXTENDED.value, GraphLevel.ALL.value)


def optimize_graph(src: str | Path, dst: str | Path, level: str | GraphLevel = GraphLevel.EXTENDED) -> Path:
    """Write onnxruntime's optimized graph of ``src`` at ``level`` to ``dst`` (an .onnx file), atomically.

    Args:
        src: the input ONNX model.
        dst: where to write the optimized model.
        level: ``"basic"``, ``"extended"`` or ``"all"`` (machine-specific, see module docstring), or a
            :class:`GraphLevel`.

    Raises:
        ConfigError: an unknown level.
        SessionLoadError: onnxruntime cannot load ``src``.
    """
    level = GraphLevel.parse(level, what="graph level")
    with atomic_with_sidecars(dst) as out:  # out ends in .onnx: onnxruntime picks the format from the suffix
        entries = {}
        if has_external_data(src):  # weights stay in a side file (a model over 2 GiB cannot hold them)
            entries = {
                ORT_EXTERNAL_FILE_ENTRY: data_file_name(out.name),
                ORT_EXTERNAL_MIN_SIZE_ENTRY: str(EXTERNAL_SIZE_THRESHOLD),
            }
        options = session_options(
            SessionConfig(threads=1, graph_optimization=level), optimized_model_path=out, config_entries=entries
        )
        open_session(src, options, [CPU])
    return Path(dst)


@dataclass
class OrtOptSettings:
    """``[optimize]`` keys of the ``ort-opt`` variant."""

    graph_level: str = "extended"  # basic | extended | all ("all" is machine-specific)

    def __post_init__(self) -> None:
        _choice("optimize.graph_level", self.graph_level, GRAPH_LEVEL_CHOICES)


@register_variant
class OrtOptBuilder(VariantBuilder[OrtOptSettings]):
    """onnxruntime's offline-optimized FP32 graph."""

    name = "ort-opt"
    precision = "fp32"
    order = 10
    settings_type = OrtOptSettings

    def build(self, ctx: BuildContext, settings: OrtOptSettings, dst: Path) -> dict[str, Any]:
        """Save the graph onnxruntime optimized at ``graph_level``."""
        optimize_graph(ctx.model, dst, settings.graph_level)
        return {"graph_level": settings.graph_level, "portability": PORTABILITY[settings.graph_level]}
