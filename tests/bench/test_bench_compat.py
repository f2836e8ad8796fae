"""Old import paths of the benchmark (before the package was split by responsibility) still work, with a warning."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from dataclasses import asdict

import pytest


def _fresh_import(name: str):
    sys.modules.pop(name, None)
    with pytest.warns(DeprecationWarning, match=name):
        return importlib.import_module(name)


def test_backends_reexports_the_new_homes():
    from edgeseq.bench import openvino_backend, options, ort_backend, processes, spec, worker

    old = _fresh_import("edgeseq.bench.backends")
    assert old.MeasureSpec is spec.MeasureSpec and old.OpenedModel is spec.OpenedModel
    assert old.BackendUnavailable is spec.BackendUnavailable and old.make_input is spec.make_input
    assert old.Measurement is worker.Measurement and old.measure is worker.measure
    assert old.measure_isolated is processes.measure_isolated and old.worker_env is processes.worker_env
    assert old.open_ort is ort_backend.open_ort and old.open_openvino is openvino_backend.open_openvino
    assert old.BACKENDS is options.BACKENDS
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = old.nothing


def test_backends_open_torch_loads_torch_only_on_request():
    pytest.importorskip("torch")
    from edgeseq.bench import torch_backend

    old = _fresh_import("edgeseq.bench.backends")
    assert old.open_torch is torch_backend.open_torch


def test_the_old_worker_command_still_measures_a_row(tiny_onnx):
    from edgeseq.bench.processes import worker_env
    from edgeseq.bench.spec import MeasureSpec

    spec = MeasureSpec(
        backend="ort-cpu",
        model_path=str(tiny_onnx),
        input_name="images",
        shape=[1, 1, 8, 16],
        min_time_s=0.0,
        min_runs=2,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "edgeseq.bench.backends"],
        input=json.dumps(asdict(spec)),
        capture_output=True,
        text=True,
        env=worker_env(1),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-1000:]
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    assert row["provider"] == "CPUExecutionProvider" and row["timing"]["n"] >= 2
