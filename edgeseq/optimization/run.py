""":func:`optimize`: build, check and gate the configured variants of a model, then report and recommend.

The run is a few named phases, each with a typed result:

1. :func:`prepare` — read the model, pick the INT8 settings, threads and providers, and the samples
   (:class:`Prepared`).
2. :func:`process_variant`, per variant in build order — build the file with its registered builder
   (:mod:`edgeseq.optimization.variants`), restore the metadata, open it in a child process
   (:mod:`edgeseq.optimization.sandbox`), score it beside FP32 and gate it
   (:mod:`edgeseq.optimization.measure`). A variant that fails becomes a rejected row; FP32 failing is an error.
3. Side-by-side latency of every measured variant (:mod:`edgeseq.bench.sidebyside`).
4. :func:`finish` — the recommendation, the :class:`~edgeseq.optimization.report.OptimizeResult`, the
   reports and one manifest per variant.

Variants are built, checked and measured in a work folder inside the output folder
(:func:`edgeseq.fileio.work_folder`) and only moved into place by :func:`publish_variant` at the end,
each with its manifest and external data: a variant and its manifest change together (a kill in
between leaves the new model without a manifest, never beside the old one's sha256), and a failed or
interrupted run leaves the previous variants as they were.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime as ort

from edgeseq.cpu import CpuFacts, read_cpu_facts, usable_cpus, usable_physical_cores
from edgeseq.errors import ConfigError, EdgeseqError, InputError, ModelFileError, first_line
from edgeseq.fileio import ensure_writable_dir, sha256_file, work_folder, write_json_atomic, write_text_atomic
from edgeseq.graphs import float_compute_ops, load_graph, op_histogram
from edgeseq.optimization.config import OptimizeConfig
from edgeseq.optimization.gate import Outputs, Score
from edgeseq.optimization.int8 import Int8Choice, Int8Settings, resolve_int8
from edgeseq.optimization.manifests import copy_metadata, write_variant_manifest
from edgeseq.optimization.measure import Measurement, apply_gate, measure_variant, time_side_by_side
from edgeseq.optimization.report import REPORT_JSON, REPORT_MD, OptimizeResult, VariantResult, recommend
from edgeseq.optimization.samples import SampleSet, random_samples, take
from edgeseq.optimization.sandbox import SessionChecker, check_session, check_with_fallback
from edgeseq.optimization.variants import BuildContext, VariantBuilder, builder, variant_names
from edgeseq.runtime.limits import check_model_memory
from edgeseq.runtime.metadata import ModelMetadata, metadata_of
from edgeseq.runtime.options import CPU, CUDA, GraphLevel

# Samples used to measure the gate when no labelled data is given at all: random inputs, agreement only.
RANDOM_EVAL_SAMPLES = 16


@dataclass
class Prepared:
    """Phase 1's result: the model, where the variants go, and how they are built and measured."""

    model: Path
    out: Path
    metadata: ModelMetadata | None
    src_props: dict[str, str]  # the source's metadata_props, restored into every variant
    input_name: str
    source_sha: str
    cpu: CpuFacts
    int8: Int8Choice
    threads: int
    providers: list[str]
    session_level: GraphLevel
    calibration: SampleSet | None
    evaluation: SampleSet
    notes: list[str] = field(default_factory=list)
    staged: Path | None = None  # where variants are built before they are published into ``out``


@dataclass
class Measured:
    """Phase 2's result: one row per variant, the FP32 reference, and the open sessions to time."""

    rows: list[VariantResult] = field(default_factory=list)
    reference: tuple[Score, Outputs] | None = None
    sessions: dict[str, Any] = field(default_factory=dict)


