"""The main job: recipe → train → export → validate → optimize → benchmark, with one summary table.

Each stage is a call of the library function its CLI verb wraps; the pipeline only chains them and
collects their result objects. Every stage writes into the run folder:

    OUT/train/        best.pt, last.pt, metrics.jsonl, summary.json      (edgeseq train)
    OUT/model.onnx    + model.json manifest                              (edgeseq export)
    OUT/parity.json                                                      (edgeseq validate)
    OUT/optimized/    <variant>.onnx + manifests, optimize_report.*      (edgeseq optimize)
    OUT/bench/        bench.json/.csv/.md/.png                           (edgeseq bench)
    OUT/summary.json, OUT/summary.md

:mod:`~edgeseq.pipeline.main` runs the stages (:func:`run_pipeline`); :mod:`~edgeseq.pipeline.summary`
builds the summary rows and table.
"""

from __future__ import annotations

from edgeseq.pipeline.main import (
    CTC_BENCH_WIDTHS,
    DEFAULT_RECIPE,
    STAGES,
    BenchOutcome,
    PipelineOptions,
    PipelineResult,
    StageResults,
    ValidateOutcome,
    run_pipeline,
)
from edgeseq.pipeline.summary import format_summary, summary_rows

__all__ = [
    "CTC_BENCH_WIDTHS",
    "DEFAULT_RECIPE",
    "STAGES",
    "BenchOutcome",
    "PipelineOptions",
    "PipelineResult",
    "StageResults",
    "ValidateOutcome",
    "format_summary",
    "run_pipeline",
    "summary_rows",
]
