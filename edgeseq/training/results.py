"""What a training run returns (and writes to ``summary.json``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TrainResult:
    """What a training run produced."""

    out_dir: str
    best_checkpoint: str
    last_checkpoint: str
    metrics: dict[str, float]  # test_* from the best checkpoint, best val_*, train_* of the last epoch
    epochs: int  # epochs completed in total (including resumed ones)
    wall_time_s: float  # this invocation
    world_size: int = 1
    effective_batch_size: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict."""
        return asdict(self)
