"""A run's progress across epochs, and the checkpoint payloads that carry it (``best.pt``, ``last.pt``).

``last.pt`` holds the weights plus ``train_state`` (optimizer, scheduler, scaler, RNG states, the best
validation metrics and the history), which :mod:`edgeseq.training.resume` reads back for ``--resume``.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from edgeseq.config import ExperimentConfig
from edgeseq.data import DataSplits
from edgeseq.training.batches import unwrap
from edgeseq.training.optim import Optimization


@dataclass
class TrainState:
    """What the loop carries from epoch to epoch (and ``--resume`` restores)."""

    start_epoch: int = 0  # epochs already completed when this invocation started
    best_val: dict[str, float] | None = None  # validation metrics of best.pt
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per completed epoch


def checkpoint_payload(
    cfg: ExperimentConfig,
    splits: DataSplits,
    model: nn.Module,
    metrics: dict[str, float],
    epoch: int,
    train_state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The fields of a checkpoint (see :mod:`edgeseq.checkpoint`): config, targets, preprocessing, CPU weights."""
    payload = {
        "config": cfg.to_dict(),
        "task": splits.task,
        "labels": list(splits.labels),
        "alphabet": splits.alphabet,
        "preprocess": asdict(cfg.preprocess),
        "state_dict": {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()},
        "metrics": dict(metrics),
        "epoch": epoch,
    }
    if train_state is not None:
        payload["train_state"] = train_state
    return payload


def train_state_dict(optim: Optimization, state: TrainState) -> dict[str, Any]:
    """``last.pt``'s ``train_state``: optimizer/scheduler/scaler state, both RNG states, best_val and history."""
    return {
        **optim.state_dicts(),
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
        "best_val": state.best_val,
        "history": state.history,
    }
