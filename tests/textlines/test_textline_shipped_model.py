"""The shipped text-line model reads freshly rendered lines through the torch-free runtime and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeseq.config import load_config
from edgeseq.data.textlines import random_text, render_line
from edgeseq.metrics import cer
from edgeseq.runtime import Predictor, TextPrediction

ROOT = Path(__file__).parents[2]
MODEL = ROOT / "models" / "crnn-textline.onnx"
# The recipe reached 0.05% test CER; lines drawn with a seed the training never used may be harder,
# so allow a generous 2% (the recipe's target) before calling it a regression.
MAX_CER = 0.02

pytestmark = pytest.mark.skipif(not MODEL.is_file(), reason="models/crnn-textline.onnx is not in this checkout")


@pytest.fixture(scope="module")
def lines(tmp_path_factory) -> list[tuple[Path, str]]:
    cfg = load_config(ROOT / "models" / "crnn-textline.toml")
    rng = np.random.default_rng(20261129)  # not a training seed
    folder = tmp_path_factory.mktemp("lines")
    out = []
    for i in range(40):
        text = random_text(rng, cfg.data)
        path = folder / f"{i:02d}.png"
        render_line(text, rng, cfg.data, cfg.preprocess.height).save(path)
        out.append((path, text))
    return out


def test_runtime_reads_rendered_lines(lines) -> None:
    predictor = Predictor(MODEL, threads=1)
    assert predictor.task == "ctc"
    results = predictor.predict([path for path, _ in lines])
    assert all(isinstance(r, TextPrediction) for r in results)
    assert cer([r.text for r in results], [text for _, text in lines]) <= MAX_CER
    for r in results:
        assert len(r.char_confidences) == len(r.text) and 0.0 <= r.confidence <= 1.0


def test_predict_cli_prints_the_text(lines) -> None:
    path, text = lines[0]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "edgeseq", "predict", str(MODEL), str(path), "--json", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.strip().splitlines()[0])
    assert record["file"] == str(path) and "text" in record and "confidence" in record