def optimize(
    model: str | Path,
    out_dir: str | Path,
    config: OptimizeConfig | None = None,
    *,
    calibration: SampleSet | None = None,
    evaluation: SampleSet | None = None,
    session_checker: SessionChecker = check_session,
    cpu: CpuFacts | None = None,
) -> OptimizeResult:
    """Build, check and gate the configured variants of ``model`` into ``out_dir``.

    Args:
        model: an ONNX model (ideally from ``edgeseq export``, whose metadata gives the task and labels).
        out_dir: folder for ``<variant>.onnx`` (or ``ort.ort``), ``<variant>.json`` manifests and the reports.
        config: the options (defaults: :class:`OptimizeConfig`).
        calibration: preprocessed samples for static quantization (``edgeseq.optimization.samples``).
        evaluation: held-out samples for the gate; without targets only agreement is measured.
            ``None``: random inputs (agreement and max difference only).
        session_checker: opens a variant in a child process (see ``edgeseq.optimization.sandbox.check_session``).
        cpu: the CPU to choose INT8 settings for (default: this machine's).

    Returns:
        An :class:`OptimizeResult`; it is also written to ``out_dir/optimize_report.json`` and ``.md``.

    Raises:
        ModelFileError: ``model`` is missing or not an ONNX model, or FP32 itself cannot be run.
        ConfigError / InputError: bad options or samples.
    """
    config = config or OptimizeConfig()
    prep = prepare(model, out_dir, config, calibration, evaluation, cpu)
    measured = Measured()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edgeseq-optimize-")))
        prep.staged = stack.enter_context(work_folder(prep.out / "variants", ".optimize"))
        ctx = BuildContext(prep.model, work, prep.int8, prep.calibration, prep.input_name)
        for name in config.ordered_variants():
            process_variant(name, prep, ctx, config, session_checker, measured)
        if config.latency_runs and measured.sessions:
            time_side_by_side(measured.rows, measured.sessions, prep.evaluation, config.latency_runs, config.seed)
        measured.sessions.clear()
        return finish(prep, measured.rows, config)


def _read_model(model: Path) -> Any:
    """The ONNX model proto without external data.

    Raises:
        ModelFileError: missing, or not ONNX.
    """
    import onnx

    if not model.is_file():
        raise ModelFileError(f"model {str(model)!r} not found; expected an .onnx file")
    try:
        return onnx.load(str(model), load_external_data=False)
    except Exception as exc:
        raise ModelFileError(f"cannot read {str(model)!r} as ONNX: {exc}") from None


def _output_folder(out_dir: str | Path, model: Path) -> Path:
    """The output folder, created; refused when a variant would overwrite the input model."""
    out = ensure_writable_dir(out_dir)
    if out.resolve() == model.resolve().parent and model.name in {f"{v}.onnx" for v in variant_names()}:
        raise InputError(f"output folder {str(out)!r} would overwrite the input {model.name}; choose another -o")
    return out


def _threads(config: OptimizeConfig) -> int:
    """Intra-op threads for measuring: ``optimize.threads`` or the physical cores (docs/traps.md #15)."""
    threads = config.threads or usable_physical_cores()
    if threads > usable_cpus():
        raise ConfigError(
            f"optimize.threads: got {threads}; expected at most {usable_cpus()}, the CPUs this process may use"
        )
    return threads


def _providers(target: str) -> tuple[list[str], list[str]]:
    """The providers variants are measured with, and a note when the target's device is missing."""
    if target == "cuda":
        if CUDA in ort.get_available_providers():
            return [CUDA, CPU], []
        return [CPU], [
            "target is cuda but CUDAExecutionProvider is not available: every variant was measured on CPU, "
            "so FP16 latency here says nothing about the GPU"
        ]
    return [CPU], []


def _samples(
    proto: Any,
    metadata: ModelMetadata | None,
    config: OptimizeConfig,
    calibration: SampleSet | None,
    evaluation: SampleSet | None,
    notes: list[str],
) -> tuple[SampleSet | None, SampleSet]:
    """The samples capped at the configured counts; random evaluation inputs when none are given."""
    if evaluation is None:
        evaluation = random_samples(proto, RANDOM_EVAL_SAMPLES, config.seed, metadata)
        notes.append("no evaluation samples given: random inputs, agreement and max difference only")
    if len(evaluation) > config.max_eval_samples:
        evaluation = take(evaluation, config.max_eval_samples, config.seed)
    if metadata is None:
        notes.append("the model has no edgeseq metadata: treated as classification (argmax of the first output)")
    if calibration is not None and len(calibration) > config.calibration_samples:
        calibration = take(calibration, config.calibration_samples, config.seed)
    return calibration, evaluation


