"""The parity check itself: :func:`check_parity` and the checkpoint-driven :func:`validate_onnx`/:func:`validate_and_record`.

check_parity runs in named phases: check the arguments, open the session, read what the file says
about its input and outputs, build the cases (:mod:`edgeseq.parity.cases`), run each through torch
and ONNX Runtime and compare (:mod:`edgeseq.parity.compare`), then assemble the report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeseq.checkpoint import load_checkpoint, model_from_checkpoint
from edgeseq.errors import InputError, ModelFileError, first_line
from edgeseq.fileio import sha256_file, write_json_atomic
from edgeseq.graphs import load_graph
from edgeseq.manifest import manifest_path, update_manifest
from edgeseq.parity.cases import (
    DEFAULT_BATCH_SIZES,
    SIZE_CASE_BATCH,
    GraphInput,
    ParityCase,
    as_batches,
    base_shape,
    build_cases,
    checkpoint_samples,
    graph_input,
)
from edgeseq.parity.compare import compare_output
from edgeseq.parity.report import ParityReport, ParityRow, ParityTolerances
from edgeseq.runtime.limits import MemoryPlanner, check_model_memory
from edgeseq.runtime.metadata import ModelMetadata, metadata_of
from edgeseq.runtime.modelfile.graph_reader import read_graph
from edgeseq.runtime.preprocess import normalize


@dataclass
class _Subject:
    """What the ONNX file says about the model under test: read once, used by every later phase."""

    session: Any  # onnxruntime.InferenceSession
    graph_in: GraphInput
    meta: ModelMetadata | None
    spec: dict[str, Any]  # preprocessing spec from the metadata ({} without)
    ctc: bool
    output_names: list[str]
    probabilities_name: str  # the softmax output an export with probabilities=True adds


def check_parity(
    model: Any,
    onnx_path: str | Path,
    inputs: Any = None,
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    sizes: Sequence[int] | None = None,
    samples: Any = None,
    tolerances: ParityTolerances | None = None,
    seed: int = 0,
    base_size: tuple[int, int] | None = None,
) -> ParityReport:
    """Compare a PyTorch module with its ONNX export on ONNX Runtime (CPU).

    Args:
        model: the ``torch.nn.Module`` that was exported (the original, not a rewritten copy).
        onnx_path: the ONNX file.
        inputs: optional extra inputs, NCHW float (a tensor/array, a batch, or a list of them).
        batch_sizes: batch sizes of the random-input cases at the base size.
        sizes: sizes of the dynamic image axis to test (default: the smallest legal size, one between it
            and the base, one above the base; never the base itself).
        samples: real samples, for example dataset items ``(image (C, H, W), target)``, NCHW float as
            the model takes them (converted to pixels for models with preprocessing in the graph).
        tolerances: thresholds (default: the named constants of :mod:`edgeseq.parity.report`).
        seed: seed of the random inputs.
        base_size: the export example's (height, width); default from the ONNX metadata, the model's
            ``input_size``, the first ``inputs`` array, the graph's fixed dims, or the manifest's
            ``example_input_shape``.

    Returns:
        A :class:`ParityReport`; ``passed`` is False when any check failed (nothing is raised for that).

    Raises:
        InputError: the model's input cannot be determined or the inputs have the wrong shape.
        ModelFileError: ONNX Runtime cannot load the file.
    """
    started = time.perf_counter()
    tol = tolerances or ParityTolerances()
    onnx_path = Path(onnx_path)
    _check_arguments(onnx_path, batch_sizes, sizes)
    check_model_memory(onnx_path)  # before ONNX Runtime allocates anything
    subject = _describe(_open_session(onnx_path), onnx_path, model)
    extra_inputs = as_batches(inputs, "inputs")
    real_samples = as_batches(samples, "samples")
    base = base_shape(model, subject.graph_in, subject.spec, extra_inputs, base_size, onnx_path)
    _check_case_memory(onnx_path, subject.graph_in, base, batch_sizes, sizes)
    case_set = build_cases(
        model,
        subject.graph_in,
        base,
        subject.spec,
        batch_sizes=batch_sizes,
        sizes=sizes,
        extra_inputs=extra_inputs,
        real_samples=real_samples,
        seed=seed,
    )
    failures = _output_name_failures(subject)
    rows = _run_cases(model, subject, case_set.cases, tol)
    failures += [problem for row in rows for problem in row.problems]
    graph_in = subject.graph_in
    return ParityReport(
        onnx_path=str(onnx_path),
        passed=not failures,
        rows=rows,
        failures=failures,
        tolerances=tol,
        input_name=graph_in.name,
        input_layout="NHWC-uint8" if graph_in.uint8_nhwc else "NCHW-float32",
        dynamic_axes={str(k): v for k, v in sorted(graph_in.dynamic.items())},
        sizes=case_set.sizes,
        seconds=time.perf_counter() - started,
    )


def _check_case_memory(
    onnx_path: Path,
    graph_in: GraphInput,
    base: tuple[int, int, int],
    batch_sizes: Sequence[int],
    sizes: Sequence[int] | None,
) -> None:
    """Refuse batch sizes and sizes whose inputs need more memory than the limit, before any is made.

    The ONNX graph's estimate stands for both runtimes: PyTorch runs the same layers on the same input.

    Raises:
        ResourceLimitError: naming ``batch_sizes`` or ``sizes`` and the value.
    """
    graph = read_graph(onnx_path)
    if graph is None:
        return
    planner = MemoryPlanner(graph)
    channels, height, width = base

    def shape(n: int, h: int, w: int) -> tuple[int, ...]:
        n = n if 0 in graph_in.dynamic else graph_in.static.get(0, n)
        return (n, h, w, channels) if graph_in.uint8_nhwc else (n, channels, h, w)

    checks = [("batch_sizes", b, shape(b, height, width)) for b in batch_sizes]
    for axis in (2, 3):
        if axis in graph_in.dynamic:
            for s in sizes or ():
                hw = (s, width) if axis == 2 else (height, s)
                checks.append(("sizes", s, shape(SIZE_CASE_BATCH, *hw)))
    for key, value, feed in checks:
        planner.check({graph_in.name: feed}, f"{key} {value} (model {str(onnx_path)!r} on input {feed})")


def _check_arguments(onnx_path: Path, batch_sizes: Sequence[int], sizes: Sequence[int] | None) -> None:
    if not onnx_path.is_file():
        raise InputError(f"ONNX model {str(onnx_path)!r} not found")
    if any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in batch_sizes):
        raise InputError(f"batch_sizes: got {list(batch_sizes)!r}; expected positive integers")
    if sizes is not None and any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        raise InputError(f"sizes: got {list(sizes)!r}; expected positive integers")


def _open_session(onnx_path: Path) -> Any:
    """An ONNX Runtime CPU session on ``onnx_path``; its load failure as a ModelFileError."""
    # migrates to edgeseq.runtime.session.open_session
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # shape-mismatch warnings would duplicate our own report
    try:
        return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelFileError(f"onnxruntime cannot load {str(onnx_path)!r}: {first_line(exc)}") from None


def _read_metadata(onnx_path: Path) -> ModelMetadata | None:
    """The edgeseq metadata embedded in an ONNX file, or None for a file without it."""
    try:
        model = load_graph(onnx_path)
    except Exception as exc:  # protobuf decode errors have no common base class
        raise ModelFileError(f"cannot read ONNX model {str(onnx_path)!r}: {first_line(exc, 200)}") from None
    return metadata_of(model)


def _describe(session: Any, onnx_path: Path, model: Any) -> _Subject:
    """Read the graph's input, metadata and output names.

    Raises:
        InputError: the graph takes uint8 pixels but has no preprocessing spec to make torch's input from them.
    """
    meta = _read_metadata(onnx_path)
    graph_in = graph_input(session)
    spec = dict(meta.preprocess) if meta is not None else {}
    if graph_in.uint8_nhwc and not spec:
        raise InputError(
            f"{str(onnx_path)!r} takes uint8 pixels but has no edgeseq preprocessing metadata to normalise them for torch"
        )
    ctc = (meta is not None and meta.task == "ctc") or getattr(model, "task", None) == "ctc"
    probabilities = meta.outputs.probabilities if meta is not None and meta.outputs.probabilities else "probabilities"
    names = [o.name for o in session.get_outputs()]
    return _Subject(session, graph_in, meta, spec, ctc, names, probabilities)


def _output_name_failures(subject: _Subject) -> list[str]:
    """The graph's output names against those its metadata declares."""
    meta = subject.meta
    if meta is None:
        return []
    expected = [meta.outputs.logits] + ([meta.outputs.probabilities] if meta.outputs.probabilities else [])
    if subject.output_names != expected:
        return [f"output names: got {subject.output_names} from the ONNX model; metadata declares {expected}"]
    return []


