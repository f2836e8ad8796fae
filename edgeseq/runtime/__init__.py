"""The torch-free runtime: load an edgeseq ONNX model and predict, with the base install only.

Imports numpy, onnxruntime, Pillow and the standard library, never torch. Names are loaded on
first access (PEP 562), so ``edgeseq.runtime.metadata`` and ``edgeseq.runtime.preprocess`` stay
cheap to import for the training side, which does not need onnxruntime.

Example::

    from edgeseq.runtime import Predictor

    predictor = Predictor("models/digits-rows-lstm.onnx")  # providers="auto", threads = physical cores
    result = predictor.predict("digit.png", top_k=3)
    print(result.label, result.score, result.top_k)
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from edgeseq.errors import ModelFileError

_LAZY = {
    "Predictor": "edgeseq.runtime.predictor",
    "Prediction": "edgeseq.runtime.results",
    "TextPrediction": "edgeseq.runtime.results",
    "SessionConfig": "edgeseq.runtime.options",
    "GraphLevel": "edgeseq.runtime.options",
    "physical_cores": "edgeseq.runtime.session",  # old name of edgeseq.cpu.usable_physical_cores
    "usable_physical_cores": "edgeseq.cpu",
    "usable_cpus": "edgeseq.cpu",
    "cuda_available": "edgeseq.runtime.session",
    "ModelMetadata": "edgeseq.runtime.metadata",
    "preprocess_image": "edgeseq.runtime.preprocess",
}

__all__ = sorted([*_LAZY, "reference_model"])

REFERENCE_MODEL = "digits-rows-lstm.onnx"


def reference_model() -> Path:
    """Path of the shipped digits model: the installed copy (package data), else the source checkout's.

    Raises:
        ModelFileError: neither copy exists.
    """
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "assets" / REFERENCE_MODEL, package.parent / "models" / REFERENCE_MODEL):
        if candidate.is_file():
            return candidate
    raise ModelFileError(f"the shipped model {REFERENCE_MODEL} is not in {package / 'assets'} nor in models/")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgeseq.runtime' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