def prepare(
    model: str | Path,
    out_dir: str | Path,
    config: OptimizeConfig,
    calibration: SampleSet | None,
    evaluation: SampleSet | None,
    cpu: CpuFacts | None,
) -> Prepared:
    """Phase 1: read and check everything the variants need, before any variant is built.

    Raises:
        ModelFileError: the model is missing or not ONNX.
        ResourceLimitError: running the model once at its declared size needs more memory than the limit.
        ConfigError: bad INT8 settings or more threads than usable CPUs.
        InputError: the output folder would overwrite the input.
    """
    model = Path(model)
    proto = _read_model(model)
    check_model_memory(model)  # every variant runs this graph's sizes; a bomb is refused before any is built
    out = _output_folder(out_dir, model)
    metadata = metadata_of(proto)
    cpu = cpu or read_cpu_facts()
    int8 = resolve_int8(config.settings(Int8Settings), config.target, cpu)
    threads = _threads(config)
    providers, notes = _providers(config.target)
    calibration, evaluation = _samples(proto, metadata, config, calibration, evaluation, notes)
    return Prepared(
        model=model,
        out=out,
        metadata=metadata,
        src_props={p.key: p.value for p in proto.metadata_props},
        input_name=proto.graph.input[0].name,
        source_sha=sha256_file(model),
        cpu=cpu,
        int8=int8,
        threads=threads,
        providers=providers,
        session_level=GraphLevel(config.session_graph_level),
        calibration=calibration,
        evaluation=evaluation,
        notes=notes,
    )


def build_variant(
    row: VariantResult, variant: VariantBuilder[Any], settings: Any, ctx: BuildContext, dst: Path
) -> bool:
    """Run the variant's builder; a failure becomes the row's reason (fatal only for fp32).

    Raises:
        EdgeseqError / ModelFileError: fp32 (the input model, copied) could not be written.
    """
    started = time.perf_counter()
    try:
        row.settings = variant.build(ctx, settings, dst)
    except EdgeseqError as exc:
        if row.name == "fp32":
            raise
        row.reason = f"not built: {exc}"
        return False
    except Exception as exc:  # onnxruntime's tools raise plain exceptions on graphs they cannot handle
        if row.name == "fp32":
            raise ModelFileError(f"cannot copy the input model: {exc}") from None
        row.reason = f"not built: {first_line(exc, 200, with_type=True)}"
        return False
    finally:
        row.build_s = time.perf_counter() - started
    row.path = str(dst)
    row.size_bytes = dst.stat().st_size
    if row.settings.get("conv_weights_shifted"):
        row.notes.append(
            "Conv weights at zero point -1 (conv_kernel gemm): tuned for onnxruntime on AMX CPUs like this one; "
            'use conv_kernel = "symmetric" for other CPUs or OpenVINO'
        )
    return True


def describe_variant(row: VariantResult, dst: Path, src_props: dict[str, str]) -> None:
    """Restore the edgeseq metadata, then record the op histogram and the compute ops left in float."""
    copy_metadata(src_props, dst, {"name": row.name, "precision": row.precision})
    row.size_bytes = dst.stat().st_size
    graph = load_graph(dst)
    row.op_histogram = op_histogram(graph)
    if row.precision == "int8":
        row.ops_left_float = float_compute_ops(graph)


def _sandbox(row: VariantResult, dst: Path, prep: Prepared, config: OptimizeConfig, checker: SessionChecker) -> bool:
    """Open the variant in a child process first; a crash or failure becomes the row's reason."""
    shape = [1, *prep.evaluation.inputs[0].shape]
    outcome = check_with_fallback(
        checker, dst, GraphLevel(row.session_graph_level), prep.providers, shape, config.session_check_timeout_s
    )
    if outcome.note:
        row.notes.append(outcome.note)
        row.session_graph_level = outcome.level.value
    if not outcome.check.ok:
        row.reason = outcome.check.reason
    return outcome.check.ok


