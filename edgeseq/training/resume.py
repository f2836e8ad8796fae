"""``--resume``: refuse a changed run before any work, then restore weights, optimizer, schedule and RNGs.

A resumed run continues the run in ``OUT/last.pt``: the same model, data, preprocessing and schedule
settings (checked first, so a refused resume costs nothing); ``train.epochs`` may change, and then the
schedule is rebuilt for the new length at the step the run reached.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeseq.checkpoint import load_checkpoint, state_dict_error_line
from edgeseq.config import ExperimentConfig, config_from_dict
from edgeseq.errors import ConfigError, ModelFileError, first_line
from edgeseq.training.batches import unwrap
from edgeseq.training.optim import Optimization, advance_scheduler
from edgeseq.training.state import TrainState

# What a resumed run must share with the run it continues. The model, data and preprocessing decide
# the weights' shapes and which images are train/val/test (a changed split would leak test data into
# training); these train fields decide the optimizer and the schedule, whose state last.pt carries.
# train.epochs may change: the schedule is then rebuilt for the new length at the step the run reached.
RESUME_SECTIONS = ("model", "data", "preprocess")
# The files a training run writes: a folder holding any of them holds a run.
RUN_FILES = ("best.pt", "last.pt", "metrics.jsonl", "summary.json")
RESUME_TRAIN_KEYS = (
    "batch_size",
    "lr",
    "optimizer",
    "weight_decay",
    "scheduler",
    "step_size",
    "gamma",
    "grad_clip",
    "seed",
    "max_steps_per_epoch",
)
# Keys inside RESUME_SECTIONS that change how the run executes, not what it computes.
RESUME_FREE_KEYS = frozenset({"data.num_workers"})


def resume_config_differences(saved: ExperimentConfig, new: ExperimentConfig) -> list[tuple[str, Any, Any]]:
    """The settings a resumed run must keep that differ between two configs.

    Args:
        saved: the config stored in the run's ``last.pt``.
        new: the config of the resuming invocation.

    Returns:
        ``(dotted key, saved value, new value)`` for each difference, in config order; empty when resuming is safe.
    """
    old_dict, new_dict = saved.to_dict(), new.to_dict()
    keys = [f"{section}.{key}" for section in RESUME_SECTIONS for key in old_dict[section]]
    keys += [f"train.{key}" for key in RESUME_TRAIN_KEYS]
    differences = []
    for dotted in keys:
        if dotted in RESUME_FREE_KEYS:
            continue
        section, key = dotted.split(".", 1)
        old, value = old_dict[section][key], new_dict[section][key]
        if old != value:
            differences.append((dotted, old, value))
    return differences


def check_resume_config(saved: ExperimentConfig, new: ExperimentConfig, source: str) -> None:
    """Refuse to resume a run with settings that change its model, data or schedule.

    Args:
        saved: the config stored in the run's ``last.pt``.
        new: the config of the resuming invocation.
        source: the ``last.pt`` path, for the message.

    Raises:
        ConfigError: one line listing every differing key as ``key: old -> new``.
    """
    differences = resume_config_differences(saved, new)
    if not differences:
        return
    names = list(dict.fromkeys(key.split(".")[0] for key, _, _ in differences))
    sections = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    listed = ", ".join(f"{key}: {old!r} -> {value!r}" for key, old, value in differences)
    raise ConfigError(
        f"--resume: the {sections} config differs from the run in {source!r} ({listed}); resume continues the "
        "same run, so expected the same settings (start a new --out folder to change them)"
    )


def run_folder_problem(out: Path, resume: bool, overwrite: bool) -> str | None:
    """Why training into ``out`` would lose or mix work (one line), or None when it may go ahead.

    A folder holding a run (any of :data:`RUN_FILES`) is refused unless the run is continued
    (``resume``) or replaced (``overwrite``: its run files are removed first, so a replaced run that
    fails never leaves the old best.pt beside the new last.pt). Other files in the folder are left alone.
    """
    if resume and overwrite:
        return "--resume continues the run in the folder and --force replaces it; expected one of them"
    found = [name for name in RUN_FILES if (out / name).exists()]
    if not found or resume:
        return None
    if overwrite:
        for name in found:
            (out / name).unlink()
        return None
    return (
        f"run folder {str(out)!r} already holds a run ({', '.join(found)}); expected a new or empty folder: "
        "continue it with --resume (resume=True), replace it with --force (overwrite=True), or choose another --out"
    )


def load_resume_checkpoint(out: Path, cfg: ExperimentConfig) -> dict[str, Any]:
    """Load ``out/last.pt`` and check that ``cfg`` continues its run.

    Raises:
        ModelFileError: ``last.pt`` is missing, unsafe or malformed.
        ConfigError: ``cfg`` changes the run (see :func:`check_resume_config`).
    """
    saved = load_checkpoint(out / "last.pt")
    check_resume_config(config_from_dict(saved["config"]), cfg, saved["path"])
    return saved


def restore_run(
    saved: dict[str, Any], model: nn.Module, optim: Optimization, cfg: ExperimentConfig, steps_per_epoch: int
) -> TrainState:
    """Load the weights and training state of ``saved`` (``last.pt``) into a freshly built run.

    Args:
        saved: the checkpoint from :func:`load_resume_checkpoint`.
        model: the model the config built (not yet wrapped for DDP).
        optim: its optimizer, scheduler and scaler.
        cfg: the resuming run's config (its ``train.epochs`` may differ from the saved one).
        steps_per_epoch: optimizer steps per epoch, to place a rebuilt schedule.

    Returns:
        Where the run continues: the epochs done, the best validation metrics and the history.

    Raises:
        ModelFileError: the weights do not fit the model, or the training state cannot be restored.
    """
    last = saved["path"]
    try:
        unwrap(model).load_state_dict(saved["state_dict"])
    except RuntimeError as exc:
        raise ModelFileError(
            f"--resume: the weights in {last!r} do not fit the model the config builds: {state_dict_error_line(exc)}"
        ) from None
    state = saved.get("train_state") or {}
    _check_train_state(state, last, saved["task"])
    try:
        _restore_optimization(state, optim, saved, cfg, steps_per_epoch)
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
        if "python_rng" in state:
            random.setstate(_as_tuple(state["python_rng"]))
        start_epoch = int(saved["epoch"])
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError) as exc:
        # Only a hand-edited or foreign last.pt gets here: the config check rules out a changed run.
        raise ModelFileError(
            f"--resume: the training state in {last!r} cannot be restored: {first_line(exc, 200)}"
        ) from None
    return TrainState(start_epoch, state.get("best_val"), list(state.get("history", [])))


def _check_train_state(state: Any, last: str, task: str) -> None:
    """Refuse a ``train_state`` whose history or best metrics are not what the loop wrote (a hand-edited file).

    Raises:
        ModelFileError: naming the field.
    """

    def bad(what: str) -> ModelFileError:
        return ModelFileError(f"--resume: the training state in {last!r} cannot be restored: {what}")

    if not isinstance(state, dict):
        raise bad(f"train_state is {type(state).__name__}, expected a dict")
    history = state.get("history", [])
    if not isinstance(history, list) or not all(isinstance(record, dict) for record in history):
        raise bad("history is not a list of per-epoch records")
    best = state.get("best_val")
    wanted = ("cer", "loss") if task == "ctc" else ("accuracy", "loss")
    if best is not None and (
        not isinstance(best, dict)
        or not all(isinstance(best.get(key), (int, float)) and not isinstance(best.get(key), bool) for key in wanted)
    ):
        raise bad(f"best_val is not a dict of validation metrics with {' and '.join(wanted)}")
    for key in ("optimizer", "scheduler", "scaler"):
        if state.get(key) is not None and not isinstance(state[key], dict):
            raise bad(f"{key} state is {type(state[key]).__name__}, expected a dict")


def _restore_optimization(
    state: dict[str, Any], optim: Optimization, saved: dict[str, Any], cfg: ExperimentConfig, steps_per_epoch: int
) -> None:
    if "optimizer" in state:
        optim.optimizer.load_state_dict(state["optimizer"])
    saved_epochs = int(saved["config"]["train"]["epochs"])
    if optim.scheduler is not None and saved_epochs == cfg.train.epochs and state.get("scheduler"):
        optim.scheduler.load_state_dict(state["scheduler"])
    elif optim.scheduler is not None and int(saved["epoch"]) < cfg.train.epochs:
        # A longer (or shorter) run: the saved schedule was planned for saved_epochs, and loading it would
        # restart cosine near the top or overrun onecycle. Follow the new plan from here.
        advance_scheduler(optim.scheduler, optim.optimizer, int(saved["epoch"]) * steps_per_epoch)
    if state.get("scaler"):
        optim.scaler.load_state_dict(state["scaler"])


def _as_tuple(value: Any) -> Any:
    """random.setstate needs tuples; a checkpoint round-trip may have turned them into lists."""
    if isinstance(value, list):
        return tuple(_as_tuple(v) for v in value)
    return value
