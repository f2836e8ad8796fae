"""Deprecated: moved to :mod:`edgeseq.optimization.samples`; this module re-exports it for one release."""

from __future__ import annotations

import warnings

from edgeseq.optimization.samples import (
    IMAGE_SUFFIXES,
    LINES_LABEL_FILE,
    SampleReader,
    SampleSet,
    from_arrays,
    load_checkpoint_data,
    load_folder,
    samples_from_splits,
    split,
    take,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "LINES_LABEL_FILE",
    "SampleReader",
    "SampleSet",
    "from_arrays",
    "load_checkpoint_data",
    "load_folder",
    "samples_from_splits",
    "split",
    "take",
]

warnings.warn(
    "edgeseq.passes.calibration is deprecated; import from edgeseq.optimization.samples",
    DeprecationWarning,
    stacklevel=2,
)
