"""Measuring the variant rows: scores on the evaluation samples, the gate's verdict, side-by-side latency.

Each step fills fields of a :class:`~edgeseq.optimization.report.VariantResult`. A variant that cannot be
measured becomes a rejected row with a one-line reason; the FP32 reference failing is the caller's error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeseq.bench.sidebyside import interleaved_latency_ns
from edgeseq.errors import first_line
from edgeseq.optimization.gate import Outputs, Score, accuracy_drop, evaluate, gate, make_session
from edgeseq.optimization.report import VariantResult
from edgeseq.optimization.samples import SampleSet
from edgeseq.runtime.metadata import ModelMetadata
from edgeseq.runtime.session import SessionLoadError


@dataclass
class Measurement:
    """One variant measured on the evaluation samples: its score, its outputs and its open session."""

    score: Score
    outputs: Outputs
    session: Any  # kept open so latency is measured side by side at the end


def measure_variant(
    row: VariantResult,
    path: Path,
    evaluation: SampleSet,
    metadata: ModelMetadata | None,
    reference: Outputs | None,
    *,
    threads: int,
    providers: Sequence[str],
    eval_batch: int,
) -> Measurement | None:
    """Run the variant on the evaluation samples and store its score in ``row``.

    Args:
        row: the variant's row (its ``session_graph_level`` is used; its ``score`` or ``reason`` is set).
        path: the variant file.
        evaluation: the held-out samples.
        metadata: the model's edgeseq metadata (task, labels), if any.
        reference: FP32's outputs; ``None`` while measuring FP32 itself.
        threads, providers: for the session.
        eval_batch: samples per run.

    Returns:
        The measurement, or ``None`` (with ``row.reason`` set) when the variant failed.

    Raises:
        Exception: whatever failed while measuring the FP32 reference (the user's model or samples).
    """
    try:
        session = make_session(path, row.session_graph_level, threads, providers)
        score, outputs = evaluate(session, evaluation, metadata, reference, 0, eval_batch)
    except Exception as exc:
        if reference is None:  # the fp32 reference itself: the user's model or samples are at fault
            raise
        cause = exc.ort_error if isinstance(exc, SessionLoadError) else exc
        row.reason = f"evaluation failed: {first_line(cause, 200, with_type=True)}"
        return None
    if reference is None:
        score.agreement, score.max_abs_diff = 100.0, 0.0
    row.score = score
    return Measurement(score, outputs, session)


def apply_gate(row: VariantResult, reference: Score, max_accuracy_drop: float, min_agreement: float | None) -> None:
    """Fill ``row``'s delta, status and reason from its score against FP32's."""
    score = row.score
    if score is None:
        return
    drop = accuracy_drop(reference, score)
    if drop is not None:
        row.delta = (drop if score.metric_name == "cer" else -drop) + 0.0  # + 0.0: no "-0.00" in tables
    accepted, row.reason = gate(reference, score, max_accuracy_drop, min_agreement)
    row.status = "accepted" if accepted else "rejected"


def time_side_by_side(
    rows: list[VariantResult], sessions: dict[str, Any], evaluation: SampleSet, runs: int, seed: int
) -> None:
    """Batch-1 median latency of every measured variant, in interleaved rounds; fills p50 and speed-up.

    Args:
        rows: the report rows (those named in ``sessions`` get a latency).
        sessions: variant name -> open session.
        evaluation: its first sample is the timed input.
        runs: timed calls per session.
        seed: the visiting order's seed.
    """
    times = interleaved_latency_ns(sessions, evaluation.inputs[0], runs, seed=seed)
    by_name = {row.name: row for row in rows}
    for name, samples in times.items():
        score = by_name[name].score
        if score is not None:
            score.p50_ms = float(np.median(samples)) / 1e6
            score.latency_runs = len(samples)
    fp32 = by_name["fp32"].score
    for row in rows:
        if row.score and row.score.p50_ms and fp32 and fp32.p50_ms:
            row.speedup = fp32.p50_ms / row.score.p50_ms
