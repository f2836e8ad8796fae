"""The README's Python example runs as written (one epoch instead of five), in its own run folder.

Run twice, the second run is refused instead of replacing the first one's checkpoint, so the example
never mixes two runs (nor writes into the pipeline's runs/digits).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _example() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    (block,) = [b for b in blocks if "edgeseq.train(cfg" in b]
    assert '["train.epochs=5"]' in block
    return block.replace('["train.epochs=5"]', '["train.epochs=1", "train.progress=false"]')


@pytest.mark.slow
def test_readme_python_example_runs_and_keeps_its_run_whole(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    shutil.copytree(REPO / "samples", tmp_path / "samples")  # the example's input; run outside the checkout
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = [sys.executable, "-c", _example()]
    first = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Prediction(label=" in first.stdout
    folder = tmp_path / "runs" / "digits-py"
    assert {"best.pt", "last.pt", "model.onnx", "model.json"} <= {p.name for p in folder.iterdir()}
    assert not (tmp_path / "runs" / "digits").exists()
    best = (folder / "best.pt").read_bytes()

    second = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 1 and "ConfigError: run folder" in second.stderr
    assert "already holds a run" in second.stderr
    assert (folder / "best.pt").read_bytes() == best
