"""What the page's JavaScript must know about the installed Pillow to resize exactly like it."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image


@functools.lru_cache(maxsize=1)
def pillow_vertical_pass_first() -> bool:
    """True when the installed Pillow runs the vertical resampling pass first for tall shrinks.

    Pillow >= 12 resamples vertically first when the height shrinks by more than twice as many
    pixels as the width; older Pillow always resamples horizontally first. Each pass rounds to
    uint8, so the order changes pixel values by 1 here and there. Measured rather than read from
    the version string, so the page matches whatever Pillow the Python runtime uses.
    """
    pattern = (np.arange(64 * 20, dtype=np.uint32) * 2654435761 % 251).astype(np.uint8).reshape(64, 20)
    image = Image.fromarray(pattern, mode="L")
    bilinear = Image.Resampling.BILINEAR
    both = np.asarray(image.resize((32, 32), bilinear))
    vertical_first = np.asarray(image.resize((20, 32), bilinear).resize((32, 32), bilinear))
    horizontal_first = np.asarray(image.resize((32, 64), bilinear).resize((32, 32), bilinear))
    if np.array_equal(horizontal_first, vertical_first):  # pragma: no cover - the pattern is chosen to differ
        raise RuntimeError("pillow_vertical_pass_first: probe image does not tell the pass orders apart")
    return bool(np.array_equal(both, vertical_first))
