"""Evaluation metrics for text lines and classes; standard library and numpy only (no torch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeseq.errors import InputError


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions turning ``a`` into ``b``.

    Works on strings or any sequences of comparable items; O(len(a) * len(b)) time, O(len(b)) memory.
    """
    if len(a) < len(b):
        a, b = b, a  # keep the row (len(b) + 1) short
    previous = list(range(len(b) + 1))
    for i, item_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, item_b in enumerate(b, start=1):
            current[j] = min(
                previous[j] + 1,  # delete item_a
                current[j - 1] + 1,  # insert item_b
                previous[j - 1] + (item_a != item_b),  # substitute (free when equal)
            )
        previous = current
    return previous[-1]


def _check_pairs(predictions: Sequence[str], targets: Sequence[str]) -> None:
    if len(predictions) != len(targets):
        raise InputError(
            f"metrics: got {len(predictions)} predictions and {len(targets)} targets; expected equal counts"
        )


def cer(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """Character error rate: total edit distance divided by the total number of target characters.

    Corpus-level (not a mean of per-line rates), so long lines weigh more — the usual OCR convention.
    With no target characters at all, returns 0.0 if every prediction is empty too, else 1.0 per
    convention that any output is wrong (the ratio itself would be infinite).

    Raises:
        InputError: the two lists differ in length.
    """
    _check_pairs(predictions, targets)
    total_chars = sum(len(t) for t in targets)
    errors = sum(edit_distance(p, t) for p, t in zip(predictions, targets, strict=True))
    if total_chars == 0:
        return 0.0 if errors == 0 else 1.0
    return errors / total_chars


def exact_match(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """Fraction of lines predicted exactly (sequence accuracy); 0.0 for empty lists.

    Raises:
        InputError: the two lists differ in length.
    """
    _check_pairs(predictions, targets)
    if not targets:
        return 0.0
    return sum(p == t for p, t in zip(predictions, targets, strict=True)) / len(targets)


def accuracy(predicted: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Classification accuracy: the fraction of equal entries; 0.0 for empty inputs.

    Raises:
        InputError: the two differ in length.
    """
    predicted = np.asarray(predicted).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if predicted.shape != labels.shape:
        raise InputError(f"accuracy: got {predicted.size} predictions and {labels.size} labels; expected equal counts")
    if labels.size == 0:
        return 0.0
    return float(np.mean(predicted == labels))
