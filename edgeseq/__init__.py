"""edgeseq: CNN → sequence → RNN image models from PyTorch training to the edge.

Importing ``edgeseq`` never imports torch: the heavy entry points are re-exported lazily
(PEP 562), so ``edgeseq.runtime`` works with the base install alone. No lazy name is also the name of a
submodule (importing ``edgeseq.<submodule>`` would replace the function by the module); the benchmark
entry point is therefore ``edgeseq.bench.bench``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it; imported on first access
_LAZY = {
    "Predictor": "edgeseq.runtime",
    "load_config": "edgeseq.config",
    "ExperimentConfig": "edgeseq.config",
    "build_model": "edgeseq.nn",
    "ImageSequenceModel": "edgeseq.nn",
    "train": "edgeseq.training",
    "evaluate_checkpoint": "edgeseq.training",
    "load_checkpoint": "edgeseq.checkpoint",
    "export_onnx": "edgeseq.export",
    "export_checkpoint": "edgeseq.export",
    "ExportOptions": "edgeseq.export",
    "load_profile": "edgeseq.profiles",
    "validate_onnx": "edgeseq.parity",
    "check_parity": "edgeseq.parity",
    "optimize": "edgeseq.optimization.run",
    "run_pipeline": "edgeseq.pipeline",
    "PipelineOptions": "edgeseq.pipeline",
}

__all__ = ["__version__", *_LAZY]

# optional packages -> the extra that installs them (named when a lazy entry point needs a missing one)
_EXTRAS = {"torch": "train", "torchvision": "train", "onnx": "train", "onnxscript": "train", "sklearn": "train"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        try:
            module = importlib.import_module(_LAZY[name])
        except ModuleNotFoundError as exc:
            top = (exc.name or "").split(".")[0]
            if top not in _EXTRAS:
                raise
            from edgeseq.errors import DependencyError

            raise DependencyError(
                f"edgeseq.{name} needs {top}; install it with: pip install 'edgeseq[{_EXTRAS[top]}]'"
            ) from exc
        return getattr(module, name)
    raise AttributeError(f"module 'edgeseq' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
