"""A tiny real benchmark run (ONNX Runtime CPU, OpenVINO when installed), its JSON schema and the CLI."""

from __future__ import annotations

import json

import pytest

from edgeseq.bench.profile import STAGES
from edgeseq.bench.runner import BenchOptions, BenchResult, ModelInfo, ModelRef, bench, input_shapes
from edgeseq.cli import main
from edgeseq.errors import ConfigError

QUICK = dict(min_time_s=0.02, min_runs=5, warmup_runs=1, max_time_s=1.0)

ROW_KEYS = {
    "model", "variant", "backend", "precision", "model_precision", "provider", "batch", "threads", "spinning",
    "input_shape", "input_dtype", "timesteps", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "mean_ms", "std_ms",
    "min_ms", "max_ms", "n", "images_per_s", "session_create_ms", "cold_ms", "peak_rss_mb", "rss_isolated",
    "model_size_mb", "gflops_per_inference", "achieved_gflops_s", "stages_ms", "accuracy", "parity_max_abs_diff",
    "settings", "notes", "skipped",
}  # fmt: skip
ENV_KEYS = {
    "cpu_model",
    "isa_flags",
    "physical_cores",
    "usable_cores",
    "memory_gib",
    "os",
    "python",
    "packages",
    "gpus",
    "models",
}


@pytest.fixture(scope="module")
def tiny_result(tiny_onnx) -> BenchResult:
    options = BenchOptions(backends=["ort-cpu"], batches=[1, 2], threads=[1], widths=[16, 32], isolate=False, **QUICK)
    return bench([tiny_onnx], options=options)


def test_rows_cover_the_sweep(tiny_result, tiny_dims):
    rows = tiny_result.rows
    height = tiny_dims["height"]
    assert [(r.batch, r.input_shape) for r in rows] == [
        (1, [1, 1, height, 16]),
        (1, [1, 1, height, 32]),
        (2, [2, 1, height, 16]),
        (2, [2, 1, height, 32]),
    ]
    for r in rows:
        assert r.skipped is None
        assert r.provider == "CPUExecutionProvider"
        assert r.precision == "fp32" and r.threads == 1 and r.spinning is False
        assert r.n >= QUICK["min_runs"]
        assert 0 < r.min_ms <= r.p50_ms <= r.p90_ms <= r.p99_ms <= r.max_ms
        assert r.images_per_s == pytest.approx(r.batch * 1e3 / r.p50_ms)
        assert r.session_create_ms > 0 and r.cold_ms > 0
        assert r.timesteps == r.input_shape[3]  # the tiny CTC model keeps one timestep per column
        assert r.parity_max_abs_diff == pytest.approx(1e-7)  # read from the manifest beside the model
        assert set(r.stages_ms) <= set(STAGES) and {"cnn", "rnn"} <= set(r.stages_ms)


def test_flops_of_the_tiny_model(tiny_result, tiny_dims):
    row = tiny_result.rows[0]  # batch 1, width 16
    w, c, h = 16, tiny_dims["channels"], tiny_dims["hidden"]
    conv = 2 * (c * tiny_dims["height"] * w) * 9  # 3x3 kernel, 1 input channel
    lstm = 2 * w * 4 * h * (c + h)  # 4 gates, input + recurrent projections, every timestep
    head = 2 * (w * tiny_dims["classes"]) * h
    assert row.gflops_per_inference * 1e9 == pytest.approx(conv + lstm + head)


def test_json_schema_round_trip(tiny_result, tmp_path):
    data = json.loads(json.dumps(tiny_result.to_json()))
    assert data["schema"] == "edgeseq-bench/1"
    assert {"created", "env", "options", "rows", "notes"} <= set(data)
    assert ENV_KEYS <= set(data["env"])
    for row in data["rows"]:
        assert ROW_KEYS <= set(row)
    again = BenchResult.from_json(data)
    assert [r.key for r in again.rows] == [r.key for r in tiny_result.rows]


def test_isolated_row_has_its_own_peak_rss(tiny_onnx):
    result = bench([tiny_onnx], options=BenchOptions(backends=["ort-cpu"], threads=[1], profile=False, **QUICK))
    (row,) = result.rows
    assert row.rss_isolated is True
    assert row.peak_rss_mb is not None and row.peak_rss_mb >= (row.rss_before_mb or 0) > 0


