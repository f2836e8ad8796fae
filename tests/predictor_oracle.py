"""What a Predictor must do with an array: refuse it with a given InputError, or accept it with a given result.

The fuzz tests draw arrays of any rank, dtype, size and content; for each one this oracle states the
outcome from the documented input contract (``edgeseq.runtime.predictor``), so a wrong acceptance fails
a test as surely as a crash does. The first problem found is the one reported, in this order:

predict(array):  empty → dtype (uint8 pixels, or float32 for an already preprocessed batch) → uint8: rank
                 and channels of each image / float32: rank 4, channel count, finite values → the graph's
                 fixed dimensions (after preprocessing).
run(array):      dtype → rank and fixed dimensions → empty → finite values.

Only for models whose preprocessing is not in the graph (float NCHW input), as the kit's are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Refused:
    """The call raises :class:`edgeseq.errors.InputError` with one line matching ``match``."""

    match: str


@dataclass(frozen=True)
class Accepted:
    """The call returns a valid result: ``count`` results for a batch, one result when ``count`` is None."""

    count: int | None = None


Outcome = Refused | Accepted

EMPTY = r"got an empty array of shape"
PIXEL_SHAPE = r"expected HxW or HxWxC with C in 1, 3, 4"
NAN = r"NaN or Inf"


def _fixed(shape: tuple[int | None, ...]) -> str:
    """The graph's shape as the Predictor prints it: ``'?'`` for a dynamic axis."""
    return re.escape(str(tuple("?" if d is None else d for d in shape)))


def predict_outcome(array: np.ndarray, input_shape: tuple[int | None, ...], channels: int = 1) -> Outcome:
    """The outcome of ``Predictor.predict(array)`` for a model with graph input ``input_shape`` (NCHW).

    Args:
        array: what the caller passes.
        input_shape: ``Predictor.input_shape`` (None for a dynamic axis).
        channels: 1 for color "L", 3 for "RGB".
    """
    if array.size == 0:
        return Refused(EMPTY)
    if array.dtype == np.uint8:
        images = list(array) if array.ndim == 4 else [array]
        for image in images:  # each one becomes a PIL image: HxW, or HxWxC with C in 1, 3, 4
            if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))):
                return Refused(PIXEL_SHAPE)
        # pixels are resized to the model's size: every image fits the graph
        return Accepted(len(images) if array.ndim == 4 else None)
    if array.dtype.kind == "f":
        if array.dtype != np.float32:
            return Refused(rf"got dtype {array.dtype}; expected float32")
        if array.ndim != 4:
            return Refused(r"expected an NCHW batch \(N, C, H, W\)")
        if array.shape[1] != channels:
            return Refused(rf"got {array.shape[1]} channels .*expected {channels} for color=")
        if not np.isfinite(array).all():
            return Refused(NAN)
        sample = input_shape[1:]
        if any(e is not None and e != g for e, g in zip(sample, array.shape[1:], strict=True)):
            return Refused(rf"got an image of shape {re.escape(str(array.shape[1:]))} .*expected {_fixed(sample)}")
        return Accepted(array.shape[0])
    return Refused(rf"got dtype {array.dtype}; expected uint8 pixels")


def run_outcome(array: np.ndarray, input_shape: tuple[int | None, ...], input_dtype: str = "float32") -> Outcome:
    """The outcome of ``Predictor.run(array)`` for a single-input model (``count``: rows of the output)."""
    if array.dtype != np.dtype(input_dtype):
        return Refused(rf"got dtype {array.dtype}; expected {input_dtype}")
    # the Predictor checks the contents before the shape: empty, then NaN/Inf, then the declared shape
    if array.size == 0:
        return Refused(EMPTY)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        return Refused(NAN)
    if array.ndim != len(input_shape) or any(
        e is not None and e != g for e, g in zip(input_shape, array.shape, strict=True)
    ):
        return Refused(rf"got shape {re.escape(str(array.shape))}; expected {_fixed(input_shape)}")
    return Accepted(array.shape[0])
