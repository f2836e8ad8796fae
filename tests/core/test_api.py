"""The top-level API: every lazy name resolves to the same object, however often and in whatever order."""

from __future__ import annotations

import importlib

import edgeseq


def test_lazy_names_resolve_and_stay_functions_after_submodule_imports() -> None:
    first = {name: getattr(edgeseq, name) for name in edgeseq.__all__}
    for module in ("edgeseq.training", "edgeseq.optimization", "edgeseq.export", "edgeseq.parity", "edgeseq.bench"):
        importlib.import_module(module)
    for name, value in first.items():
        assert getattr(edgeseq, name) is value, name
    assert callable(edgeseq.train) and callable(edgeseq.optimize) and callable(edgeseq.export_onnx)
    assert callable(edgeseq.bench.bench)
