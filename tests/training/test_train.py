"""Training: a short real run on digits, the checkpoints it writes, resume, evaluation.

The checkpoint file format itself (atomic save, weights_only loading) is tested in tests/checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgeseq.checkpoint import load_checkpoint
from edgeseq.config import load_config
from edgeseq.errors import ConfigError
from edgeseq.training import evaluate_checkpoint, train

# The shipped recipe for two epochs (about 45 s of CPU): the fast tier trains the tiny variants instead
# (tests/training/test_train_tiny.py) and resumes one (test_resume_and_checkpoint_checks.py).
pytestmark = pytest.mark.slow

# Ten classes: chance is 10%. Two short epochs of the digits recipe reach ~75-95% here; 60% is
# "beats chance by a wide margin" with room for thread-count and platform noise.
MIN_SHORT_RUN_ACCURACY = 0.60

SHORT = ["train.epochs=2", "train.progress=false"]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("run")
    cfg = load_config("models/digits-rows-lstm.toml", SHORT)
    return out, train(cfg, out, log=lambda _line: None)


def test_short_training_run_beats_chance(short_run) -> None:
    out, result = short_run
    assert result.metrics["test_accuracy"] >= MIN_SHORT_RUN_ACCURACY
    assert result.epochs == 2 and len(result.history) == 2
    assert {p.name for p in out.iterdir()} >= {"best.pt", "last.pt", "metrics.jsonl", "summary.json"}
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


def test_checkpoint_contents_are_plain_and_complete(short_run) -> None:
    out, result = short_run
    ckpt = load_checkpoint(out / "best.pt")
    assert ckpt["task"] == "classification" and ckpt["labels"] == [str(i) for i in range(10)]
    assert ckpt["preprocess"]["height"] == 32 and ckpt["config"]["model"]["sequencer"] == "rows"
    assert ckpt["metrics"]["test_accuracy"] == pytest.approx(result.metrics["test_accuracy"])
    assert "train_state" not in ckpt and "optimizer" in load_checkpoint(out / "last.pt")["train_state"]
    # weights_only loading of the raw file works without edgeseq's loader too
    raw = torch.load(out / "best.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in raw["state_dict"].values())


def test_evaluate_checkpoint_matches_training_report(short_run) -> None:
    out, result = short_run
    metrics = evaluate_checkpoint(out)
    assert metrics["accuracy"] == pytest.approx(result.metrics["test_accuracy"], abs=1e-12)


def test_resume_continues_from_last_epoch(short_run, tmp_path: Path) -> None:
    out, _ = short_run
    run = tmp_path / "resumed"
    run.mkdir()
    for name in ("best.pt", "last.pt", "metrics.jsonl"):
        (run / name).write_bytes((out / name).read_bytes())
    cfg = load_config("models/digits-rows-lstm.toml", ["train.epochs=3", "train.progress=false"])
    result = train(cfg, run, resume=True, log=lambda _line: None)
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert load_checkpoint(run / "last.pt")["epoch"] == 3
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3


def test_resume_refuses_a_different_model(short_run, tmp_path: Path) -> None:
    out, _ = short_run
    (tmp_path / "last.pt").write_bytes((out / "last.pt").read_bytes())
    cfg = load_config("models/digits-rows-lstm.toml", ["model.hidden_size=16", *SHORT])
    with pytest.raises(ConfigError, match="model config differs"):
        train(cfg, tmp_path, resume=True, log=lambda _line: None)
