"""The benchmark suite (edgeseq.pipeline.suite): the suite file's validation, the targets check on made-up
rows, the idle wait on a fake clock, and end-to-end runs through ``edgeseq bench suite``."""

from __future__ import annotations

import pytest

from edgeseq.bench.result import BenchRow
from edgeseq.errors import ConfigError
from edgeseq.pipeline import suite as suite_module
from edgeseq.pipeline.suite import load_suite, target_lines, wait_until_idle


def test_the_repository_suite_loads():
    suite = load_suite("benchmarks/suite.toml")
    names = [m.name for m in suite.models]
    assert names == ["resnet18-rows-lstm", "digits-rows-lstm", "crnn-textline"]
    r18 = suite.models[0]
    assert {"fp32", "int8-static"} <= set(r18.variants) and "int8-static" in r18.openvino_variants
    assert {"torch", "ort-cpu", "openvino", "openvino-f32"} <= set(suite.backends)
    assert suite.spinning is True  # onnxruntime's default, as the other backends' thread pools run by default


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[suite]\nbackends = ["ort-cpu"]\n', "at least one"),
        ('[suite]\nbackends = ["tensorrt"]\n[[model]]\nname = "a"\nrecipe = "r.toml"\n', "backend"),
        ('[suite]\nspeed = 1\n[[model]]\nname = "a"\nrecipe = "r.toml"\n', "unknown keys"),
        ('[[model]]\nname = "a"\nrecipe = "r.toml"\nvariants = ["int8-static"]\n', "fp32"),
        ('[[model]]\nname = "a"\nrecipe = "r.toml"\nopenvino_variants = ["int8-static"]\n', "not in variants"),
        ('[[model]]\nname = "a"\nrecipe = "r.toml"\ncolour = 1\n', "unknown key"),
        ('[suite]\nspinning = "yes"\n[[model]]\nname = "a"\nrecipe = "r.toml"\n', "spinning"),
    ],
)
def test_bad_suite_files(tmp_path, text, match):
    path = tmp_path / "suite.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_suite(path)


def _row(backend: str, variant: str, precision: str, p50: float, model_precision: str = "fp32") -> BenchRow:
    return BenchRow(
        model="r18", variant=variant, backend=backend, precision=precision, model_precision=model_precision,
        provider="", batch=1, threads=2, spinning=False, input_shape=[1, 3, 224, 224], input_dtype="float32",
        model_path="", model_size_mb=1.0, p50_ms=p50,
    )  # fmt: skip


def test_targets_met_and_missed():
    rows = [
        _row("torch", "eager", "fp32", 30.0),
        _row("ort-cpu", "fp32", "fp32", 15.0),
        _row("ort-cpu", "int8-static", "int8", 5.0, "int8"),
        _row("openvino", "fp32", "bf16", 10.0),
        _row("openvino", "int8-static", "int8+bf16", 4.0, "int8"),
    ]
    (line,) = target_lines(rows)
    assert "ORT FP32 0.50x eager (meets <= 0.6x)" in line
    assert "best (int8-static, 5.00 ms) 0.17x eager (meets <= 0.2x)" in line
    assert "faster than OpenVINO default (bf16, 10.00 ms)" in line
    assert "NOT faster than OpenVINO on INT8 (int8+bf16, 4.00 ms)" in line


