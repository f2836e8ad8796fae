"""What a run prints: a tqdm bar per epoch on a terminal (rank 0), and one line per epoch."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

Log = Callable[[str], None]


def stderr_line(line: str) -> None:
    """The default log: one line on stderr, flushed (stdout stays free for ``--json``)."""
    print(line, file=sys.stderr, flush=True)


def rank_log(log: Log | None, is_main: bool) -> Log:
    """The log a process uses: ``log`` (default: stderr) on rank 0, silence on the other ranks."""
    if not is_main:
        return lambda _line: None
    return log or stderr_line


class Progress:
    """tqdm on a terminal (rank 0 only), otherwise silent; epoch lines are logged separately."""

    def __init__(self, enabled: bool, total: int, desc: str) -> None:
        self.bar: Any = None
        if enabled and sys.stderr.isatty():
            try:
                # tqdm comes with the train extra; without it the bar is simply left out
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)
            except ImportError:
                self.bar = None

    def update(self, loss: float) -> None:
        """One step done, at this loss."""
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}")

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()


def format_epoch(record: dict[str, Any], epochs: int, improved: bool) -> str:
    """The epoch line: ``epoch 3/10, loss 0.1234, ..., 1.2s`` with `` *`` when best.pt was updated."""
    parts = [f"epoch {record['epoch']}/{epochs}", f"loss {record['train_loss']:.4f}"]
    for key in ("train_accuracy", "val_accuracy", "val_cer", "val_exact_match"):
        if key in record:
            parts.append(f"{key.replace('_', ' ')} {record[key]:.4f}")
    parts.append(f"{record['epoch_time_s']:.1f}s")
    return ", ".join(parts) + (" *" if improved else "")
