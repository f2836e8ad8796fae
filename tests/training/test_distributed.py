"""torchrun: two CPU processes with gloo train the digits recipe; single-process evaluation agrees."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeseq.training import evaluate_checkpoint

ROOT = Path(__file__).parents[2]


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    out = tmp_path / "ddp"
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "edgeseq",
        "train",
        "models/digits-rows-lstm.toml",
        "--out",
        str(out),
        "--set",
        "train.epochs=1",
        "--set",
        "train.progress=false",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "world size 2" in result.stderr and "effective batch 128" in result.stderr
    assert sorted(p.name for p in out.glob("*.pt")) == ["best.pt", "last.pt"]  # rank 0 only: one of each
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    single = evaluate_checkpoint(out / "best.pt")
    assert single["accuracy"] == pytest.approx(summary["metrics"]["test_accuracy"], abs=1e-12)
