"""The accuracy gate: how much an optimized variant costs in accuracy and gains in size and speed.

Every variant runs on the same held-out samples as the FP32 model. Measured per variant:
accuracy (classification) or CER (CTC) in percent when targets are known, agreement with the FP32
model's predictions, the largest absolute difference of the logits, and a batch-1 median latency.
A variant whose metric is worse than FP32's by more than ``max_accuracy_drop`` points is rejected.

Needs numpy and onnxruntime only (no torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeseq.errors import InputError
from edgeseq.passes.calibration import SampleSet
from edgeseq.runtime.metadata import ModelMetadata

# The default: a variant may lose at most 1 point of accuracy (or gain 1 point of CER).
DEFAULT_MAX_ACCURACY_DROP = 1.0
# Batch-1 latency runs per variant: enough for a stable median on a 2-core machine without
# making `edgeseq optimize` slow (a 224x224 ResNet-18 variant takes ~10-30 ms per run).
DEFAULT_LATENCY_RUNS = 50
_LATENCY_WARMUP = 5  # the first runs pay allocation and kernel selection (docs/traps.md #16)
# Tiny models run in microseconds: time at least this long so the median is not one scheduler tick.
_LATENCY_MIN_TIME_S = 0.2
_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8}


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
    graph_level: str = "ORT_ENABLE_ALL",
    threads: int = 1,
    providers: Sequence[str] = ("CPUExecutionProvider",),
    spinning: bool = False,
):
    """An onnxruntime session with ``threads`` intra-op threads.

    Spinning is off by default (docs/traps.md #15: spinning threads burn the CPU that preprocessing
    and other processes need); onnxruntime's own default is on, which lowers the latency of models
    with many short kernels (INT8) on an otherwise idle machine.
    """
    import onnxruntime as ort

    from edgeseq.runtime.safety import GRAPH_LEVELS
    from edgeseq.runtime.session import CUDA, SessionConfig, requested_providers, session_options

    # the options a deployed Predictor gets (threads checked against the usable CPUs, log level, and
    # cuDNN's heuristic algorithm search on CUDA: an exhaustive search per new width, docs/traps.md #16)
    level = {ort_name: name for name, ort_name in GRAPH_LEVELS.items()}[graph_level]
    config = SessionConfig(threads=threads, graph_optimization=level, allow_spinning=spinning)
    so = session_options(config)
    cuda = requested_providers(SessionConfig(providers="cuda")) if CUDA in providers else []
    providers = [cuda[0] if p == CUDA else p for p in providers]
    return ort.InferenceSession(str(path), so, providers=list(providers))


def _logits_name(session: Any, metadata: ModelMetadata | None) -> str:
    names = [o.name for o in session.get_outputs()]
    wanted = metadata.outputs.logits if metadata is not None else None
    return wanted if wanted in names else names[0]


def run_logits(
    session: Any, samples: SampleSet, metadata: ModelMetadata | None, max_batch: int = 32
) -> list[np.ndarray]:
    """Run ``samples`` through ``session``; returns each sample's logits (float32, batch axis removed)."""
    inp = session.get_inputs()[0]
    dtype = _ORT_TYPES.get(inp.type, np.float32)
    name = _logits_name(session, metadata)
    out: list[np.ndarray] = []
    for batch in samples.batches(max_batch):
        (logits,) = session.run([name], {inp.name: batch.astype(dtype, copy=False)})
        out.extend(np.asarray(logits, dtype=np.float32))
    return out


def decode(logits: Sequence[np.ndarray], metadata: ModelMetadata | None) -> list[Any]:
    """Predictions: class index (classification) or greedy-decoded text (ctc)."""
    if metadata is not None and metadata.task == "ctc":
        from edgeseq.runtime.decode import ctc_greedy

        return [ctc_greedy(x, metadata.alphabet, metadata.blank_index)[0] for x in logits]
    return [int(np.argmax(x)) for x in logits]


def metric(predictions: Sequence[Any], targets: Sequence[Any], task: str) -> tuple[str, float]:
    """``("accuracy", percent)`` or ``("cer", percent)``."""
    from edgeseq.metrics import accuracy, cer

    if task == "ctc":
        return "cer", 100.0 * cer([str(p) for p in predictions], [str(t) for t in targets])
    return "accuracy", 100.0 * accuracy(np.asarray(predictions), np.asarray(targets))


def median_latency_ms(session: Any, sample: np.ndarray, runs: int = DEFAULT_LATENCY_RUNS) -> float:
    """Median batch-1 latency of ``session`` on ``sample`` (no batch axis) in milliseconds."""
    from edgeseq.bench.timing import time_callable

    inp = session.get_inputs()[0]
    feed = {inp.name: sample[None].astype(_ORT_TYPES.get(inp.type, np.float32), copy=False)}
    stats = time_callable(
        lambda: session.run(None, feed), min_time_s=_LATENCY_MIN_TIME_S, min_runs=runs, warmup_runs=_LATENCY_WARMUP
    )
    return stats.p50_ms


def interleaved_latency_ns(
    sessions: dict[str, Any],
    sample: np.ndarray,
    runs: int = DEFAULT_LATENCY_RUNS,
    rounds: int | None = None,
    seed: int = 0,
    pause_s: float = 0.0,
) -> dict[str, list[int]]:
    """Batch-1 run times (ns) of several sessions, measured side by side in interleaved rounds.

    Each round visits every session in a fresh random order and times a few calls of each, so
    drift of a shared machine (other jobs, clock frequency) spreads over all sessions alike
    instead of landing on whichever ran at the wrong moment; side-by-side ratios stay fair.

    Args:
        sessions: name -> onnxruntime session (all taking the same input).
        sample: one input without the batch axis.
        runs: timed calls per session in all (at least this many).
        rounds: how many rounds to split them into (default: about 4 calls per round).
        seed: seed of the visiting order.
        pause_s: sleep after each session's slice; give spinning sessions
            ``edgeseq.bench.interleave.SPIN_SETTLE_S`` so their threads go quiet before the next one runs.
    """
    import random
    import time

    feeds = {}
    for name, session in sessions.items():
        inp = session.get_inputs()[0]
        feeds[name] = {inp.name: sample[None].astype(_ORT_TYPES.get(inp.type, np.float32), copy=False)}
        for _ in range(_LATENCY_WARMUP):
            session.run(None, feeds[name])
    rounds = rounds or max(1, runs // 4)
    per_round = -(-runs // rounds)  # ceil
    order = list(sessions)
    rng = random.Random(seed)
    times: dict[str, list[int]] = {name: [] for name in sessions}
    clock = time.perf_counter_ns
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            session, feed = sessions[name], feeds[name]
            session.run(None, feed)  # untimed: wakes threads that slept while the others ran
            for _ in range(per_round):
                t0 = clock()
                session.run(None, feed)
                times[name].append(clock() - t0)
            if pause_s > 0:
                time.sleep(pause_s)
    return times


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
