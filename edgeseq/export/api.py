""":func:`export_onnx` and :func:`export_checkpoint`: one verified ONNX graph plus its manifest.

export_onnx runs in named phases, each with a typed result: check the request, prepare the module
(rewrites, wrappers, the plan: :class:`~edgeseq.export.attempts.ExportSubject`), try the strategies
in a staging folder (:class:`~edgeseq.export.attempts.Selection`), move the accepted graph into
place, and record the manifest (:class:`~edgeseq.export.options.ExportResult`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from edgeseq.checkpoint import model_from_checkpoint
from edgeseq.errors import ConfigError
from edgeseq.export.attempts import ExportSubject, Selection, try_strategies
from edgeseq.export.loop_detect import plan_cell_loops
from edgeseq.export.metadata import checkpoint_metadata, preprocess_spec
from edgeseq.export.options import ExportOptions, ExportResult, parity_summary
from edgeseq.export.plan import add_cell_loops, image_axes, make_plan
from edgeseq.export.quantized import float_reference
from edgeseq.export.rewrites import InGraphPreprocess, WithProbabilities, rewrite_for_export
from edgeseq.export.staging import promote, staging_dir
from edgeseq.fileio import ensure_writable_dir
from edgeseq.graphs import io_specs, rnn_node_counts
from edgeseq.manifest import write_manifest
from edgeseq.runtime.metadata import ModelMetadata


def export_onnx(
    model: Any,
    example_input: Any,
    path: str | Path,
    options: ExportOptions | None = None,
    metadata: Any = None,
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
    *,
    manifest_extra: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Export a module mapping an image batch (NCHW float32) to outputs as one verified ONNX graph.

    Args:
        model: any ``torch.nn.Module``; edgeseq models declare their dynamic axes themselves.
        example_input: an NCHW float32 tensor of a legal size (its values do not matter).
        path: destination ``.onnx`` file; the manifest goes beside it (``.json``).
        options: :class:`ExportOptions` (default: opset 18, auto exporter, verified).
        metadata: a :class:`~edgeseq.runtime.metadata.ModelMetadata` to embed (labels, preprocessing,
            ...); its input/outputs/exporter fields are filled in here.
        dynamic_axes: for modules that do not declare them: ``{"images": {0: "batch", 3: "width"}}``
            (NCHW axes), optionally with entries for outputs (``"logits"``); output axes are otherwise
            found by running the module at a second size.
        manifest_extra: more fields for the manifest (for example the source checkpoint).

    Returns:
        An :class:`ExportResult`.

    Raises:
        ConfigError: invalid options or dynamic axes.
        ExportError: no exporter path produced a graph that passed every check (each path and its
            failure are listed).
    """
    started = time.perf_counter()
    options = options or ExportOptions()
    path = _check_request(model, example_input, path, options, metadata)
    was_training = model.training
    model.eval()
    example = example_input.detach().to(torch.float32).cpu()
    try:
        subject = _prepare(model, example, options, metadata, dynamic_axes)
        with staging_dir(path) as workdir:
            selection = try_strategies(subject, metadata, options, workdir, path.name)
            promote(selection.candidate.staged, path, external=selection.candidate.external)
    finally:
        model.train(was_training)
    seconds = time.perf_counter() - started
    return _record(path, subject, selection, options, example, seconds, manifest_extra)


def _check_request(model: Any, example_input: Any, path: str | Path, options: Any, metadata: Any) -> Path:
    """Check the arguments' types and the destination; returns the destination as a Path.

    Raises:
        ConfigError: naming the argument that is wrong.
    """
    if not isinstance(options, ExportOptions):
        raise ConfigError(f"options: got {type(options).__name__}; expected ExportOptions")
    if metadata is not None and not isinstance(metadata, ModelMetadata):
        raise ConfigError(f"metadata: got {type(metadata).__name__}; expected edgeseq.runtime.metadata.ModelMetadata")
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(f"model: got {type(model).__name__}; expected a torch.nn.Module")
    if not isinstance(example_input, torch.Tensor) or example_input.dim() != 4:
        raise ConfigError(
            f"example_input: got {getattr(example_input, 'shape', type(example_input).__name__)}; "
            "expected an NCHW float32 tensor"
        )
    path = Path(path)
    if path.suffix != ".onnx":
        raise ConfigError(f"output path {str(path)!r}: expected a file name ending in .onnx")
    ensure_writable_dir(path.parent if str(path.parent) else Path("."))
    return path


