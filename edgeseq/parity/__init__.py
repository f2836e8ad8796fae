"""PyTorch vs ONNX Runtime parity: :func:`check_parity` -> :class:`ParityReport`.

The same inputs go through the PyTorch module and the ONNX model on ONNX Runtime's CPU provider:
random inputs at batch sizes {1, 2, 7}, inputs at several sizes of each dynamic image axis (the
smallest legal one included, none equal to the export example), user-supplied inputs and real
samples. For every output the report checks, in this order, the output names, the shapes and then
the values: max absolute and relative difference, cosine similarity and top-1 (argmax over the
class axis) agreement; for CTC outputs also the greedy-decoded sequence agreement. Every failure is
collected and reported, not only the first.

Models with preprocessing inside the graph (uint8 NHWC input, see
:class:`edgeseq.export.rewrites.InGraphPreprocess`) get uint8 pixels, and the PyTorch module gets
the same pixels normalised by :func:`edgeseq.runtime.preprocess.normalize`.

Modules: :mod:`~edgeseq.parity.report` (tolerances, rows, the report), :mod:`~edgeseq.parity.compare`
(one output), :mod:`~edgeseq.parity.cases` (the inputs), :mod:`~edgeseq.parity.check` (the check).
"""

from __future__ import annotations

from edgeseq.parity.cases import (
    DEFAULT_BATCH_SIZES,
    MIN_DYNAMIC_SIZES,
    SIZE_CASE_BATCH,
    checkpoint_samples,
    default_sizes,
    smallest_size,
)
from edgeseq.parity.check import check_parity, validate_and_record, validate_onnx
from edgeseq.parity.compare import compare_output, greedy_decode
from edgeseq.parity.report import (
    INT8_MIN_COSINE,
    INT8_MIN_TOP1,
    INT8_RANGE_RTOL,
    INT8_TOLERANCES,
    PARITY_ATOL,
    PARITY_MIN_COSINE,
    PARITY_RTOL,
    TOP1_TIE_MARGIN,
    ParityReport,
    ParityRow,
    ParityTolerances,
)

__all__ = [
    "DEFAULT_BATCH_SIZES",
    "INT8_MIN_COSINE",
    "INT8_MIN_TOP1",
    "INT8_RANGE_RTOL",
    "INT8_TOLERANCES",
    "MIN_DYNAMIC_SIZES",
    "PARITY_ATOL",
    "PARITY_MIN_COSINE",
    "PARITY_RTOL",
    "SIZE_CASE_BATCH",
    "TOP1_TIE_MARGIN",
    "ParityReport",
    "ParityRow",
    "ParityTolerances",
    "check_parity",
    "checkpoint_samples",
    "compare_output",
    "default_sizes",
    "greedy_decode",
    "smallest_size",
    "validate_and_record",
    "validate_onnx",
]