def test_cuda_row_skipped_with_reason_without_a_gpu(tiny_onnx):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("a CUDA provider is present here")
    result = bench([tiny_onnx], options=BenchOptions(backends=["ort-cuda"], threads=[1], isolate=False, **QUICK))
    assert "CUDAExecutionProvider is not available" in result.rows[0].skipped


def test_openvino_records_the_precision_it_ran(tiny_onnx):
    pytest.importorskip("openvino")
    options = BenchOptions(backends=["openvino", "openvino-f32"], threads=[1], isolate=False, **QUICK)
    default, f32 = bench([tiny_onnx], options=options).rows
    assert f32.precision == "fp32" and f32.settings["INFERENCE_PRECISION_HINT"] == "f32"
    # the default is bf16 on CPUs with bf16 support (docs/traps.md #14), f32 elsewhere: what ran is read back
    assert default.precision == {"bf16": "bf16", "f32": "fp32"}[default.settings["INFERENCE_PRECISION_HINT"]]
    assert default.provider == "openvino-CPU"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backends": ["tensorrt"]}, "backend"),
        ({"batches": [0]}, "batches"),
        ({"widths": [16], "heights": [8]}, "both"),
        ({"min_time_s": 5, "max_time_s": 1}, "min_time_s"),
    ],
)
def test_bad_options_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        BenchOptions(**kwargs)


def test_torch_without_checkpoint_refused(tiny_onnx):
    with pytest.raises(ConfigError, match="--checkpoint"):
        bench([tiny_onnx], options=BenchOptions(backends=["torch"]))


def _info(layout: str, declared: list) -> ModelInfo:
    dtype = "uint8" if layout == "NHWC" else "float32"
    return ModelInfo(ModelRef("m.onnx", "m"), 1.0, "", "images", declared, layout, dtype, 3, 32, 100, "fp32")


def test_input_shapes_nhwc_uint8_and_fixed_axis_note():
    opts = BenchOptions(widths=[50, 200])
    shapes = input_shapes(_info("NHWC", [None, 32, None, 3]), 4, opts)
    assert [s for s, _ in shapes] == [[4, 32, 50, 3], [4, 32, 200, 3]]
    fixed = input_shapes(_info("NCHW", [None, 3, 32, 100]), 1, opts)
    assert [s for s, _ in fixed] == [[1, 3, 32, 100]]  # the width is fixed: not swept, and the row says so
    assert "fixed at 100" in fixed[0][1][0]


def test_cli_json_and_reports(tiny_onnx, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["bench", str(tiny_onnx), "--threads", "1", "--min-time", "0.02", "--min-runs", "5",
                 "--in-process", "--no-profile", "--width", "16,32", "--out", str(out), "--json"])  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["rows"]) == 2
    assert {"bench.json", "bench.csv", "bench.md", "bench_latency.png", "bench_seqlen.png"} <= {
        p.name for p in out.iterdir()
    }
    assert main(["bench", str(tiny_onnx), "--tolerance", "0.1"]) == 2  # compare-only option
    assert main(["bench", str(tmp_path / "missing.onnx")]) == 2
    # values the library refuses are refused from the CLI too, not rewritten into legal ones
    for bad in (["--rounds", "0"], ["--min-time", "1", "--max-time", "0.5"], ["--warmup", "-1"], ["--min-runs", "0"]):
        assert main(["bench", str(tiny_onnx), *bad]) == 2, bad


def test_interleaved_rounds_give_every_row_its_share(tiny_onnx):
    options = BenchOptions(backends=["ort-cpu"], threads=[1], widths=[16, 32], rounds=3, profile=False, **QUICK)
    rows = bench([tiny_onnx], options=options).rows
    assert len(rows) == 2
    for row in rows:
        assert row.skipped is None and row.rss_isolated
        assert row.n >= QUICK["min_runs"]  # ceil(min_runs / rounds) per round, 3 rounds
        assert row.settings["interleaved_rounds"] == 3
    with pytest.raises(ConfigError, match="rounds"):
        BenchOptions(rounds=2, isolate=False)


