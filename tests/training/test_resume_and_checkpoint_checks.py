"""--resume refuses a changed run (schedule, data, preprocessing) and malformed checkpoints are ModelFileErrors.

One run of the tiny digits variant (4/8 channels, hidden 8, 16x16 input, 4 steps per epoch: ~2 s, mostly
building the data) is interrupted after its first epoch, so its last.pt is a genuine half-finished run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from edgeseq.checkpoint import load_checkpoint, model_from_checkpoint
from edgeseq.cli import main
from edgeseq.config import ExperimentConfig, apply_overrides, config_from_dict
from edgeseq.errors import ConfigError, ModelFileError
from edgeseq.nn import tiny_config
from edgeseq.training import resume_config_differences, train

# The kit's digits variant (edgeseq.nn.tiny: 4/8 channels, hidden 8, 16x16, cosine schedule, lr 0.003) for
# two short epochs; `changes` use the --set syntax.
SHORT = ["train.epochs=2", "train.batch_size=32", "train.max_steps_per_epoch=4"]


def _config(*changes: str) -> ExperimentConfig:
    return config_from_dict(apply_overrides(tiny_config("test_rows_lstm").to_dict(), [*SHORT, *changes]))


class _Interrupt(Exception):
    """Stands in for a kill: raised from the log callback once epoch 1 is saved."""


def _stop_after_epoch_1(line: str) -> None:
    if line.startswith("epoch 1/"):  # logged after last.pt of epoch 1 is written
        raise _Interrupt


@pytest.fixture(scope="module")
def half_run(tmp_path_factory) -> Path:
    """A run folder whose last.pt holds epoch 1 of 2."""
    out = tmp_path_factory.mktemp("half")
    with pytest.raises(_Interrupt):
        train(_config(), out, log=_stop_after_epoch_1)
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    return out


def _copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in ("best.pt", "last.pt", "metrics.jsonl"):
        shutil.copy(src / name, dst / name)
    return dst


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (["train.scheduler='onecycle'"], "train.scheduler: 'cosine' -> 'onecycle'"),
        (["preprocess.width=20"], "preprocess.width: 16 -> 20"),  # the weights would not fit
        (["preprocess.invert=true"], "preprocess.invert: False -> True"),
        (["data.split_seed=1"], "data.split_seed: 0 -> 1"),  # test images would leak into training
    ],
)
def test_resume_refuses_a_changed_run(half_run: Path, tmp_path: Path, change: list[str], named: str) -> None:
    run = _copy_run(half_run, tmp_path / "run")
    before = (run / "last.pt").read_bytes()
    with pytest.raises(ConfigError) as info:
        train(_config(*change), run, resume=True, log=lambda _line: None)
    message = str(info.value)
    assert named in message and "new --out folder" in message and "\n" not in message
    assert (run / "last.pt").read_bytes() == before  # refused before anything was written


def test_resume_lists_every_difference_in_one_error(half_run: Path, tmp_path: Path) -> None:
    run = _copy_run(half_run, tmp_path / "run")
    cfg = _config("train.lr=0.01", "model.hidden_size=4")
    expected = r"model and train config differs.*model\.hidden_size: 8 -> 4, train\.lr: 0\.003 -> 0\.01\)"
    with pytest.raises(ConfigError, match=expected):
        train(cfg, run, resume=True, log=lambda _line: None)


@pytest.mark.parametrize(
    "change",
    [["train.threads=2"], ["train.progress=true"], ["train.device='cpu'"], ["data.num_workers=1"], ["name='other'"]],
)
def test_execution_settings_may_change_on_resume(change: list[str]) -> None:
    assert resume_config_differences(_config(), _config(*change)) == []


@pytest.mark.parametrize("scheduler", ["cosine", "onecycle"])
def test_resume_may_extend_epochs_and_follows_the_longer_schedule(tmp_path: Path, scheduler: str) -> None:
    # The saved schedule was planned for 2 epochs: loading it made cosine climb back to the top and
    # onecycle raise "Tried to step 9 times"; the resumed run must follow the 4-epoch plan instead.
    run = tmp_path / "run"
    with pytest.raises(_Interrupt):
        train(_config(f"train.scheduler='{scheduler}'"), run, log=_stop_after_epoch_1)
    longer = [f"train.scheduler='{scheduler}'", "train.epochs=4"]
    resumed = train(_config(*longer), run, resume=True, log=lambda _line: None)
    fresh = train(_config(*longer), tmp_path / "fresh", log=lambda _line: None)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    # epochs 2-4 ran on the 4-epoch schedule: the same learning rates as a run planned for 4 from the start
    assert [h["lr"] for h in resumed.history[1:]] == pytest.approx([h["lr"] for h in fresh.history[1:]])


def test_resume_with_changed_progress_continues(half_run: Path, tmp_path: Path) -> None:
    run = _copy_run(half_run, tmp_path / "run")
    lines: list[str] = []
    result = train(_config("train.progress=true"), run, resume=True, log=lines.append)
    assert lines[0].startswith(f"resumed from {run / 'last.pt'} after epoch 1")
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert load_checkpoint(run / "last.pt")["epoch"] == 2


def test_resume_with_weights_that_do_not_fit_is_a_model_file_error(half_run: Path, tmp_path: Path) -> None:
    run = _copy_run(half_run, tmp_path / "run")
    raw = torch.load(run / "last.pt", weights_only=True)
    name = next(k for k in raw["state_dict"] if k.endswith("weight_ih_l0"))
    raw["state_dict"][name] = torch.zeros(3, 3)
    torch.save(raw, run / "last.pt")
    with pytest.raises(ModelFileError) as info:
        train(_config(), run, resume=True, log=lambda _line: None)
    message = str(info.value)
    assert "\n" not in message and str(run / "last.pt") in message and f"size mismatch for {name}" in message


def _wrong_shape(raw: dict) -> None:
    name = next(k for k in raw["state_dict"] if k.endswith("weight_ih_l0"))
    raw["state_dict"][name] = torch.zeros(3, 3)


# (how the checkpoint is spoiled, what the one-line message must say)
MALFORMED = {
    "labels removed": (lambda raw: raw.pop("labels"), "labels is missing, expected a non-empty list"),
    "config is a string": (lambda raw: raw.update(config="x"), "config is str 'x', expected a dict"),
    "unknown task": (lambda raw: raw.update(task="x"), "task is 'x', expected one of classification, ctc"),
    "invalid config": (lambda raw: raw["config"]["model"].update(rnn="tcn"), "its config is invalid (model.rnn"),
    "state_dict not a dict": (lambda raw: raw.update(state_dict=[1]), "state_dict is list [1], expected a dict"),
    "weights of the wrong shape": (_wrong_shape, "do not fit its config's model: size mismatch for"),
}


@pytest.fixture
def spoil(half_run: Path, tmp_path: Path):
    """Write a copy of the tiny best.pt with one field spoiled; returns its path."""

    def make(case: str) -> Path:
        raw = torch.load(half_run / "best.pt", weights_only=True)
        MALFORMED[case][0](raw)
        path = tmp_path / "bad.pt"
        torch.save(raw, path)
        return path

    return make


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_checkpoint_is_a_one_line_model_file_error(spoil, case: str) -> None:
    path = spoil(case)
    with pytest.raises(ModelFileError) as info:
        model_from_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and MALFORMED[case][1] in message, message


@pytest.mark.parametrize("case", list(MALFORMED))
def test_cli_evaluate_of_a_malformed_checkpoint_exits_2_with_one_line(spoil, case: str, capsys) -> None:
    path = spoil(case)
    assert main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edgeseq evaluate: error:") and str(path) in err[0], err
