"""Reports (CSV, Markdown, console) and plots (valid PNGs) from a made-up result; profile stage mapping."""

from __future__ import annotations

import csv
import io

import pytest

from edgeseq.bench.plots import write_plots
from edgeseq.bench.profile import parse_profile, stage_of
from edgeseq.bench.report import CSV_COLUMNS, console_table, to_csv, to_markdown, write_reports
from edgeseq.bench.runner import BenchResult, BenchRow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _row(backend: str, precision: str, batch: int, width: int, p50: float, **kw) -> BenchRow:
    base = dict(
        model="crnn", variant="fp32", backend=backend, precision=precision, model_precision="fp32",
        provider="CPUExecutionProvider", batch=batch, threads=2, spinning=False, input_shape=[batch, 1, 32, width],
        input_dtype="float32", model_path="m.onnx", model_size_mb=1.0, p50_ms=p50, p90_ms=p50 * 1.1,
        p99_ms=p50 * 1.5, n=200, timesteps=width // 4, images_per_s=batch * 1e3 / p50, cold_ms=3.0,
        session_create_ms=50.0, peak_rss_mb=120.0,
    )  # fmt: skip
    base.update(kw)
    return BenchRow(**base)


@pytest.fixture
def result() -> BenchResult:
    rows = [_row("torch", "fp32", b, w, 4.0 * b * w / 64, variant="eager") for b in (1, 8) for w in (64, 128, 256)]
    rows += [
        _row("ort-cpu", "fp32", b, w, 1.0 * b * w / 64, stages_ms={"cnn": 0.6, "rnn": 0.4})
        for b in (1, 8)
        for w in (64, 128, 256)
    ]
    rows += [_row("openvino", "bf16", 1, 64, 0.8)]
    skipped = _row("ort-cuda", "fp32", 1, 64, 1.0, skipped="CUDAExecutionProvider is not available")
    for key in ("p50_ms", "p90_ms", "p99_ms", "images_per_s"):
        setattr(skipped, key, None)
    rows.append(skipped)
    env = {
        "cpu_model": "Fake CPU",
        "isa_flags": ["AVX2"],
        "physical_cores": 2,
        "usable_cores": 2,
        "packages": {"onnxruntime": "1.0"},
    }
    return BenchResult(rows=rows, env=env, options={}, created="2026-01-01T00:00:00+00:00", targets=["target line"])


def test_csv_has_one_line_per_row(result):
    lines = list(csv.reader(io.StringIO(to_csv(result))))
    assert tuple(lines[0]) == CSV_COLUMNS
    assert len(lines) == 1 + len(result.rows)
    assert lines[1][CSV_COLUMNS.index("input_shape")] == "1x1x32x64"


def test_markdown_and_console_tables(result):
    md = to_markdown(result)
    assert "| model | backend | precision |" in md
    assert "Fake CPU" in md and "target line" in md
    assert "skipped: CUDAExecutionProvider is not available" in md
    text = console_table(result)
    # ORT FP32 at batch 1, width 64 is 1 ms vs 4 ms eager: shown as 0.25x
    ort_line = next(line for line in text.splitlines() if line.startswith("crnn/fp32") and "ort-cpu" in line)
    assert "0.25x" in ort_line
    assert "cnn 60%, rnn 40%" in text


def test_plots_are_valid_pngs(result, tmp_path):
    from PIL import Image

    written = write_plots(result, tmp_path)
    assert set(written) == {"latency_png", "seqlen_png"}
    for path in written.values():
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            assert img.format == "PNG" and img.size[0] > 300 and img.size[1] > 200


def test_no_seqlen_plot_without_a_sweep(result, tmp_path):
    result.rows = [r for r in result.rows if r.input_shape[3] == 64]
    assert set(write_plots(result, tmp_path)) == {"latency_png"}


def test_write_reports_files(result, tmp_path):
    written = write_reports(result, tmp_path / "r", stem="x")
    assert {p.name for p in written.values()} == {"x.json", "x.csv", "x.md", "x_latency.png", "x_seqlen.png"}


@pytest.mark.parametrize(
    ("name", "op", "stage"),
    [
        ("/backbone/body/layer1/layer1.0/conv1/Conv", "Conv", "cnn"),
        ("/sequencer/Reshape", "Reshape", "sequencing"),
        ("/rnn/lstm/LSTM", "LSTM", "rnn"),
        ("/head/fc/Gemm", "Gemm", "head"),
        ("/preprocess/Cast", "Cast", "preprocess"),
        ("logits_nchwc", "Conv", "cnn"),  # renamed by onnxruntime's NCHWc transform: by op type
        ("ReorderOutput", "ReorderOutput", "cnn"),
        ("/rnn/lstm/LSTM_quant", "DynamicQuantizeLSTM", "rnn"),
        ("images_QuantizeLinear", "QuantizeLinear", "cnn"),  # the input's quantization feeds the backbone
        ("/model/Div_1", "Div", "preprocess"),  # in-graph preprocessing, inside the export wrapper
        ("/model/model/backbone/body/body.0/Conv", "Conv", "cnn"),  # nested under wrappers
        ("mystery", "Erf", "other"),
    ],
)
def test_stage_of(name, op, stage):
    assert stage_of(name, op) == stage


def test_parse_profile_drops_cold_runs_and_averages():
    def run(ts):
        return {"cat": "Session", "name": "model_run", "ts": ts, "dur": 100}

    def node(ts, name, op, dur):
        return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur, "args": {"op_name": op}}

    events = [
        run(0), node(10, "/backbone/c/Conv", "Conv", 90_000),  # cold run: dropped
        run(1000), node(1010, "/backbone/c/Conv", "Conv", 3000), node(1050, "/rnn/l/LSTM", "LSTM", 1000),
        run(2000), node(2010, "/backbone/c/Conv", "Conv", 5000), node(2050, "/rnn/l/LSTM", "LSTM", 1000),
        {"cat": "Node", "name": "/rnn/l/LSTM_fence_before", "ts": 2060, "dur": 7, "args": {}},
    ]  # fmt: skip
    assert parse_profile(events, skip_runs=1) == {"cnn": pytest.approx(4.0), "rnn": pytest.approx(1.0)}


def test_seqlen_plot_for_a_height_sweep_without_timesteps(tmp_path):
    # a rows-sequencer classifier: T follows the height, the output (batch, classes) reports no timesteps
    rows = [_row("ort-cpu", "fp32", 1, 224, float(h) / 10, timesteps=None) for h in (64, 128, 224)]
    for r, h in zip(rows, (64, 128, 224), strict=True):
        r.input_shape = [1, 3, h, 224]
    from edgeseq.bench.plots import plot_latency_vs_seqlen

    assert plot_latency_vs_seqlen(rows, tmp_path / "h.png") is not None
    assert (tmp_path / "h.png").read_bytes()[:8] == PNG_SIGNATURE
