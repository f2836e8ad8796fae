"""One run folder never mixes two runs: a pipeline that would replace earlier outputs is refused, or --force."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeseq.errors import ConfigError
from edgeseq.pipeline import PipelineOptions, run_pipeline
from edgeseq.pipeline.main import replaced_outputs

REPO = Path(__file__).resolve().parents[2]


def _earlier_run(out: Path) -> None:
    for folder in ("train", "optimized", "bench"):
        (out / folder).mkdir(parents=True)
    (out / "train" / "best.pt").write_bytes(b"the earlier run's checkpoint")
    for name in ("model.onnx", "model.json", "parity.json", "summary.json", "summary.md"):
        (out / name).write_text("earlier")


@pytest.mark.parametrize(
    ("stages", "replaced"),
    [
        (["train"], ["train", "model.onnx", "model.json", "parity.json", "optimized", "bench"]),
        (["export"], ["model.onnx", "model.json", "parity.json", "optimized", "bench"]),
        (["validate"], ["parity.json"]),
        (["optimize"], ["optimized", "bench"]),
        (["bench"], ["bench"]),
    ],
)
def test_each_stage_replaces_its_outputs_and_those_made_from_them(tmp_path: Path, stages, replaced) -> None:
    _earlier_run(tmp_path)
    assert replaced_outputs(tmp_path, stages) == replaced


def test_a_second_run_is_refused_before_any_work_and_nothing_changes(tmp_path: Path) -> None:
    _earlier_run(tmp_path)
    with pytest.raises(ConfigError, match=r"already holds train, model.onnx, .* pass --force"):
        run_pipeline("digits-rows-lstm", tmp_path, ["train.epochs=1"])
    assert (tmp_path / "train" / "best.pt").read_bytes() == b"the earlier run's checkpoint"
    assert (tmp_path / "model.onnx").read_text() == "earlier"


def test_force_removes_the_replaced_outputs_first(tmp_path: Path) -> None:
    _earlier_run(tmp_path)
    # export with --force: the model and everything made from it go; the checkpoint (not replaced) stays.
    # The export itself then finds the stand-in checkpoint unreadable, after the old outputs were removed.
    with pytest.raises(Exception, match="best.pt"):
        run_pipeline("digits-rows-lstm", tmp_path, [], PipelineOptions(stages=["export"], overwrite=True), log=print)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["train"], left


def test_cli_refuses_in_one_line_with_exit_2(tmp_path: Path) -> None:
    _earlier_run(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "edgeseq", "pipeline", "--out", str(tmp_path), "--stages", "optimize,bench"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "already holds optimized, bench" in proc.stderr
