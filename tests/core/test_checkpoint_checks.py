"""Checkpoints from elsewhere (issue 20): weights that disagree with the config, impossible epochs,
malformed training state, a data folder that is not the run's, and sizes over the memory budget.

Every case is refused with one line (``ModelFileError`` / ``InputError`` / ``ResourceLimitError``, CLI
exit 2) before anything big is allocated or any long loop starts.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import torch

from edgeseq.checkpoint import checkpoint_datasets, load_checkpoint, model_from_checkpoint
from edgeseq.cli import main
from edgeseq.config import load_config
from edgeseq.errors import InputError, ModelFileError, ResourceLimitError
from edgeseq.training import train

RECIPE = "models/digits-rows-lstm.toml"
TINY = [
    "train.threads=1",
    "train.progress=false",
    "train.epochs=2",
    "train.batch_size=32",
    "train.max_steps_per_epoch=2",
    "model.backbone_args={channels=[4,8],pools=[[2,2],[2,2]]}",
    "model.hidden_size=8",
    "preprocess.height=16",
    "preprocess.width=16",
]


class _Stop(Exception):
    """Stands in for a kill after epoch 1 was saved."""


def _stop(line: str) -> None:
    if line.startswith("epoch 1/"):
        raise _Stop


@pytest.fixture(scope="module")
def half_run(tmp_path_factory) -> Path:
    """A run folder whose last.pt holds epoch 1 of 2 (about 2 s of training)."""
    out = tmp_path_factory.mktemp("half")
    with pytest.raises(_Stop):
        train(load_config(RECIPE, TINY), out, log=_stop)
    return out


def _spoiled(half_run: Path, tmp_path: Path, change) -> Path:
    """A copy of the run whose last.pt has ``change(raw)`` applied."""
    run = tmp_path / "run"
    shutil.copytree(half_run, run)
    raw = torch.load(run / "last.pt", weights_only=True)
    change(raw)
    torch.save(raw, run / "last.pt")
    return run


@pytest.mark.parametrize("epoch", [-3, 10**9, 3, "1", True, 1.5])
def test_impossible_epochs_are_refused_at_load_and_resume_does_not_hang(half_run, tmp_path, epoch) -> None:
    run = _spoiled(half_run, tmp_path, lambda raw: raw.update(epoch=epoch))
    with pytest.raises(ModelFileError, match=r"epoch is .*expected an integer from 0 to train.epochs \(2\)"):
        load_checkpoint(run / "last.pt")
    started = time.perf_counter()
    assert main(["train", RECIPE, *sum((["--set", s] for s in TINY), []), "--out", str(run), "--resume"]) == 2
    assert time.perf_counter() - started < 60  # epoch 10**9 used to replay the schedule for over 15 minutes


def test_weights_that_disagree_with_the_config_are_refused_by_load_checkpoint(half_run, tmp_path) -> None:
    def grow_hidden(raw: dict) -> None:
        raw["config"]["model"]["hidden_size"] = 16  # the weights stay those of hidden_size 8

    run = _spoiled(half_run, tmp_path, grow_hidden)
    with pytest.raises(ModelFileError) as info:
        load_checkpoint(run / "last.pt")
    message = str(info.value)
    assert "its weights do not fit its config's model: size mismatch for rnn." in message and "\n" not in message

    def drop_tensor(raw: dict) -> None:
        raw["state_dict"].pop(next(iter(raw["state_dict"])))

    run = _spoiled(half_run, tmp_path / "b", drop_tensor)
    with pytest.raises(ModelFileError, match="its weights do not fit its config's model: missing keys"):
        load_checkpoint(run / "last.pt")


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("history", 5, "history is not a list of per-epoch records"),
        ("history", ["x"], "history is not a list of per-epoch records"),
        ("best_val", "x", "best_val is not a dict of validation metrics"),
        ("best_val", {"accuracy": "high", "loss": 0.1}, "best_val is not a dict of validation metrics"),
        ("optimizer", [1, 2], "optimizer state is list, expected a dict"),
    ],
)
def test_malformed_training_state_is_a_one_line_error(half_run, tmp_path, field, value, named) -> None:
    run = _spoiled(half_run, tmp_path, lambda raw: raw["train_state"].__setitem__(field, value))
    with pytest.raises(ModelFileError) as info:
        train(load_config(RECIPE, TINY), run, resume=True, log=lambda _line: None)
    assert "the training state in" in str(info.value) and named in str(info.value)


def test_optimizer_state_of_the_wrong_shape_is_a_one_line_error(half_run, tmp_path) -> None:
    def break_optimizer(raw: dict) -> None:
        raw["train_state"]["optimizer"]["param_groups"] = "x"

    run = _spoiled(half_run, tmp_path, break_optimizer)
    with pytest.raises(ModelFileError, match="cannot be restored"):
        train(load_config(RECIPE, TINY), run, resume=True, log=lambda _line: None)


def test_a_data_folder_that_is_not_the_runs_is_refused_before_it_is_read(half_run, tmp_path) -> None:
    ckpt = load_checkpoint(half_run / "best.pt")
    ckpt["config"]["data"].update(dataset="folder", root="/etc")
    with pytest.raises(InputError, match=r"its data.root '/etc' holds classes .*expected the checkpoint's labels"):
        checkpoint_datasets(ckpt)
    ckpt["config"]["data"]["root"] = str(tmp_path / "missing")
    with pytest.raises(InputError, match="is not a folder; expected its data"):
        checkpoint_datasets(ckpt)
    spoiled = _spoiled(half_run, tmp_path, lambda raw: raw["config"]["data"].update(dataset="folder", root="/etc"))
    assert main(["evaluate", str(spoiled / "last.pt")]) == 2


def test_the_checkpoints_own_data_is_accepted(half_run) -> None:
    splits = checkpoint_datasets(load_checkpoint(half_run / "best.pt"))
    assert splits.task == "classification" and splits.labels == [str(d) for d in range(10)]


def test_sizes_over_the_budget_are_refused_before_the_model_is_built(half_run, monkeypatch, capsys) -> None:
    ckpt = load_checkpoint(half_run / "best.pt")
    ckpt["config"]["model"]["hidden_size"] = 30000  # 14 GB of LSTM weights; never built
    monkeypatch.setenv("EDGESEQ_MEMORY_LIMIT", "4G")
    with pytest.raises(ResourceLimitError, match=r"^model.hidden_size: got hidden_size=30000, num_layers=1; needs"):
        model_from_checkpoint(ckpt)
    monkeypatch.setenv("EDGESEQ_MEMORY_LIMIT", "2K")  # below even the tiny model: every entry point refuses
    for argv in (["evaluate", str(half_run / "best.pt")], ["export", str(half_run / "best.pt"), "-o", "/tmp/x.onnx"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "needs at least" in err and "EDGESEQ_MEMORY_LIMIT" in err and len(err.splitlines()) == 1