@pytest.mark.parametrize("spinning", [False, True])
def test_a_spinning_row_gets_quiet_time_before_the_next(tiny_onnx, monkeypatch, spinning):
    # onnxruntime's threads spin ~30 ms after a run: without a pause they take the next row's cores
    from edgeseq.bench import interleave

    pauses = []
    monkeypatch.setattr(interleave, "_let_spinning_threads_settle", lambda _sleep: pauses.append(1))
    options = BenchOptions(
        backends=["ort-cpu"], threads=[1], widths=[16, 32], rounds=3, spinning=spinning, profile=False, **QUICK
    )
    rows = bench([tiny_onnx], options=options).rows
    assert all(row.skipped is None and row.spinning is spinning for row in rows)
    assert len(pauses) == (6 if spinning else 0)  # 2 rows x 3 rounds


def test_worker_peak_rss_is_not_the_parents(tiny_onnx):
    # ru_maxrss survives fork+exec on Linux: a large parent made every worker report the parent's peak
    import numpy as np

    ballast = np.ones(40_000_000)  # 320 MB touched in this (the parent) process
    options = BenchOptions(backends=["ort-cpu"], threads=[1], profile=False, **QUICK)
    (row,) = bench([tiny_onnx], options=options).rows
    assert ballast.sum() > 0
    assert row.peak_rss_mb < 250  # an onnxruntime worker with a tiny model needs well under 250 MB


def test_a_backend_that_cannot_open_the_model_becomes_a_failed_row(tmp_path):
    from edgeseq.bench.spec import MeasureSpec
    from edgeseq.bench.worker import measure

    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    spec = MeasureSpec(backend="ort-cpu", model_path=str(junk), input_name="images", shape=[1, 1, 8, 8])
    assert measure(spec)["skipped"].startswith("failed: ort-cpu could not run this model")


def test_warm_up_waits_for_a_steady_latency(fake_clock):
    """A backend whose first calls are slow (PyTorch eager here: 25-40x for ~6 calls) is warmed past them."""
    from edgeseq.bench.spec import MeasureSpec, OpenedModel
    from edgeseq.bench.worker import Measurement

    durations = iter([0.05, 0.04, 0.05, 0.03] + [0.001] * 1000)
    calls = []

    def infer(_x):
        calls.append(1)
        fake_clock.advance_s(next(durations))  # the call takes this long on the fake clock

    spec = MeasureSpec(backend="ort-cpu", model_path="x", input_name="images", shape=[1, 1, 4, 4], warmup_runs=2)
    m = Measurement(spec, opener=lambda spec: OpenedModel(infer, "fake", "fp32"), clock=fake_clock)
    # cold call + slow calls + 3 steady ones; the timed samples start after them
    assert m.info["warmup"]["runs"] >= 6 and m.info["warmup"]["steady"]
    samples = m.run_for(0.0, 5)
    assert max(samples) < 20_000_000  # none of the 30-50 ms start-up calls leaked into the samples


@pytest.mark.parametrize("interleaved", [False, True])
def test_a_worker_that_dies_becomes_a_failed_row(interleaved):
    """A backend crashing its process (onnxruntime segfaulted on FP16 sessions: docs/traps.md #13) ends only its row."""
    import shutil

    from edgeseq.bench.interleave import measure_interleaved
    from edgeseq.bench.processes import measure_isolated
    from edgeseq.bench.spec import MeasureSpec

    false = shutil.which("false")
    if false is None:
        pytest.skip("no `false` program to stand in for a crashing worker")
    spec = MeasureSpec(backend="ort-cpu", model_path="m.onnx", input_name="images", shape=[1, 1, 4, 4])
    if interleaved:
        (row,) = measure_interleaved([spec], rounds=2, python=false)
    else:
        row = measure_isolated(spec, python=false)
    assert row["skipped"].startswith("failed:") and "exit code 1" in row["skipped"]


def test_openvino_not_installed_is_a_skipped_row(tiny_onnx, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "openvino", None)  # makes `import openvino` raise ImportError
    options = BenchOptions(backends=["openvino", "ort-cpu"], threads=[1], isolate=False, profile=False, **QUICK)
    ov_row, ort_row = bench([tiny_onnx], options=options).rows
    assert ov_row.skipped == "openvino is not installed (pip install 'edgeseq[openvino]')"
    assert ort_row.skipped is None and ort_row.p50_ms > 0
