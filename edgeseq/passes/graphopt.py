"""Offline graph optimization with onnxruntime's own optimizer (``SessionOptions.optimized_model_filepath``).

The saved graph at ``all`` contains layout transforms (NCHWc) and fusions chosen for *this* CPU's
instruction set: such a file may run slower, or not at all, on another machine. ``basic`` and
``extended`` are portable. :data:`PORTABILITY` says so in words for the manifest.
"""

from __future__ import annotations

from pathlib import Path

from edgeseq.errors import ConfigError
from edgeseq.fileio import atomic_path

GRAPH_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}

PORTABILITY = {
    "disable": "portable",
    "basic": "portable",
    "extended": "portable (onnxruntime contrib ops; needs onnxruntime, not any ONNX runtime)",
    "all": "specific to the machine it was made on (layout and kernels chosen for this CPU); "
    "re-run the optimization on the target machine or ship a lower level",
}


def ort_level_name(level: str) -> str:
    """``"all"`` → ``"ORT_ENABLE_ALL"``.

    Raises:
        ConfigError: an unknown level.
    """
    if level not in GRAPH_LEVELS:
        raise ConfigError(f"graph level: got {level!r}; expected one of: {', '.join(GRAPH_LEVELS)}")
    return GRAPH_LEVELS[level]


def optimize_graph(src: str | Path, dst: str | Path, level: str = "extended") -> Path:
    """Write onnxruntime's optimized graph of ``src`` at ``level`` to ``dst`` (an .onnx file), atomically.

    Args:
        src: the input ONNX model.
        dst: where to write the optimized model.
        level: ``"basic"``, ``"extended"`` or ``"all"`` (machine-specific, see module docstring).
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, ort_level_name(level))
    so.intra_op_num_threads = 1
    with atomic_path(dst) as tmp:
        # onnxruntime picks the file format from the suffix; ".onnx" keeps it ONNX (not .ort)
        out = tmp.with_name(tmp.name + ".onnx")
        try:
            so.optimized_model_filepath = str(out)
            ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
            out.replace(tmp)
        finally:
            out.unlink(missing_ok=True)
    return Path(dst)