def process_variant(
    name: str,
    prep: Prepared,
    ctx: BuildContext,
    config: OptimizeConfig,
    checker: SessionChecker,
    measured: Measured,
) -> None:
    """Phase 2 for one variant: build, describe, sandbox, measure and gate; appends its row to ``measured``.

    Raises:
        ModelFileError: the FP32 reference cannot be built or run.
    """
    variant = builder(name)
    settings = config.settings_for(name)
    row = VariantResult(
        name=name, precision=variant.row_precision(settings), session_graph_level=prep.session_level.value
    )
    measured.rows.append(row)
    dst = (prep.staged or prep.out) / variant.filename()
    if not build_variant(row, variant, settings, ctx, dst):
        return
    if dst.suffix == ".onnx":
        describe_variant(row, dst, prep.src_props)
    if not _sandbox(row, dst, prep, config, checker):
        if name == "fp32":
            raise ModelFileError(f"the input model cannot be run by onnxruntime: {row.reason}")
        return
    reference = measured.reference[1] if measured.reference else None
    result: Measurement | None = measure_variant(
        row,
        dst,
        prep.evaluation,
        prep.metadata,
        reference,
        threads=prep.threads,
        providers=prep.providers,
        eval_batch=config.eval_batch,
    )
    if result is None:
        return
    measured.sessions[name] = result.session
    if measured.reference is None:  # fp32 comes first and becomes the reference
        measured.reference = (result.score, result.outputs)
        row.status = "reference"
    else:
        apply_gate(row, measured.reference[0], config.max_accuracy_drop, config.min_agreement)
    if row.usable:
        ctx.built[name] = dst


def publish_variant(staged: Path, out: Path) -> Path:
    """Move a variant built in the work folder into ``out`` with its manifest and side files; returns its path.

    Order: the old manifest goes first, then the side files (external data, the ORT format's operator
    config), then the model, then its new manifest. At no moment does a manifest describe another
    file than the model beside it. Renames within one file system.
    """
    final = out / staged.name
    manifest = staged.with_suffix(".json")
    sidecars = sorted(
        p for p in staged.parent.iterdir() if p.name.startswith(f"{staged.stem}.") and p not in (staged, manifest)
    )
    (out / manifest.name).unlink(missing_ok=True)
    for path in sidecars:
        os.replace(path, out / path.name)
    os.replace(staged, final)
    if manifest.is_file():
        os.replace(manifest, out / manifest.name)
    return final


def _environment(threads: int) -> dict[str, Any]:
    return {
        "onnxruntime": ort.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "threads": threads,
        "cpu_count": os.cpu_count(),
    }


def finish(prep: Prepared, rows: list[VariantResult], config: OptimizeConfig) -> OptimizeResult:
    """Phase 4: recommend a variant, then write the reports and one manifest per built variant."""
    recommended, why = recommend(rows, config.target, measured_on_cuda=CUDA in prep.providers)
    calibration = prep.calibration
    result = OptimizeResult(
        model=str(prep.model),
        out_dir=str(prep.out),
        target=config.target,
        variants=rows,
        recommended=recommended,
        recommendation_reason=why,
        config=config.to_json(),
        cpu=prep.cpu.to_json(),
        int8=prep.int8.to_json(),
        calibration=calibration.source if calibration is not None else "none",
        evaluation=f"{prep.evaluation.source} ({len(prep.evaluation)} samples)",
        providers=prep.providers,
        environment=_environment(prep.threads),
        notes=prep.notes,
    )
    for row in rows:
        if row.path:
            write_variant_manifest(row, prep.model, prep.source_sha, prep.cpu)
            row.path = str(publish_variant(Path(row.path), prep.out))
    write_json_atomic(prep.out / REPORT_JSON, result.to_json())
    write_text_atomic(prep.out / REPORT_MD, result.table() + "\n")
    return result
