"""Evaluation: metrics of a model on a dataset, and of a checkpoint on a split of its own data.

Classification reports ``accuracy`` and ``loss``; CTC reports ``cer``, ``exact_match`` and ``loss``
(greedy decoding of each sample's valid frames, as the runtime decodes). (The module is not called
``evaluate`` so that the submodule never shadows the :func:`evaluate` function the package exports.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from edgeseq.budget import check_memory_budget
from edgeseq.checkpoint import checkpoint_datasets, model_from_checkpoint
from edgeseq.config import config_from_dict
from edgeseq.data import DataSplits
from edgeseq.errors import InputError
from edgeseq.metrics import cer, exact_match
from edgeseq.runtime.decode import ctc_greedy_batch
from edgeseq.training.batches import ctc_lengths, encode_texts, make_loader, unwrap

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class _Tally:
    """Running sums over the batches of one evaluation."""

    loss: float = 0.0
    correct: int = 0
    count: int = 0
    predictions: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)


def _ctc_batch(core: nn.Module, batch: Any, alphabet: str, device: torch.device, tally: _Tally) -> None:
    images, texts, widths = batch
    images = images.to(device)
    logits = core(images).float()
    lengths = ctc_lengths(core, images, widths)
    log_probs = logits.log_softmax(-1)
    targets, target_lengths = encode_texts(texts, alphabet)
    loss = F.ctc_loss(log_probs.permute(1, 0, 2), targets, lengths, target_lengths, zero_infinity=True)
    decoded = ctc_greedy_batch(logits.cpu().numpy(), alphabet, 0, lengths.tolist())
    tally.predictions.extend(text for text, _ in decoded)
    tally.references.extend(texts)
    tally.loss += float(loss) * images.shape[0]
    tally.count += images.shape[0]


def _classification_batch(core: nn.Module, batch: Any, device: torch.device, tally: _Tally) -> None:
    images, targets = batch
    images, targets = images.to(device), targets.to(device)
    logits = core(images).float()
    tally.loss += float(F.cross_entropy(logits, targets, reduction="sum"))
    tally.correct += int((logits.argmax(1) == targets).sum())
    tally.count += images.shape[0]


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    splits: DataSplits,
    batch_size: int = 128,
    device: torch.device | None = None,
) -> dict[str, float]:
    """Evaluate on a dataset: ``accuracy`` and ``loss`` (classification) or ``cer``, ``exact_match``, ``loss`` (ctc).

    Args:
        model: the model (a DistributedDataParallel wrapper is unwrapped); its training mode is restored after.
        dataset: the samples, batched with ``splits.collate_fn``.
        splits: the task, alphabet and collate function of the data.
        batch_size: samples per forward pass.
        device: where to run (default: the model's device).

    Returns:
        The metrics, plus ``samples``: the number of samples evaluated.

    Raises:
        InputError: the dataset is empty.
    """
    device = device or next(model.parameters()).device
    core = unwrap(model)
    was_training = core.training
    core.eval()
    tally = _Tally()
    for batch in make_loader(dataset, batch_size, False, splits, 0):
        if splits.task == "ctc":
            _ctc_batch(core, batch, splits.alphabet, device, tally)
        else:
            _classification_batch(core, batch, device, tally)
    core.train(was_training)
    if tally.count == 0:
        raise InputError("evaluation split is empty; expected at least one sample (check data.*_fraction)")
    metrics: dict[str, float] = {"loss": tally.loss / tally.count, "samples": tally.count}
    if splits.task == "ctc":
        metrics.update(cer=cer(tally.predictions, tally.references))
        metrics.update(exact_match=exact_match(tally.predictions, tally.references))
    else:
        metrics["accuracy"] = tally.correct / tally.count
    return metrics


def evaluate_checkpoint(path: str | Path, split: str = "test", batch_size: int = 128) -> dict[str, Any]:
    """Evaluate a checkpoint on a split of the data its config names (``train``, ``val`` or ``test``).

    Args:
        path: a ``.pt`` file or a run folder (its ``best.pt``, else ``last.pt``).
        split: which split of the checkpoint's data.
        batch_size: samples per forward pass.

    Returns:
        The metrics of :func:`evaluate`, plus ``checkpoint`` (the file read) and ``split``.

    Raises:
        InputError: an unknown split or a bad batch size, or the checkpoint's data is missing or not its data.
        ModelFileError: the checkpoint is missing, unsafe or malformed.
        ResourceLimitError: its sizes at ``batch_size`` need more memory than the limit.
    """
    if split not in SPLIT_NAMES:
        raise InputError(f"split: got {split!r}; expected one of train, val, test")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size: got {batch_size!r}; expected a positive integer")
    model, ckpt = model_from_checkpoint(path)
    check_memory_budget(config_from_dict(ckpt["config"]), batch=batch_size)
    splits = checkpoint_datasets(ckpt)
    metrics: dict[str, Any] = evaluate(model, getattr(splits, split), splits, batch_size=batch_size)
    metrics["checkpoint"] = ckpt["path"]
    metrics["split"] = split
    return metrics


def is_better(task: str, new: dict[str, float], best: dict[str, float] | None) -> bool:
    """Whether validation metrics ``new`` beat ``best``: lower CER (then loss), or higher accuracy (then lower loss)."""
    if best is None:
        return True
    if task == "ctc":
        return (new["cer"], new["loss"]) < (best["cer"], best["loss"])
    return (new["accuracy"], -new["loss"]) > (best["accuracy"], -best["loss"])


def prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    """``{prefix}_{name}`` for every metric but ``samples``."""
    return {f"{prefix}_{k}": v for k, v in metrics.items() if k != "samples"}
