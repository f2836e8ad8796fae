"""Training: single process, or DistributedDataParallel under ``torchrun``.

One loop serves both tasks: cross-entropy for classification, CTC for text lines. Every epoch ends
with a validation pass, ``last.pt`` (with optimizer/scheduler/RNG state for ``--resume``) and, when
the validation metric improved, ``best.pt``; the run ends with a test-set evaluation of the best
weights, written into ``best.pt`` and ``summary.json``. All files are written atomically.

Under torchrun (``WORLD_SIZE > 1``) each rank trains on its shard (DistributedSampler, reshuffled
every epoch), gradients are averaged by DDP, training loss/accuracy are all-reduced, and only rank 0
evaluates (on the full validation/test set, so numbers equal single-process evaluation), logs and
writes files.

Modules: :mod:`~edgeseq.training.loop` (:func:`train` as phases), :mod:`~edgeseq.training.distributed`
(torchrun helpers), :mod:`~edgeseq.training.optim` (optimizer, schedule, AMP),
:mod:`~edgeseq.training.batches` (loaders, losses), :mod:`~edgeseq.training.evaluation`
(:func:`evaluate`, :func:`evaluate_checkpoint`), :mod:`~edgeseq.training.state` (what ``last.pt``
carries), :mod:`~edgeseq.training.resume` (``--resume`` checks and restore),
:mod:`~edgeseq.training.progress` and :mod:`~edgeseq.training.results`.
"""

from __future__ import annotations

from edgeseq.training.evaluation import evaluate, evaluate_checkpoint
from edgeseq.training.loop import train
from edgeseq.training.results import TrainResult
from edgeseq.training.resume import (
    RESUME_FREE_KEYS,
    RESUME_SECTIONS,
    RESUME_TRAIN_KEYS,
    check_resume_config,
    resume_config_differences,
)

__all__ = [
    "RESUME_FREE_KEYS",
    "RESUME_SECTIONS",
    "RESUME_TRAIN_KEYS",
    "TrainResult",
    "check_resume_config",
    "evaluate",
    "evaluate_checkpoint",
    "resume_config_differences",
    "train",
]