def _run_cases(model: Any, subject: _Subject, cases: list[ParityCase], tol: ParityTolerances) -> list[ParityRow]:
    """Run every case through torch (in eval mode, restored after) and ONNX Runtime; one row per output."""
    rows: list[ParityRow] = []
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        for case in cases:
            rows.extend(_run_case(model, subject, case, tol))
    finally:
        model.train(was_training)
    return rows


def _run_case(model: Any, subject: _Subject, case: ParityCase, tol: ParityTolerances) -> list[ParityRow]:
    """Rows of one case: one per output, or one ``*`` row saying why the case could not be compared."""
    import torch

    feed = case.feed
    torch_in = normalize(feed, subject.spec) if subject.graph_in.uint8_nhwc else feed
    shape_nchw = list(torch_in.shape)

    def failed(problem: str) -> list[ParityRow]:
        problem = f"{case.kind} input {shape_nchw}: {problem}"
        return [ParityRow(case.kind, "*", shape_nchw, problems=[problem])]

    try:
        with torch.inference_mode():
            out = model(torch.from_numpy(np.ascontiguousarray(torch_in)))
    except Exception as exc:  # the module itself refuses this input: report it like any failure
        return failed(f"torch failed: {first_line(exc)}")
    refs = [o.detach().float().numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]
    names = subject.output_names
    # an export with probabilities=True has a softmax output the torch module does not return
    if len(names) == len(refs) + 1 and names[-1] == subject.probabilities_name:
        refs.append(torch.softmax(torch.from_numpy(refs[0]), dim=-1).numpy())
    try:
        gots = subject.session.run(None, {subject.graph_in.name: feed})
    except Exception as exc:  # onnxruntime's own error types; report and go on
        return failed(f"onnxruntime failed: {first_line(exc)}")
    if len(gots) != len(refs):
        return failed(f"{len(gots)} ONNX outputs, {len(refs)} torch outputs")
    rows = []
    for name, ref, got in zip(names, refs, gots, strict=True):
        figures, problems = compare_output(name, ref, got, tol, ctc=subject.ctc)
        problems = [f"{case.kind} input {shape_nchw}: {p}" for p in problems]
        rows.append(ParityRow(case.kind, name, shape_nchw, **figures, passed=not problems, problems=problems))
    return rows


