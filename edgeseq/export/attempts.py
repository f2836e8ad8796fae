"""Trying the exporter strategies in order: each candidate graph is checked, and the first that passes is kept.

One attempt: export (:mod:`edgeseq.export.strategies`), embed the metadata, save into the staging
folder, check the structure (:mod:`edgeseq.export.verify`) and parity against the original module
(:func:`edgeseq.parity.check_parity`); with ``simplify``, the onnxslim result is checked again.
Every attempt is recorded (strategy, ok, seconds, error) for the manifest and the final error.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeseq.errors import ExportError, first_line
from edgeseq.export.loops import LoopRefused
from edgeseq.export.metadata import embed_metadata, export_metadata
from edgeseq.export.options import DYNAMO_MIN_OPSET, STRATEGIES, ExportOptions
from edgeseq.export.plan import ExportPlan
from edgeseq.export.quantized import TorchQuantization
from edgeseq.export.staging import save_model
from edgeseq.export.strategies import run_strategy
from edgeseq.export.verify import check_graph, check_structure
from edgeseq.parity import ParityReport, check_parity
from edgeseq.runtime.metadata import ModelMetadata


@dataclass
class ExportSubject:
    """What gets exported: the prepare phase's result."""

    model: Any  # the original module (or its dequantized copy): parity compares against it, proving each rewrite
    module: Any  # the rewritten copy, wrapped for in-graph preprocessing / probabilities
    example: Any  # what the exporters trace with (uint8 NHWC pixels with in-graph preprocessing)
    plan: ExportPlan
    rewrites: list[str]
    torch_quantization: TorchQuantization | None = None  # a PyTorch dynamic-quantized model, exported in float


@dataclass
class Attempt:
    """One strategy tried: whether its graph was accepted, how long it took, why not."""

    strategy: str
    ok: bool
    seconds: float
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        """``{"strategy", "ok", "seconds", "error"}`` as the manifest's ``exporter_attempts`` hold them."""
        return dataclasses.asdict(self)


@dataclass
class Verified:
    """A graph that passed the checks: its proto and its parity report (None when parity did not run)."""

    proto: Any
    parity: ParityReport | None


@dataclass
class Candidate:
    """The accepted graph, staged under the final file name in the staging folder."""

    strategy: str
    staged: Path
    proto: Any
    parity: ParityReport | None
    external: bool  # weights in ``<name>.data`` beside the model
    meta: ModelMetadata | None


@dataclass
class Selection:
    """The accepted candidate and every attempt up to it."""

    candidate: Candidate
    attempts: list[Attempt]


def try_strategies(
    subject: ExportSubject,
    metadata: ModelMetadata | None,
    options: ExportOptions,
    workdir: Path,
    final_name: str,
) -> Selection:
    """Try each strategy of ``options.exporter`` in order; return the first whose graph passes every check.

    Raises:
        ExportError: no strategy produced a verified graph; each one and why it failed are listed.
    """
    attempts: list[Attempt] = []
    for strategy in STRATEGIES[options.exporter]:
        t0 = time.perf_counter()
        if strategy.startswith("dynamo") and options.opset < DYNAMO_MIN_OPSET:
            skipped = f"skipped: needs opset >= {DYNAMO_MIN_OPSET}, got {options.opset}"
            attempts.append(Attempt(strategy, False, 0.0, skipped))
            continue
        meta = export_metadata(metadata, subject.model, options, subject.plan, strategy, subject.rewrites)
        try:
            candidate = attempt(strategy, subject, meta, options, workdir, final_name)
        except (KeyboardInterrupt, SystemExit, LoopRefused):
            raise  # a loop that tracing would bake: no other path exports it faithfully (edgeseq.export.loops)
        except Exception as exc:  # every exporter failure is reported, then the next path is tried
            # an ExportError is ours and complete; another library's error gets the line of its cause
            why = first_line(exc, 400, with_cause=not isinstance(exc, ExportError))
            attempts.append(
                Attempt(strategy, False, round(time.perf_counter() - t0, 3), f"{type(exc).__name__}: {why}")
            )
            continue
        attempts.append(Attempt(strategy, True, round(time.perf_counter() - t0, 3), None))
        return Selection(candidate, attempts)
    raise ExportError(
        "no exporter path produced a verified graph: " + "; ".join(f"{a.strategy}: {a.error}" for a in attempts)
    )


def attempt(
    strategy: str,
    subject: ExportSubject,
    meta: ModelMetadata | None,
    options: ExportOptions,
    workdir: Path,
    final_name: str,
) -> Candidate:
    """Export with one strategy into ``workdir`` and verify it (simplified first with ``options.simplify``).

    Raises:
        ExportError: a check failed; any exception of the exporter itself passes through.
    """
    plan = subject.plan
    proto = run_strategy(strategy, subject.module, subject.example, workdir / f"raw-{strategy}.onnx", plan)
    if meta is not None:
        embed_metadata(proto, meta)
    staged = workdir / final_name
    external = save_model(proto, staged)
    # with simplify, parity runs once, on the graph that is kept (structural checks run on both)
    verified = verify_candidate(staged, subject.model, plan, with_parity=options.verify and not options.simplify)
    if options.simplify:
        external, verified = _simplify(staged, workdir, subject.model, plan, with_parity=options.verify)
    return Candidate(strategy, staged, verified.proto, verified.parity, external, meta)


def _simplify(staged: Path, workdir: Path, model: Any, plan: ExportPlan, *, with_parity: bool) -> tuple[bool, Verified]:
    """Replace the staged graph by its onnxslim simplification and verify that; returns (external, verified)."""
    import onnx
    import onnxslim

    simplified = onnxslim.slim(onnx.load(str(staged)))
    for p in workdir.glob(f"{staged.name}*"):
        p.unlink()
    external = save_model(simplified, staged)
    try:
        return external, verify_candidate(staged, model, plan, with_parity=with_parity)
    except ExportError as exc:
        raise ExportError(f"the onnxslim-simplified graph failed verification: {exc}") from None


def verify_candidate(staged: Path, model: Any, plan: ExportPlan, *, with_parity: bool) -> Verified:
    """Checker and shape inference, structure, then (``with_parity``) parity against ``model``.

    Raises:
        ExportError: the first check that failed (parity: its first three failures).
    """
    proto = check_graph(staged)
    check_structure(proto, plan)
    report = None
    if with_parity:
        report = check_parity(model, staged, base_size=plan.base_size)
        if not report.passed:
            more = f" (and {len(report.failures) - 3} more)" if len(report.failures) > 3 else ""
            raise ExportError("parity check failed: " + "; ".join(report.failures[:3]) + more)
    return Verified(proto, report)
