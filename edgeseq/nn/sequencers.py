"""Sequencers: feature map (B, C, H', W') -> sequence (B, T, D), batch first.

Built only from slicing, ``permute`` and ``flatten`` — no Python loop over rows and no ``reshape``
with Python ints read from ``.shape`` — so batch and the sequence axis stay dynamic in ONNX export.

* ``rows``: each (every ``step``-th) row is a timestep: T = ceil(H'/step), D = C·W'.
* ``columns``: each column is a timestep: T = ceil(W'/step), D = C·H'.
* ``channels``: each feature map is a timestep: T = ceil(C/step), D = H'·W'.

Within a timestep the features are ordered channel-major, exactly like
``fm[:, :, i, :].reshape(B, -1)`` (rows), ``fm[:, :, :, i].reshape(B, -1)`` (columns) and
``fm[:, i].reshape(B, -1)`` (channels).

``.contiguous()`` before ``flatten`` costs nothing extra (flattening a permuted tensor copies anyway) and
keeps ``torch.export`` from emitting an unprovable stride guard on a dynamic, step-sliced width
(measured on torch 2.14: ``columns`` with ``step=2`` failed with a constraint violation without it).
With ``torch.export`` a dynamic sequence axis must also keep T >= 2 (sizes 1 are specialised,
docs/traps.md #6): at least ``max(2, step + 1)`` feature rows/columns.
"""

from __future__ import annotations

import abc
import math

import torch
from torch import nn

from edgeseq.errors import ConfigError
from edgeseq.registry import Registry


class Sequencer(nn.Module, abc.ABC):
    """Base class: ``step`` and which input image axis (if any) the sequence follows.

    Attributes:
        step: take every ``step``-th row/column/channel.
        image_axis: the input image axis (2 = height, 3 = width) that maps onto T and may vary at run time,
            or ``None`` when T does not depend on the image size.
        axis_name: ``"height"``, ``"width"`` or ``None``.
    """

    image_axis: int | None = None
    axis_name: str | None = None

    def __init__(self, step: int = 1) -> None:
        super().__init__()
        if isinstance(step, bool) or not isinstance(step, int) or step < 1:
            raise ConfigError(f"model.step: got {step!r}; expected a positive integer")
        self.step = step

    @abc.abstractmethod
    def sequence_shape(self, channels: int, h: int, w: int) -> tuple[int, int]:
        """(T, D) for a (channels, h, w) feature map."""

    @abc.abstractmethod
    def axis_length(self, channels: int, h: int, w: int) -> int:
        """Length of the feature-map axis the sequence is taken from (before ``step``)."""

    def extra_repr(self) -> str:
        """The step, shown in the module's repr."""
        return f"step={self.step}"


class RowSequencer(Sequencer):
    """Rows of the feature map as timesteps."""

    image_axis = 2
    axis_name = "height"

    def forward(self, fm: torch.Tensor) -> torch.Tensor:
        """(B, C, H', W') -> (B, ceil(H'/step), C·W')."""
        if self.step > 1:
            fm = fm[:, :, :: self.step, :]
        return fm.permute(0, 2, 1, 3).contiguous().flatten(2)

    def sequence_shape(self, channels: int, h: int, w: int) -> tuple[int, int]:
        """(T, D) = (ceil(h/step), channels·w)."""
        return math.ceil(h / self.step), channels * w

    def axis_length(self, channels: int, h: int, w: int) -> int:
        """Rows: h."""
        return h


class ColumnSequencer(Sequencer):
    """Columns of the feature map as timesteps (the CRNN / text-line layout)."""

    image_axis = 3
    axis_name = "width"

    def forward(self, fm: torch.Tensor) -> torch.Tensor:
        """(B, C, H', W') -> (B, ceil(W'/step), C·H')."""
        if self.step > 1:
            fm = fm[:, :, :, :: self.step]
        return fm.permute(0, 3, 1, 2).contiguous().flatten(2)

    def sequence_shape(self, channels: int, h: int, w: int) -> tuple[int, int]:
        """(T, D) = (ceil(w/step), channels·h)."""
        return math.ceil(w / self.step), channels * h

    def axis_length(self, channels: int, h: int, w: int) -> int:
        """Columns: w."""
        return w


class ChannelSequencer(Sequencer):
    """Feature maps (channels) as timesteps; T is fixed by the backbone, D by the image size."""

    image_axis = None
    axis_name = None

    def forward(self, fm: torch.Tensor) -> torch.Tensor:
        """(B, C, H', W') -> (B, ceil(C/step), H'·W')."""
        if self.step > 1:
            fm = fm[:, :: self.step]
        return fm.flatten(2)

    def sequence_shape(self, channels: int, h: int, w: int) -> tuple[int, int]:
        """(T, D) = (ceil(channels/step), h·w)."""
        return math.ceil(channels / self.step), h * w

    def axis_length(self, channels: int, h: int, w: int) -> int:
        """Channels: channels."""
        return channels


SEQUENCERS: Registry[Sequencer] = Registry("sequencer")


@SEQUENCERS.register("rows")
def rows(step: int = 1) -> Sequencer:
    """Each feature-map row is a timestep (T = ceil(H'/step), D = C·W'); the image height may vary."""
    return RowSequencer(step)


@SEQUENCERS.register("columns")
def columns(step: int = 1) -> Sequencer:
    """Each feature-map column is a timestep (T = ceil(W'/step), D = C·H'); the image width may vary."""
    return ColumnSequencer(step)


@SEQUENCERS.register("channels")
def channels(step: int = 1) -> Sequencer:
    """Each feature map (channel) is a timestep (T = ceil(C/step), D = H'·W'); the image size is fixed."""
    return ChannelSequencer(step)
