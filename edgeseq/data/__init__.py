"""Datasets built from a config: digits (bundled), image folders, synthetic and real text lines.

Every dataset preprocesses with :func:`edgeseq.runtime.preprocess.preprocess_image`, the same code
the runtime uses, so a deployed model sees exactly what it was trained on.
"""

from __future__ import annotations

from collections.abc import Callable, Sized
from dataclasses import dataclass
from typing import Any, cast

from torch.utils.data import Dataset, Subset

from edgeseq.config import ExperimentConfig
from edgeseq.data.digits import DIGIT_LABELS, load_digits_uint8
from edgeseq.data.images import ArrayImageDataset, ImageFileDataset, RandomShift, scan_image_folder
from edgeseq.data.splits import split_indices
from edgeseq.data.textlines import collate_textlines, text_splits


@dataclass
class DataSplits:
    """Train/val/test datasets plus what the model needs to know about the targets.

    Items are ``(image tensor (C, H, W) float32, target)``: an int class index for classification,
    the text (str) for CTC, whose images vary in width and need :attr:`collate_fn`.
    """

    train: Dataset
    val: Dataset
    test: Dataset
    task: str  # "classification" | "ctc"
    labels: list[str]
    alphabet: str = ""
    collate_fn: Callable[[list[Any]], Any] | None = None

    @property
    def num_outputs(self) -> int:
        """Width of the model's class axis (alphabet + CTC blank, or the number of labels)."""
        return len(self.alphabet) + 1 if self.task == "ctc" else len(self.labels)

    def size(self, split: str) -> int:
        """Number of samples in ``split`` ("train", "val" or "test")."""
        dataset: Sized = getattr(self, split)
        return len(dataset)


def build_datasets(cfg: ExperimentConfig) -> DataSplits:
    """Build the train/val/test splits a recipe asks for (deterministic for ``data.split_seed``)."""
    data = cfg.data
    if data.dataset == "digits":
        pixels, digit_targets = load_digits_uint8()
        targets = [int(t) for t in digit_targets]
        return _classification_splits(ArrayImageDataset(pixels, targets, cfg.preprocess), targets, DIGIT_LABELS, cfg)
    if data.dataset == "folder":
        paths, targets, classes = scan_image_folder(cast(str, data.root))  # DataConfig requires root here
        return _classification_splits(ImageFileDataset(paths, targets, cfg.preprocess), targets, classes, cfg)
    # text lines: synthetic ("textlines") or a folder with labels.tsv ("lines")
    train, val, test, alphabet = text_splits(cfg)
    return DataSplits(train, val, test, "ctc", [], alphabet, collate_textlines)


def _classification_splits(full: Dataset, targets: list[int], labels: list[str], cfg: ExperimentConfig) -> DataSplits:
    """Split one labelled dataset, stratified by class, and augment its training part."""
    data = cfg.data
    train, val, test = split_indices(len(targets), data.val_fraction, data.test_fraction, data.split_seed, targets)
    return DataSplits(
        _augmented(Subset(full, train), cfg), Subset(full, val), Subset(full, test), "classification", labels
    )


def _augmented(train: Dataset, cfg: ExperimentConfig) -> Dataset:
    """The training split with ``data.augment_shift`` applied (validation and test stay untouched)."""
    if not cfg.data.augment_shift:
        return train
    return RandomShift(train, cfg.data.augment_shift)
