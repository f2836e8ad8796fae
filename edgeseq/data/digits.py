"""scikit-learn's bundled handwritten digits (1,797 real 8×8 scans, no download) as images."""

from __future__ import annotations

import numpy as np

from edgeseq.errors import DependencyError

DIGIT_LABELS = [str(d) for d in range(10)]


def digits_to_uint8(images: np.ndarray) -> np.ndarray:
    """Convert the dataset's 0..16 intensities to uint8 pixels 0..255 (white digit on black)."""
    return np.round(np.asarray(images, dtype=np.float64) * 255.0 / 16.0).astype(np.uint8)


def load_digits_uint8() -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images (1797, 8, 8) uint8, labels (1797,) int64)``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DependencyError("the digits dataset needs scikit-learn: pip install 'edgeseq[train]'") from exc
    bunch = load_digits()
    return digits_to_uint8(bunch.images), bunch.target.astype(np.int64)
