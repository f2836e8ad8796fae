"""``optimize`` on models with external data and over 2 GiB, and variants that change with their manifests.

* A model whose weights live beside it (``weights.bin``) used to fail with onnx's ValidationError;
  every variant is now written with its own ``<variant>.onnx.data`` and passes the runtime's checks.
* A model over 2 GiB (a 2 GiB + 1 MiB initializer, written as a sparse file: no 2 GB of disk) is
  optimized (slow: ~30 s, ~2.5 GB of memory in a child process).
* A variant and its manifest are published together: after a SIGKILL at any moment, no manifest
  records another file's sha256.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from child_limits import REPO, run_limited

from edgeseq.fileio import sha256_file
from edgeseq.optimization import OptimizeConfig, optimize
from edgeseq.optimization.external import external_locations
from edgeseq.runtime import Predictor
from edgeseq.runtime.safety import check_model_file

onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def external_model(tiny_lstm: Path, tmp_path_factory) -> Path:
    """The tiny LSTM classifier with every weight in ``weights.bin`` beside it."""
    folder = tmp_path_factory.mktemp("external")
    model = onnx.load(str(tiny_lstm))
    path = folder / "model.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, location="weights.bin", size_threshold=0)
    assert external_locations(path) == ["weights.bin"]
    return path


def test_every_variant_of_a_model_with_external_data_is_built_and_loads(external_model, labelled_by, tmp_path) -> None:
    samples = labelled_by(external_model, 16)
    out = tmp_path / "out"
    config = OptimizeConfig(
        variants=["fp32", "ort-opt", "int8-static", "int8-dynamic", "int8-mixed", "fp16"], latency_runs=0
    )
    result = optimize(external_model, out, config, calibration=samples, evaluation=samples)
    x = np.stack(samples.inputs[:4])
    reference = Predictor(external_model, threads=1).run(x)["logits"]
    for row in result.variants:
        assert row.path and not row.reason.startswith("not built"), (row.name, row.reason)
        path = Path(row.path)
        assert path.parent == out
        for location in external_locations(path):  # each variant names its own side file
            assert location == f"{path.name}.data" and (out / location).is_file()
        report = check_model_file(path)  # containment checks: plain files inside the folder, one link
        assert report.manifest_verified
        logits = Predictor(path, threads=1).run(x.astype(np.float32))["logits"]
        tolerance = {"fp32": 1e-6, "ort-opt": 1e-5}.get(row.name, 0.5)  # int8/fp16: they only need to run
        assert np.abs(logits - reference).max() <= tolerance, row.name
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no work folder left


def _big_model(folder: Path) -> Path:
    """A model whose initializer is 2 GiB + 1 MiB (a sparse file: no disk blocks), used through a Gather
    whose index comes from the input, so no optimizer can fold the weight away."""
    from onnx import TensorProto, helper

    rows, cols = 16, (2**31 + 2**20) // 4 // 16
    folder.mkdir(parents=True)
    with open(folder / "weights.bin", "wb") as fh:
        fh.truncate(rows * cols * 4)
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[rows, cols], data_location=TensorProto.EXTERNAL)
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", str(rows * cols * 4))):
        weight.external_data.add(key=key, value=value)
    consts = [
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("s0", TensorProto.INT64, [1], [0]),
        helper.make_tensor("s4", TensorProto.INT64, [1], [4]),
        helper.make_tensor("a1", TensorProto.INT64, [1], [1]),
    ]
    nodes = [
        helper.make_node("ReduceMax", ["images"], ["peak"], keepdims=0),
        helper.make_node("Mul", ["peak", "zero"], ["nothing"]),
        helper.make_node("Cast", ["nothing"], ["i0"], to=TensorProto.INT64),
        helper.make_node("Unsqueeze", ["i0", "s0"], ["idx"]),
        helper.make_node("Gather", ["w", "idx"], ["row"], axis=0),
        helper.make_node("Slice", ["row", "s0", "s4", "a1"], ["head"]),
        helper.make_node("Add", ["images", "head"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "big",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])],
        initializer=[weight, *consts],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(folder / "model.onnx"))
    return folder / "model.onnx"


@pytest.mark.slow
def test_a_model_over_2_gib_is_optimized(tmp_path: Path) -> None:
    model = _big_model(tmp_path / "big")
    out = tmp_path / "out"
    child = run_limited(
        cli=["optimize", str(model), "-o", str(out), "--variants", "fp32,ort-opt", "--set", "optimize.latency_runs=0"],
        timeout=600,
    )
    assert child.returncode == 0, child.stderr
    report = json.loads((out / "optimize_report.json").read_text())
    assert [(v["name"], v["status"]) for v in report["variants"]] == [("fp32", "reference"), ("ort-opt", "accepted")]
    for name in ("fp32", "ort-opt"):
        assert (out / f"{name}.onnx.data").stat().st_size >= 2**31  # the weight stayed in its side file
        assert external_locations(out / f"{name}.onnx") == [f"{name}.onnx.data"]


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("EDGESEQ_BIG_TESTS") != "1", reason="needs ~9 GB of memory and ~3 min: set EDGESEQ_BIG_TESTS=1"
)
def test_a_model_over_2_gib_is_quantized(tmp_path: Path) -> None:
    model = _big_model(tmp_path / "big")
    out = tmp_path / "out"
    argv = ["optimize", str(model), "-o", str(out), "--variants", "int8-dynamic", "--set", "optimize.latency_runs=0"]
    child = run_limited(cli=argv, timeout=900)
    assert child.returncode == 0, child.stderr
    assert external_locations(out / "int8-dynamic.onnx") == ["int8-dynamic.onnx.data"]


def _manifests_match(out: Path) -> list[str]:
    """Models whose manifest records another file's sha256 (must stay empty)."""
    bad = []
    for model in out.glob("*.onnx"):
        manifest = model.with_suffix(".json")
        if manifest.is_file():
            recorded = json.loads(manifest.read_text()).get("sha256")
            if recorded != sha256_file(model):
                bad.append(model.name)
    return bad


