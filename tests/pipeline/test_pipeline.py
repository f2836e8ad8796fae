"""The main job end to end on the bundled digits: every stage runs and the summary holds their figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeseq.errors import ConfigError
from edgeseq.pipeline import PipelineOptions, run_pipeline

ROOT = Path(__file__).parents[2]
FAST = ["train.epochs=2", "train.progress=false"]


@pytest.mark.slow
def test_pipeline_runs_every_stage(tmp_path: Path) -> None:
    options = PipelineOptions(bench_backends=["ort-cpu", "torch"], bench_batches=[1], bench_min_time_s=0.05)
    lines: list[str] = []
    result = run_pipeline(ROOT / "models" / "digits-rows-lstm.toml", tmp_path, FAST, options, log=lines.append)
    assert set(result.stages) == {"train", "export", "validate", "optimize", "bench"}
    assert result.stages["validate"]["passed"] is True
    for name in (
        "train/best.pt",
        "model.onnx",
        "model.json",
        "parity.json",
        "optimized/optimize_report.json",
        "bench/bench.json",
        "summary.json",
        "summary.md",
    ):
        assert (tmp_path / name).is_file(), name
    rows = {row["variant"]: row for row in result.summary}
    assert {"pytorch", "fp32", "int8-static", "int8-dynamic"} <= set(rows)
    assert rows["fp32"]["parity_max_abs"] < 1e-4
    assert rows["fp32"]["latency"]["ort-cpu"]["p50_ms"] > 0 and rows["pytorch"]["latency"]["torch"]["p50_ms"] > 0
    assert 0 <= rows["pytorch"]["accuracy"] <= 100 and sum(r.get("recommended", False) for r in rows.values()) == 1
    assert "variant" in result.table and "int8-dynamic" in result.table
    manifest = json.loads((tmp_path / "model.json").read_text())
    assert manifest["parity"]["passed"] is True
    assert any(line.startswith("== bench") for line in lines)


@pytest.mark.slow
def test_pipeline_cli_json_keeps_stdout_clean(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [
        sys.executable,
        "-m",
        "edgeseq",
        "pipeline",
        "models/digits-rows-lstm.toml",
        "--out",
        str(tmp_path),
        "--stages",
        "train,export,validate",
        "--json",
        *[a for s in FAST for a in ("--set", s)],
    ]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert data["stages"]["validate"]["passed"] is True and "== export" in result.stderr


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stages": ["train", "deploy"]}, r"--stages: got train,deploy"),
        ({"bench_backends": ["ort-gpu"]}, r"--backend: got 'ort-gpu'"),
        ({"bench_min_time_s": 0}, r"min"),
        ({"parity_samples": -1}, r"parity_samples: got -1"),
    ],
)
def test_pipeline_options_are_checked_before_any_work(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PipelineOptions(**kwargs)


def test_pipeline_needs_a_checkpoint_for_later_stages(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no checkpoint at"):
        run_pipeline(ROOT / "models" / "digits-rows-lstm.toml", tmp_path, FAST, PipelineOptions(stages=["export"]))


def test_pipeline_needs_a_model_when_export_is_not_run(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "best.pt").write_bytes(b"stand-in: the check happens before the checkpoint is read")
    for stages in (["validate"], ["optimize"], ["bench"]):
        with pytest.raises(ConfigError, match="no model at .*run the 'export' stage first"):
            run_pipeline(ROOT / "models" / "digits-rows-lstm.toml", tmp_path, FAST, PipelineOptions(stages=stages))


@pytest.mark.slow
def test_pipeline_runs_from_an_installed_package_without_the_checkout(tmp_path: Path) -> None:
    """The default profiles must not need the checkout's export/ folder (it is not in the wheel)."""
    import shutil

    site = tmp_path / "site"
    shutil.copytree(ROOT / "edgeseq", site / "edgeseq", ignore=shutil.ignore_patterns("__pycache__", "vendor"))
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    args = [sys.executable, "-m", "edgeseq", "pipeline", str(ROOT / "models" / "digits-rows-lstm.toml"),
            "--out", str(work / "run"), "--stages", "train,export,validate",
            *[a for s in FAST for a in ("--set", s)]]  # fmt: skip
    result = subprocess.run(args, cwd=work, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (work / "run" / "model.onnx").is_file() and (work / "run" / "parity.json").is_file()