class _Clock:
    """A fake nanosecond clock whose sleep lets the time pass at once (no test waits for real)."""

    def __init__(self) -> None:
        self.now = 0
        self.slept: list[float] = []

    def __call__(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += round(seconds * 1e9)


def test_wait_until_idle_polls_until_the_load_drops(monkeypatch):
    monkeypatch.setattr(suite_module, "usable_physical_cores", lambda: 2)  # idle: load <= 1.0
    loads = iter([3.0, 2.0, 0.5, 9.9])
    clock, lines = _Clock(), []
    load = wait_until_idle(
        60, poll_s=15, log=lines.append, clock=clock, sleep=clock.sleep, load_avg=lambda: next(loads)
    )
    assert load == 0.5 and clock.slept == [15, 15]
    assert len(lines) == 2 and "waiting for an idle machine" in lines[0]


def test_wait_until_idle_gives_up_at_its_limit(monkeypatch):
    monkeypatch.setattr(suite_module, "usable_physical_cores", lambda: 2)
    clock, lines = _Clock(), []
    load = wait_until_idle(40, poll_s=15, log=lines.append, clock=clock, sleep=clock.sleep, load_avg=lambda: 3.0)
    assert load == 3.0 and clock.slept == [15, 15, 15]  # 45 s >= 40 s: no further wait
    assert "still busy" in lines[-1]


def test_the_old_suite_paths_still_work_with_a_deprecation_warning():
    import importlib
    import sys

    import edgeseq.bench

    with pytest.warns(DeprecationWarning, match="edgeseq.pipeline.suite"):
        assert edgeseq.bench.run_suite is suite_module.run_suite
    with pytest.warns(DeprecationWarning, match="edgeseq.pipeline.suite"):
        assert edgeseq.bench.load_suite is load_suite
    sys.modules.pop("edgeseq.bench.suite", None)
    with pytest.warns(DeprecationWarning, match="edgeseq.pipeline.suite"):
        old = importlib.import_module("edgeseq.bench.suite")
    assert old.prepare_model is suite_module.prepare_model and old.target_lines is target_lines


TINY_RECIPE = """
name = "tiny-rows-lstm"
[model]
backbone = "smallcnn"
backbone_args = { channels = [4], pools = [[2, 2]] }
sequencer = "rows"
rnn = "lstm"
hidden_size = 8
head = "last"
[data]
dataset = "digits"
[preprocess]
height = 16
width = 16
color = "L"
"""


@pytest.mark.slow
def test_suite_end_to_end_with_a_tiny_recipe(tmp_path, capsys):
    """Random-weight checkpoint -> export -> eager and ORT rows -> reports, through the CLI."""
    pytest.importorskip("torch")
    from edgeseq.cli import main

    (tmp_path / "tiny.toml").write_text(TINY_RECIPE)
    (tmp_path / "suite.toml").write_text(
        '[suite]\nbackends = ["torch", "ort-cpu"]\nthreads = [1]\nmin_time_s = 0.05\n'
        f'[[model]]\nname = "tiny"\nrecipe = "{tmp_path / "tiny.toml"}"\n'
    )
    out, work = tmp_path / "results", tmp_path / "work"
    code = main(
        ["bench", "suite", str(tmp_path / "suite.toml"), "--out", str(out), "--work-dir", str(work), "--in-process"]
    )
    assert code == 0
    assert {"suite.json", "suite.csv", "suite.md", "suite_latency.png"} <= {p.name for p in out.iterdir()}
    from edgeseq.bench.result import BenchResult

    result = BenchResult.load(out / "suite.json")
    assert [(r.backend, r.variant) for r in result.rows] == [("torch", "eager"), ("ort-cpu", "fp32")]
    assert all(r.skipped is None and r.p50_ms > 0 for r in result.rows)
    assert result.targets and "tiny batch 1, 1 threads" in result.targets[0]
    assert any("random weights" in n for n in result.notes)
    assert "Targets" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("kernel", ["gemm", "symmetric"])
def test_openvino_int8_rows_also_get_the_symmetric_encoding(tmp_path, monkeypatch, kernel):
    """A zero-point -1 INT8 file (the GEMM conv kernel, AMX) that OpenVINO reads also gets a symmetric copy."""
    pytest.importorskip("torch")
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    from edgeseq.optimization import int8
    from edgeseq.optimization.conv_weights import conv_weight_dequantizers
    from edgeseq.pipeline.suite import SYMMETRIC_SUFFIX, SuiteModel, prepare_model

    def zero_points(path):
        proto = onnx.load(str(path))
        inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
        return [inits[n.input[2]] for n in conv_weight_dequantizers(proto)]

    monkeypatch.setattr(int8, "choose_conv_kernel", lambda *_: kernel)  # as on an AMX / a VNNI CPU
    (tmp_path / "tiny.toml").write_text(TINY_RECIPE)
    model = SuiteModel(
        name="tiny",
        recipe=str(tmp_path / "tiny.toml"),
        variants=["fp32", "int8-static"],
        openvino_variants=["fp32", "int8-static"],
    )
    files = prepare_model(model, tmp_path / "work", log=lambda *_: None)
    main_zp = zero_points(files["int8-static"])
    name = "int8-static" + SYMMETRIC_SUFFIX
    if kernel == "symmetric":  # nothing to add: the file itself is the symmetric one
        assert all(np.all(zp == 0) for zp in main_zp) and name not in files
        return
    assert main_zp and all(np.all(zp == -1) for zp in main_zp)
    assert all(np.all(zp == 0) for zp in zero_points(files[name]))
    x = np.random.default_rng(0).standard_normal((2, 1, 16, 16)).astype(np.float32)
    run = lambda p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]  # noqa: E731
    np.testing.assert_array_equal(run(files["int8-static"]), run(files[name]))
