"""Heads: RNN outputs -> logits.

Every head takes ``(outputs (B, T, F), h_n (layers·directions, B, H))`` from
:class:`~edgeseq.nn.rnns.SequenceRNN` (F = H·directions) and returns logits:
(B, num_outputs) for classification heads, (B, T, num_outputs) for ``ctc``.
Only indexing, transpose and flatten touch the batch axis, so it stays dynamic in export.
"""

from __future__ import annotations

import torch
from torch import nn

from edgeseq.registry import Registry


class Head(nn.Module):
    """Base class. ``per_timestep`` is True when the output keeps the time axis (CTC)."""

    per_timestep = False

    def __init__(self, in_features: int, num_outputs: int, directions: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.num_outputs = num_outputs
        self.directions = directions


class LastStateHead(Head):
    """Top layer's final hidden state (both directions concatenated) -> Linear."""

    def __init__(self, in_features: int, num_outputs: int, directions: int) -> None:
        super().__init__(in_features, num_outputs, directions)
        self.fc = nn.Linear(in_features, num_outputs)

    def forward(self, outputs: torch.Tensor, h_n: torch.Tensor) -> torch.Tensor:
        """-> (B, num_outputs).

        The top layer's states are the last ``directions`` entries of h_n (forward, then backward).
        For the backward direction the final state is the one after reading t=0, which
        ``outputs[:, -1]`` would miss.
        """
        top = h_n[-self.directions :]  # (directions, B, H)
        return self.fc(top.transpose(0, 1).flatten(1))


class MeanHead(Head):
    """Mean of the outputs over time -> Linear."""

    def __init__(self, in_features: int, num_outputs: int, directions: int) -> None:
        super().__init__(in_features, num_outputs, directions)
        self.fc = nn.Linear(in_features, num_outputs)

    def forward(self, outputs: torch.Tensor, h_n: torch.Tensor) -> torch.Tensor:
        """-> (B, num_outputs)."""
        return self.fc(outputs.mean(dim=1))


class AttentionHead(Head):
    """Attention pooling: a learned score per timestep, softmax over time, weighted sum -> Linear."""

    def __init__(self, in_features: int, num_outputs: int, directions: int) -> None:
        super().__init__(in_features, num_outputs, directions)
        self.score = nn.Linear(in_features, 1)
        self.fc = nn.Linear(in_features, num_outputs)

    def forward(self, outputs: torch.Tensor, h_n: torch.Tensor) -> torch.Tensor:
        """-> (B, num_outputs)."""
        weights = torch.softmax(self.score(outputs), dim=1)  # (B, T, 1)
        return self.fc((weights * outputs).sum(dim=1))


class CTCHead(Head):
    """Per-timestep Linear: (B, T, num_outputs) raw logits; index 0 is the CTC blank by convention."""

    per_timestep = True

    def __init__(self, in_features: int, num_outputs: int, directions: int) -> None:
        super().__init__(in_features, num_outputs, directions)
        self.fc = nn.Linear(in_features, num_outputs)

    def forward(self, outputs: torch.Tensor, h_n: torch.Tensor) -> torch.Tensor:
        """-> (B, T, num_outputs) logits (apply log_softmax over the last axis for CTC loss)."""
        return self.fc(outputs)


HEADS: Registry[Head] = Registry("head")


@HEADS.register("last")
def last(in_features: int, num_outputs: int, directions: int = 1) -> Head:
    """Classify from the top layer's final hidden state (both directions when bidirectional)."""
    return LastStateHead(in_features, num_outputs, directions)


@HEADS.register("mean")
def mean(in_features: int, num_outputs: int, directions: int = 1) -> Head:
    """Classify from the mean of the RNN outputs over time."""
    return MeanHead(in_features, num_outputs, directions)


@HEADS.register("attention")
def attention(in_features: int, num_outputs: int, directions: int = 1) -> Head:
    """Classify from an attention-weighted sum of the RNN outputs (softmax over time)."""
    return AttentionHead(in_features, num_outputs, directions)


@HEADS.register("ctc")
def ctc(in_features: int, num_outputs: int, directions: int = 1) -> Head:
    """Per-timestep logits (B, T, classes) for CTC decoding; class 0 is the blank."""
    return CTCHead(in_features, num_outputs, directions)
