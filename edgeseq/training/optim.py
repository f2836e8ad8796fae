"""Optimizer, learning-rate schedule and mixed precision: built from ``train.*``, stepped once per batch."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from edgeseq.config import TrainConfig


def make_optimizer(t: TrainConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer ``train.optimizer`` names (SGD: Nesterov momentum 0.9), with ``lr`` and ``weight_decay``."""
    if t.optimizer == "adam":
        return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.SGD(params, lr=t.lr, momentum=0.9, weight_decay=t.weight_decay, nesterov=True)


def make_scheduler(t: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> LRScheduler | None:
    """A per-step scheduler (or None); "step" decays every ``step_size`` epochs, counted in steps."""
    total = max(1, t.epochs * steps_per_epoch)
    if t.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=t.lr * 0.01)
    if t.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=t.lr, total_steps=total)
    if t.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=t.step_size * steps_per_epoch, gamma=t.gamma)
    return None


def advance_scheduler(scheduler: Any, optimizer: Any, steps: int) -> None:
    """Step a freshly built scheduler ``steps`` times (no optimizer step has run yet in this process).

    The restored optimizer carries the old schedule's last learning rate; cosine updates it
    recursively, so it starts again from the schedule's initial rate.
    """
    for group in optimizer.param_groups:
        group["lr"] = group.get("initial_lr", group["lr"])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
        for _ in range(steps):
            scheduler.step()


@dataclass
class Optimization:
    """What updates the weights: optimizer, per-step scheduler (or None) and the AMP gradient scaler."""

    optimizer: torch.optim.Optimizer
    scheduler: LRScheduler | None
    scaler: torch.amp.GradScaler
    use_amp: bool  # float16 autocast and loss scaling: only on CUDA with train.amp
    device_type: str

    @classmethod
    def build(
        cls, t: TrainConfig, params: list[torch.nn.Parameter], steps_per_epoch: int, device: torch.device
    ) -> Optimization:
        """Build the optimizer, scheduler and scaler for ``params`` from ``train.*``."""
        optimizer = make_optimizer(t, params)
        scheduler = make_scheduler(t, optimizer, steps_per_epoch)
        use_amp = t.amp and device.type == "cuda"
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        return cls(optimizer, scheduler, scaler, use_amp, device.type)

    def autocast(self) -> AbstractContextManager[Any]:
        """The forward pass's mixed-precision context (disabled unless ``use_amp``)."""
        return torch.autocast(device_type=self.device_type, dtype=torch.float16, enabled=self.use_amp)

    def step(self, loss: torch.Tensor, params: list[torch.nn.Parameter], grad_clip: float) -> None:
        """Backward pass, optional gradient clipping, one optimizer step and one scheduler step."""
        self.scaler.scale(loss).backward()
        if grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()

    @property
    def lr(self) -> float:
        """The first parameter group's current learning rate."""
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dicts(self) -> dict[str, Any]:
        """The ``optimizer``, ``scheduler`` and ``scaler`` entries of ``last.pt``'s ``train_state``."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.use_amp else None,
        }