def _prepare(
    model: Any,
    example: Any,
    options: ExportOptions,
    metadata: ModelMetadata | None,
    dynamic_axes: Mapping[str, Any] | None,
) -> ExportSubject:
    """Rewrite a copy of the model, plan the axes, and wrap the copy as the options ask.

    Raises:
        ConfigError: preprocessing in the graph without a preprocessing spec, or an invalid plan.
    """
    model, quantization, dequantized = float_reference(model)  # a PyTorch dynamic-int8 model: its float copy
    module, rewrites = rewrite_for_export(model)
    module.eval()
    plan = make_plan(model, example, options, dynamic_axes)
    loops = plan_cell_loops(model, example, image_axes(plan, options.preprocess_in_graph), options.require_native_rnn)
    add_cell_loops(plan, loops)
    spec = preprocess_spec(metadata, model)
    export_example = example
    if options.preprocess_in_graph:
        if not spec:
            raise ConfigError(
                "export.preprocess_in_graph: the model has no preprocessing spec; pass metadata with preprocess"
            )
        module = InGraphPreprocess(module, spec).eval()
        b, c, h, w = example.shape
        export_example = torch.randint(0, 256, (b, h, w, c), dtype=torch.uint8)
    if options.probabilities:
        module = WithProbabilities(module).eval()
    return ExportSubject(model, module, export_example, plan, dequantized + rewrites, quantization)


def _record(
    path: Path,
    subject: ExportSubject,
    selection: Selection,
    options: ExportOptions,
    example: Any,
    seconds: float,
    manifest_extra: Mapping[str, Any] | None,
) -> ExportResult:
    """Write the manifest beside the model and describe the export."""
    chosen, plan = selection.candidate, subject.plan
    attempts = [a.to_dict() for a in selection.attempts]
    dyn = {name: {str(a): n for a, n in sorted(ax.items())} for name, ax in plan.axes.items() if ax}
    manifest = write_manifest(
        path,
        exporter=chosen.strategy,
        exporter_attempts=attempts,
        export_seconds=round(seconds, 3),
        exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        torch_version=torch.__version__,
        export_options=options.to_dict(),
        example_input_shape=[int(d) for d in example.shape],  # NCHW, before in-graph preprocessing
        dynamic_axes=dyn,
        rewrites=subject.rewrites,
        task=getattr(chosen.meta, "task", None),
        parity=parity_summary(chosen.parity),
        cell_loops=[loop.to_dict() for loop in plan.cell_loops],
        torch_quantization=subject.torch_quantization.to_dict() if subject.torch_quantization else None,
        **dict(manifest_extra or {}),
    )
    specs = io_specs(chosen.proto)
    return ExportResult(
        path=path,
        manifest_path=path.with_suffix(".json"),
        exporter=chosen.strategy,
        opset=options.opset,
        seconds=seconds,
        size_bytes=int(manifest["size_bytes"]),
        rnn_nodes=rnn_node_counts(chosen.proto),
        dynamic_axes=dyn,
        inputs=specs["inputs"],
        outputs=specs["outputs"],
        rewrites=subject.rewrites,
        attempts=attempts,
        parity=chosen.parity,
        simplified=options.simplify,
        external_data=chosen.external,
        cell_loops=manifest["cell_loops"],
        torch_quantization=manifest["torch_quantization"],
    )


def export_checkpoint(
    checkpoint: str | Path | Mapping[str, Any], path: str | Path, options: ExportOptions | None = None
) -> ExportResult:
    """Export an edgeseq checkpoint (a ``.pt`` path, a run folder, or a loaded dict) to ``path``.

    The example input is one image at the checkpoint's preprocessing size; the metadata (labels or
    alphabet, preprocessing, metrics, the checkpoint's sha256) comes from the checkpoint.

    Raises:
        ModelFileError: the checkpoint cannot be loaded or does not fit its config.
        ExportError: as :func:`export_onnx`.
    """
    model, example, meta, extra = checkpoint_export_inputs(checkpoint)
    return export_onnx(model, example, path, options, metadata=meta, manifest_extra=extra)


def checkpoint_export_inputs(
    checkpoint: str | Path | Mapping[str, Any],
) -> tuple[Any, Any, ModelMetadata, dict[str, Any]]:
    """What exporting a checkpoint takes: (model in eval mode, example input, metadata, manifest fields).

    The example is one random image at the checkpoint's preprocessing size; the metadata (labels or
    alphabet, preprocessing, metrics, the checkpoint's sha256) and the manifest's ``source_checkpoint``
    come from the checkpoint.

    Raises:
        ModelFileError: the checkpoint cannot be loaded or does not fit its config.
    """
    if isinstance(checkpoint, Mapping):
        source: str | dict[str, Any] = checkpoint if isinstance(checkpoint, dict) else dict(checkpoint)
    else:
        source = str(checkpoint)
    model, ckpt = model_from_checkpoint(source)
    meta = checkpoint_metadata(ckpt)
    pre = ckpt["preprocess"]
    channels = 1 if pre.get("color", "L") == "L" else 3
    example = torch.randn(1, channels, int(pre["height"]), int(pre["width"]))
    extra = {"source_checkpoint": {"path": ckpt.get("path"), "sha256": meta.source_sha256, "metrics": meta.metrics}}
    return model, example, meta, extra
