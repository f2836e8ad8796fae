"""Every tiny test variant (edgeseq.nn.tiny) trains end to end: checkpoints written, metrics finite, evaluation agrees."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.importorskip("torch")

from edgeseq.nn import TINY_CONFIGS, tiny_config  # noqa: E402
from edgeseq.training import evaluate_checkpoint, train  # noqa: E402


@pytest.mark.parametrize("name", TINY_CONFIGS.names())
def test_tiny_variant_trains_and_evaluates(name: str, tmp_path: Path) -> None:
    result = train(tiny_config(name), tmp_path, log=lambda _line: None)
    assert result.epochs == 1 and len(result.history) == 1
    assert {p.name for p in tmp_path.iterdir()} >= {"best.pt", "last.pt", "metrics.jsonl", "summary.json"}
    ctc = tiny_config(name).model.head == "ctc"
    metric = "test_cer" if ctc else "test_accuracy"
    assert result.metrics[metric] >= 0.0 and math.isfinite(result.metrics["test_loss"])
    assert ctc or result.metrics[metric] <= 1.0  # a CER can exceed 1 (insertions); an accuracy cannot
    again = evaluate_checkpoint(tmp_path, "test")
    assert again[metric.removeprefix("test_")] == pytest.approx(result.metrics[metric], abs=1e-12)