@pytest.mark.slow
def test_a_killed_optimize_never_leaves_a_variant_beside_another_files_manifest(
    tiny_lstm: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    argv = [
        sys.executable,
        "-m",
        "edgeseq",
        "optimize",
        str(tiny_lstm),
        "-o",
        str(out),
        "--variants",
        "ort-opt,int8-dynamic",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    assert (
        subprocess.run(
            [*argv, "--set", "optimize.latency_runs=0"], env=env, capture_output=True, check=False
        ).returncode
        == 0
    )
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    for delay in (0.5, 1.5, 2.5, 3.5, 5.0):  # a second run with other settings, killed at different moments
        proc = subprocess.Popen(
            [*argv, "--set", "optimize.graph_level=basic"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert _manifests_match(out) == [], f"killed after {delay} s"
        for name in ("ort-opt.onnx", "int8-dynamic.onnx"):
            check_model_file(out / name)  # loads: the runtime never refuses a published variant
    assert set(first) <= {p.name for p in out.iterdir()}


def test_a_memory_bomb_is_refused_before_any_variant_is_built(tmp_path: Path, monkeypatch) -> None:
    from memory_bombs import bomb_model

    from edgeseq.errors import ResourceLimitError

    monkeypatch.setenv("EDGESEQ_MEMORY_LIMIT", "1G")
    bomb = bomb_model(tmp_path / "bomb", "Tile")
    with pytest.raises(ResourceLimitError, match=r"above the memory limit of 1\.0 GiB \(EDGESEQ_MEMORY_LIMIT\)"):
        optimize(bomb, tmp_path / "out", OptimizeConfig(variants=["fp32"], latency_runs=0))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_optimize_onto_a_full_disk_is_a_one_line_error(tiny_lstm: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["optimize", str(tiny_lstm), "-o", str(out), "--variants", "ort-opt", "--set", "optimize.latency_runs=0"]
    child = run_limited(cli=argv, file_size=8192)  # the fp32 copy alone is ~60 kB
    assert child.returncode == 2, child.stderr
    last = child.stderr.strip().splitlines()[-1]
    assert last.startswith("edgeseq optimize: error: cannot write ") and "File too large" in last
    assert not out.exists() or [p.name for p in out.iterdir()] == []  # no variant, manifest or work folder
