"""Deterministic train/val/test splits (standard library + numpy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def split_indices(
    n: int,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: Sequence[int] | None = None,
) -> tuple[list[int], list[int], list[int]]:
    """Split ``range(n)`` into train/val/test index lists, the same for the same seed.

    With ``stratify`` (one class index per item) each class is split in the same proportions, so a
    small test set still has every class.
    """
    rng = np.random.default_rng(seed)
    groups: list[np.ndarray]
    if stratify is None:
        groups = [np.arange(n)]
    else:
        labels = np.asarray(stratify)
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    train, val, test = [], [], []
    for group in groups:
        order = rng.permutation(group)
        n_test = int(round(len(order) * test_fraction))
        n_val = int(round(len(order) * val_fraction))
        test.extend(order[:n_test].tolist())
        val.extend(order[n_test : n_test + n_val].tolist())
        train.extend(order[n_test + n_val :].tolist())
    return sorted(train), sorted(val), sorted(test)
