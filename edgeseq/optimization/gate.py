"""The accuracy gate: how much an optimized variant costs in accuracy, and the scores it is judged on.

Every variant runs on the same held-out samples as the FP32 model. Measured per variant:
accuracy (classification) or CER (CTC) in percent when targets are known, agreement with the FP32
model's predictions and the largest absolute difference of the logits; the batch-1 median latency is
measured side by side afterwards (:mod:`edgeseq.bench.sidebyside`). A variant whose metric is worse
than FP32's by more than ``max_accuracy_drop`` points is rejected.

Needs numpy and onnxruntime only (no torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeseq.bench.sidebyside import DEFAULT_LATENCY_RUNS, input_dtype, median_latency_ms
from edgeseq.errors import InputError
from edgeseq.metrics import accuracy, cer
from edgeseq.optimization.samples import SampleSet
from edgeseq.runtime.decode import ctc_greedy
from edgeseq.runtime.metadata import ModelMetadata
from edgeseq.runtime.options import CPU, CUDA, GraphLevel, SessionConfig
from edgeseq.runtime.session import open_session, requested_providers

__all__ = [
    "DEFAULT_LATENCY_RUNS",
    "DEFAULT_MAX_ACCURACY_DROP",
    "Outputs",
    "Score",
    "accuracy_drop",
    "decode",
    "evaluate",
    "gate",
    "make_session",
    "metric",
    "run_logits",
]

# The default: a variant may lose at most 1 point of accuracy (or gain 1 point of CER).
DEFAULT_MAX_ACCURACY_DROP = 1.0


@dataclass
class Score:
    """What one variant achieved on the evaluation samples."""

    metric_name: str | None = None  # "accuracy" or "cer"; None without labelled samples
    metric: float | None = None  # percent
    agreement: float | None = None  # percent of predictions equal to the FP32 model's
    max_abs_diff: float | None = None  # largest |logit - FP32 logit|
    p50_ms: float | None = None  # batch-1 median latency
    latency_runs: int = 0
    samples: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


@dataclass
class Outputs:
    """Per-sample logits and decoded predictions of one model (the FP32 reference keeps these)."""

    logits: list[np.ndarray]
    predictions: list[Any]


def make_session(
    path: str | Path,
    graph_level: str | GraphLevel = GraphLevel.ALL,
    threads: int = 1,
    providers: Sequence[str] = (CPU,),
    spinning: bool = False,
) -> Any:
    """An onnxruntime session with ``threads`` intra-op threads, created by :func:`edgeseq.runtime.session.open_session`.

    The options are a deployed Predictor's (threads checked against the usable CPUs, log level, and
    cuDNN's heuristic algorithm search on CUDA: an exhaustive search per new width, docs/traps.md #16).
    Spinning is off by default (docs/traps.md #15: spinning threads burn the CPU that preprocessing
    and other processes need); onnxruntime's own default is on, which lowers the latency of models
    with many short kernels (INT8) on an otherwise idle machine.

    Args:
        path: the model file.
        graph_level: a :class:`GraphLevel`, its short name or an ORT member name (``"ORT_ENABLE_ALL"``).
        threads: intra-op threads.
        providers: provider names, in order (CUDA gets the runtime's CUDA options).
        spinning: let idle intra-op threads spin.

    Raises:
        SessionLoadError: onnxruntime refused the model.
        ConfigError: a bad level or thread count.
    """
    config = SessionConfig(threads=threads, graph_optimization=graph_level, allow_spinning=spinning)
    cuda = requested_providers(SessionConfig(providers="cuda")) if CUDA in providers else []
    return open_session(path, config, [cuda[0] if p == CUDA else p for p in providers])


def _logits_name(session: Any, metadata: ModelMetadata | None) -> str:
    names: list[str] = [o.name for o in session.get_outputs()]
    wanted = metadata.outputs.logits if metadata is not None else None
    return wanted if wanted is not None and wanted in names else names[0]


def run_logits(
    session: Any, samples: SampleSet, metadata: ModelMetadata | None, max_batch: int = 32
) -> list[np.ndarray]:
    """Run ``samples`` through ``session``; returns each sample's logits (float32, batch axis removed)."""
    inp = session.get_inputs()[0]
    dtype = input_dtype(session)
    name = _logits_name(session, metadata)
    out: list[np.ndarray] = []
    for batch in samples.batches(max_batch):
        (logits,) = session.run([name], {inp.name: batch.astype(dtype, copy=False)})
        out.extend(np.asarray(logits, dtype=np.float32))
    return out


def decode(logits: Sequence[np.ndarray], metadata: ModelMetadata | None) -> list[Any]:
    """Predictions: class index (classification) or greedy-decoded text (ctc)."""
    if metadata is not None and metadata.task == "ctc":
        return [ctc_greedy(x, metadata.alphabet, metadata.blank_index)[0] for x in logits]
    return [int(np.argmax(x)) for x in logits]


def metric(predictions: Sequence[Any], targets: Sequence[Any], task: str) -> tuple[str, float]:
    """``("accuracy", percent)`` or ``("cer", percent)``."""
    if task == "ctc":
        return "cer", 100.0 * cer([str(p) for p in predictions], [str(t) for t in targets])
    return "accuracy", 100.0 * accuracy(np.asarray(predictions), np.asarray(targets))


def evaluate(
    session: Any,
    samples: SampleSet,
    metadata: ModelMetadata | None,
    reference: Outputs | None = None,
    latency_runs: int = DEFAULT_LATENCY_RUNS,
    max_batch: int = 32,
) -> tuple[Score, Outputs]:
    """Score one model on ``samples`` (and against the FP32 ``reference`` when given).

    Raises:
        InputError: no samples, or a reference of another length.
    """
    if len(samples) == 0:
        raise InputError("evaluation samples: got none; expected at least one")
    logits = run_logits(session, samples, metadata, max_batch)
    predictions = decode(logits, metadata)
    score = Score(samples=len(samples))
    if samples.labelled:
        task = metadata.task if metadata is not None else "classification"
        score.metric_name, score.metric = metric(predictions, samples.targets or [], task)
    if reference is not None:
        if len(reference.logits) != len(logits):
            raise InputError(f"reference: got {len(reference.logits)} outputs; expected {len(logits)}")
        score.agreement = 100.0 * float(
            np.mean([p == r for p, r in zip(predictions, reference.predictions, strict=True)])
        )
        score.max_abs_diff = max(
            float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
            for a, b in zip(logits, reference.logits, strict=True)
        )
    if latency_runs > 0:
        score.p50_ms = median_latency_ms(session, samples.inputs[0], latency_runs)
        score.latency_runs = latency_runs
    return score, Outputs(logits, predictions)


def accuracy_drop(reference: Score, score: Score) -> float | None:
    """Points lost versus FP32 (positive is worse): accuracy fallen, or CER risen; None when unknown."""
    if reference.metric is None or score.metric is None:
        return None
    if score.metric_name == "cer":
        return score.metric - reference.metric
    return reference.metric - score.metric


def gate(
    reference: Score, score: Score, max_accuracy_drop: float, min_agreement: float | None = None
) -> tuple[bool, str]:
    """Accept or reject a variant; the reason is one line (empty when accepted with a measured metric)."""
    drop = accuracy_drop(reference, score)
    if drop is not None and drop > max_accuracy_drop:
        return False, f"{score.metric_name} drop {drop:.2f} points > allowed {max_accuracy_drop:g}"
    if min_agreement is not None and score.agreement is not None and score.agreement < min_agreement:
        return False, f"agreement with fp32 {score.agreement:.1f}% < required {min_agreement:g}%"
    if drop is None:
        return True, "accuracy not measured (unlabelled samples): agreement with fp32 only"
    return True, ""
