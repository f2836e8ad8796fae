"""Image preprocessing from a preprocessing spec: the single definition used by training and runtime.

The training datasets call :func:`preprocess_image` too, so what a deployed model sees is exactly
what it was trained on. Only numpy and Pillow are used.

Spec keys (see ``edgeseq.config.PreprocessConfig``): ``height``, ``width``, ``color`` ("L"/"RGB"),
``mean``, ``std`` (0..1 scale, one value or one per channel), ``interpolation`` (PIL filter name),
``resize`` ("stretch" or "height"), ``min_width``, ``max_width``, ``invert``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from edgeseq.errors import InputError

_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}

# Pillow refuses images above ~179 megapixels by default (decompression-bomb guard); we keep that.


def spec_dict(spec: Any) -> dict[str, Any]:
    """Accept a PreprocessConfig dataclass or a plain mapping; return a plain dict."""
    if is_dataclass(spec) and not isinstance(spec, type):
        return asdict(spec)
    if isinstance(spec, Mapping):
        return dict(spec)
    raise InputError(f"preprocessing spec: got {type(spec).__name__}; expected a PreprocessConfig or a dict")


def check_spec(spec: Mapping[str, Any]) -> None:
    """Check the keys :func:`preprocess_image` relies on (a spec read from a model file may be hand-made).

    Raises:
        InputError: naming the first bad key and what was expected.
    """
    for key in ("height", "width"):
        value = spec.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"preprocess.{key}: got {value!r}; expected a positive integer")
    color = spec.get("color", "L")
    if color not in ("L", "RGB"):
        raise InputError(f"preprocess.color: got {color!r}; expected 'L' or 'RGB'")
    interpolation = spec.get("interpolation", "bilinear")
    if interpolation not in _FILTERS:
        raise InputError(f"preprocess.interpolation: got {interpolation!r}; expected one of {', '.join(_FILTERS)}")
    if spec.get("resize", "stretch") not in ("stretch", "height"):
        raise InputError(f"preprocess.resize: got {spec.get('resize')!r}; expected 'stretch' or 'height'")
    channels = 1 if color == "L" else 3
    for key in ("mean", "std"):
        values = spec.get(key, [0.0] if key == "mean" else [1.0])
        if (
            not isinstance(values, list)
            or len(values) not in (1, channels)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        ):
            counts = "1 number" if channels == 1 else f"1 or {channels} numbers"
            raise InputError(f"preprocess.{key}: got {values!r}; expected a list of {counts} for color={color!r}")
    if any(v <= 0 for v in spec.get("std", [1.0])):
        raise InputError(f"preprocess.std: got {spec['std']!r}; expected positive values")
    if spec.get("resize", "stretch") == "height":
        low, high = spec.get("min_width", 1), spec.get("max_width", spec.get("min_width", 1))
        if not (isinstance(low, int) and isinstance(high, int) and 0 < low <= high):
            raise InputError(f"preprocess.min_width/max_width: got {low!r}/{high!r}; expected 0 < min <= max")


def load_image(source: Any) -> Image.Image:
    """Open an image from a path, a PIL image or a uint8 array (HxW or HxWxC, C in 1/3/4).

    Raises:
        InputError: the file is missing, unreadable or not an image; the array has the wrong rank/dtype.
    """
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (str, os.PathLike)):
        if not os.fspath(source):
            raise InputError("image path is empty; expected a file path")
        path = Path(source)
        if not path.is_file():
            raise InputError(f"image file {str(path)!r} not found")
        try:
            with Image.open(path) as img:
                img.load()  # decode now so a truncated file fails here, not later
                return img.copy()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise InputError(f"cannot read image {str(path)!r}: {exc}; expected a PNG/JPEG/BMP/... image") from None
        except Image.DecompressionBombError as exc:
            raise InputError(
                f"image {str(path)!r} is too large ({exc}); expected at most {Image.MAX_IMAGE_PIXELS} pixels"
            ) from None
    if isinstance(source, np.ndarray):
        return array_to_image(source)
    raise InputError(
        f"image: got {type(source).__name__}; expected a file path, a PIL image or a uint8 HxW/HxWxC array"
    )


def array_to_image(array: np.ndarray) -> Image.Image:
    """Convert a uint8 HxW or HxWxC (C = 1, 3, 4) array into a PIL image."""
    if array.dtype != np.uint8:
        raise InputError(f"image array: got dtype {array.dtype}; expected uint8 (HxW or HxWxC pixels 0..255)")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        mode = "L"
    elif array.ndim == 3 and array.shape[2] in (3, 4):
        mode = "RGB" if array.shape[2] == 3 else "RGBA"
    else:
        raise InputError(f"image array: got shape {tuple(array.shape)}; expected HxW or HxWxC with C in 1, 3, 4")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"image array: got shape {tuple(array.shape)}; expected a non-empty image")
    return Image.fromarray(np.ascontiguousarray(array), mode=mode)


def target_size(image_size: tuple[int, int], spec: Mapping[str, Any]) -> tuple[int, int]:
    """The (width, height) an image of ``image_size`` (width, height) is resized to."""
    width, height = image_size
    if spec.get("resize", "stretch") == "height":
        scaled = round(width * spec["height"] / max(height, 1))
        return int(min(max(scaled, spec.get("min_width", 1)), spec.get("max_width", scaled))), int(spec["height"])
    return int(spec["width"]), int(spec["height"])


def to_pixels(image: Image.Image, spec: Mapping[str, Any]) -> np.ndarray:
    """Convert color mode and resize: returns uint8 pixels, HxW (grayscale) or HxWx3 (RGB)."""
    color = spec.get("color", "L")
    if image.mode != color:
        if image.mode in ("RGBA", "LA", "P", "PA") and color == "RGB":
            image = image.convert("RGBA")
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image)
        image = image.convert(color)
    size = target_size(image.size, spec)
    if image.size != size:
        image = image.resize(size, _FILTERS[spec.get("interpolation", "bilinear")])
    return np.asarray(image, dtype=np.uint8)


def normalize(pixels: np.ndarray, spec: Mapping[str, Any]) -> np.ndarray:
    """uint8 HxW or HxWxC (or NHWC) pixels → float32 normalised CHW (or NCHW).

    ``x = (pixels / 255 - mean) / std``, after ``1 - pixels / 255`` when ``invert`` is set.
    """
    x = pixels.astype(np.float32) / np.float32(255.0)
    if spec.get("invert", False):
        x = np.float32(1.0) - x
    if x.ndim == 2:
        x = x[:, :, None]
    mean = np.asarray(spec.get("mean", [0.0]), dtype=np.float32)
    std = np.asarray(spec.get("std", [1.0]), dtype=np.float32)
    x = (x - mean) / std
    return np.ascontiguousarray(np.moveaxis(x, -1, -3), dtype=np.float32)


def pixels_from_normalized(x: np.ndarray, spec: Mapping[str, Any]) -> np.ndarray:
    """Invert :func:`normalize` on a batch: NCHW float -> NHWC uint8 (exact for images that came from pixels).

    For models with the preprocessing inside the graph (uint8 NHWC input), fed from data that
    training normalised.
    """
    mean = np.asarray(spec.get("mean", [0.0]), dtype=np.float64).reshape(1, -1, 1, 1)
    std = np.asarray(spec.get("std", [1.0]), dtype=np.float64).reshape(1, -1, 1, 1)
    unit = x.astype(np.float64) * std + mean
    if spec.get("invert", False):
        unit = 1.0 - unit
    pixels = np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(pixels.transpose(0, 2, 3, 1))


def preprocess_image(source: Any, spec: Any) -> np.ndarray:
    """Load (if needed), convert, resize and normalise one image → float32 array (C, H, W).

    Args:
        source: a path, a PIL image, or a uint8 HxW/HxWxC array.
        spec: a PreprocessConfig or its dict.
    """
    spec = spec_dict(spec)
    return normalize(to_pixels(load_image(source), spec), spec)
