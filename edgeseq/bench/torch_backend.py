"""The PyTorch eager baseline of the benchmark: the checkpoint's model under ``torch.inference_mode``.

Importing this module imports torch, so the benchmark imports it only for rows (and plans) that ask
for the ``torch`` backend: ``edgeseq bench`` on ONNX models runs with the base install alone, and the
peak memory of an onnxruntime worker does not include torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgeseq.bench.spec import MeasureSpec, OpenedModel
from edgeseq.checkpoint import load_checkpoint, model_from_checkpoint


@dataclass(frozen=True)
class CheckpointFacts:
    """What the benchmark plan reads from a checkpoint: its preprocessing, metrics and file."""

    path: Path
    preprocess: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def channels(self) -> int:
        """1 for grayscale models, else 3."""
        return 1 if self.preprocess.get("color", "L") == "L" else 3


def read_checkpoint(path: str | Path) -> CheckpointFacts:
    """Load a checkpoint (safely: weights only) and keep what the plan needs.

    Raises:
        ModelFileError: missing, unsafe or malformed checkpoint.
    """
    ckpt = load_checkpoint(path)
    return CheckpointFacts(Path(ckpt.get("path", path)), dict(ckpt["preprocess"]), dict(ckpt.get("metrics") or {}))


def open_torch(spec: MeasureSpec) -> OpenedModel:
    """Rebuild the model from its checkpoint and run it eagerly under ``torch.inference_mode``."""
    torch.set_num_threads(spec.threads)
    model, _ckpt = model_from_checkpoint(spec.model_path)
    model.eval()

    def infer(x: np.ndarray) -> Any:
        with torch.inference_mode():
            return model(torch.from_numpy(x))

    return OpenedModel(
        infer=infer,
        provider="torch-cpu",
        precision="fp32",
        settings={"torch_num_threads": torch.get_num_threads(), "torch": torch.__version__, "mode": "eager"},
    )
