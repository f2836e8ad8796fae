"""Batches: data loaders, CTC targets and lengths, and the loss of one training batch.

Shared by the training loop and evaluation, so both see the same batching and the same CTC lengths.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from edgeseq.data import DataSplits
from edgeseq.errors import InputError
from edgeseq.nn import ImageSequenceModel

# A zero-argument callable entering torch.autocast (or a disabled one): the loop's mixed-precision switch.
Autocast = Callable[[], AbstractContextManager[Any]]


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (the model itself when not wrapped)."""
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    splits: DataSplits,
    seed: int,
    sampler: Sampler | None = None,
    workers: int = 0,
) -> DataLoader:
    """A DataLoader with its own seeded generator (shuffling never touches torch's global RNG)."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        collate_fn=splits.collate_fn,
        num_workers=workers,
        generator=generator,
        drop_last=False,
    )


def ctc_lengths(model: nn.Module, images: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    """Valid output timesteps per sample: the sequence length of each unpadded width."""
    core = cast(ImageSequenceModel, unwrap(model))
    height = images.shape[2]
    return torch.tensor([core.sequence_shape(height, int(w))[0] for w in widths], dtype=torch.long)


def encode_texts(texts: list[str], alphabet: str) -> tuple[torch.Tensor, torch.Tensor]:
    """CTC targets: the concatenated alphabet indices (1-based; 0 is the blank) and each text's length.

    Raises:
        InputError: a character is not in the alphabet.
    """
    index = {ch: i + 1 for i, ch in enumerate(alphabet)}  # 0 is the CTC blank
    try:
        flat = [index[ch] for text in texts for ch in text]
    except KeyError as exc:
        raise InputError(f"text contains {exc.args[0]!r}, which is not in the alphabet {alphabet!r}") from None
    return torch.tensor(flat, dtype=torch.long), torch.tensor([len(t) for t in texts], dtype=torch.long)


def batch_loss(
    model: nn.Module, batch: Any, splits: DataSplits, device: torch.device, autocast: Autocast
) -> tuple[torch.Tensor, int, int]:
    """Forward one batch; returns (loss, correct count, sample count) — correct is 0 for CTC."""
    if splits.task == "ctc":
        images, texts, widths = batch
        images = images.to(device, non_blocking=True)
        with autocast():
            logits = model(images)
        log_probs = logits.float().log_softmax(-1).permute(1, 0, 2)  # (T, B, C) for CTCLoss
        input_lengths = ctc_lengths(model, images, widths)
        targets, target_lengths = encode_texts(texts, splits.alphabet)
        loss = F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, zero_infinity=True)
        return loss, 0, images.shape[0]
    images, targets = batch
    images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
    with autocast():
        logits = model(images)
    loss = F.cross_entropy(logits.float(), targets)
    correct = int((logits.argmax(1) == targets).sum())
    return loss, correct, images.shape[0]