def validate_onnx(
    onnx_path: str | Path, checkpoint: Any, *, samples: int = 16, model: Any = None, **kwargs: Any
) -> tuple[ParityReport, dict[str, Any]]:
    """Parity of an ONNX model against the checkpoint it came from, on random inputs and real samples.

    Args:
        onnx_path: the ``.onnx`` file.
        checkpoint: a checkpoint path, run folder or loaded checkpoint dict.
        samples: how many real test-split samples to include (0: random inputs only).
        model: the module to compare with instead of the checkpoint's own (e.g. the dequantized copy of
            its PyTorch-quantized model); the checkpoint still gives the samples.
        **kwargs: passed to :func:`check_parity` (batch_sizes, sizes, tolerances, ...).

    Returns:
        (the report, ``{"checkpoint": path, "samples": n, "samples_note": why none or None}``)
    """
    built, ckpt = model_from_checkpoint(checkpoint)
    items, why_not = checkpoint_samples(ckpt, samples)
    report = check_parity(built if model is None else model, onnx_path, samples=items or None, **kwargs)
    return report, {"checkpoint": ckpt.get("path"), "samples": len(items), "samples_note": why_not}


def validate_and_record(
    onnx_path: str | Path,
    checkpoint: Any,
    *,
    report_path: str | Path | None = None,
    samples: int = 16,
    model: Any = None,
    **kwargs: Any,
) -> tuple[ParityReport, dict[str, Any], Path]:
    """Validate an exported model against its checkpoint and record the result.

    Writes the JSON report (default ``<model>.parity.json``) and, when the model has a manifest, its
    ``parity`` summary. ``edgeseq validate`` and ``edgeseq pipeline`` both call this, so the report
    and the manifest look the same whichever ran.

    Args:
        onnx_path, checkpoint, samples, **kwargs: as :func:`validate_onnx`.
        report_path: the JSON report (default ``<model>.parity.json``).
        model: as :func:`validate_onnx` (default: the checkpoint's model).

    Returns:
        (the report, the JSON written, the report's path). ``data["notes"]`` lists what the caller
        should tell the user (a model exported from another checkpoint, no real samples).
    """
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    ckpt_sha = sha256_file(ckpt["path"])
    meta = _read_metadata(Path(onnx_path))
    source_sha = getattr(meta, "source_sha256", "") if meta is not None else ""
    notes = []
    if source_sha and source_sha != ckpt_sha:
        notes.append(
            f"{onnx_path} was exported from a different checkpoint "
            f"(sha256 {source_sha[:12]}..., this one {ckpt_sha[:12]}...)"
        )
    report, info = validate_onnx(onnx_path, ckpt, samples=samples, model=model, **kwargs)
    if info["samples_note"] and samples > 0:
        notes.append(f"no real samples ({info['samples_note']}); random inputs only")
    data = report.to_json()
    data["checkpoint"] = {"path": ckpt.get("path"), "sha256": ckpt_sha, "is_source": source_sha == ckpt_sha}
    data["samples"] = info["samples"]
    data["notes"] = notes
    path = Path(report_path) if report_path else Path(onnx_path).with_suffix(".parity.json")
    write_json_atomic(path, json.loads(json.dumps(data, default=str)))
    if manifest_path(onnx_path).is_file():
        summary = {k: data[k] for k in ("passed", "worst", "tolerances", "sizes", "cases", "checkpoint", "samples")}
        update_manifest(onnx_path, parity=summary)
    return report, data, path
