"""A model quantized in PyTorch (``quantize_dynamic``) to ONNX, with its ONNX int8 equivalent and two parity figures.

:func:`export_torch_quantized` chains three stages, each the library call its CLI verb wraps:

1. :func:`edgeseq.export_onnx` finds the dynamic-quantized modules, exports a float copy carrying the
   dequantized weights (:mod:`edgeseq.export.quantized`) and checks it against that copy at the fp32
   tolerance: **figure 1**, "float export vs the dequantized module".
2. :func:`edgeseq.optimize` builds the ONNX-side int8 equivalent from that graph: ``int8-dynamic``
   (``DynamicQuantizeLSTM``, ``MatMulInteger``; default) and, with calibration samples, ``int8-mixed``.
3. :func:`edgeseq.parity.check_parity` compares each int8 variant with the *original* quantized PyTorch
   module at :data:`edgeseq.parity.INT8_TOLERANCES`: **figure 2**, "ONNX int8 vs PyTorch int8".

Both figures go into the float model's manifest (``torch_quantization.float_parity`` and ``.int8``) and
each variant's manifest (``torch_parity``). :func:`validate_torch_quantized` repeats them for a model that
``edgeseq export --torch-quantized dynamic`` made from a checkpoint (``edgeseq validate`` calls it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.checkpoint import load_checkpoint
from edgeseq.errors import InputError, ModelFileError
from edgeseq.export import ExportOptions, ExportResult, export_onnx
from edgeseq.export.api import checkpoint_export_inputs
from edgeseq.export.options import parity_summary
from edgeseq.export.quantized import DYNAMIC_KIND, dequantize_dynamic, inspect_quantization, torch_quantize_dynamic
from edgeseq.fileio import write_json_atomic
from edgeseq.manifest import read_manifest, update_manifest
from edgeseq.optimization import OptimizeConfig, OptimizeResult, SampleSet, load_samples, optimize
from edgeseq.parity import INT8_TOLERANCES, ParityReport, check_parity, checkpoint_samples, validate_and_record

INT8_VARIANTS = ("int8-dynamic", "int8-mixed")  # the ONNX int8 variants this route builds
# The equivalent of PyTorch's dynamic int8: the same layers quantized the same way (weights int8, activations
# quantized per call). int8-mixed also quantizes the convolutions, which the PyTorch model keeps in float,
# so its figure 2 is reported but not held to the int8 tolerance (edgeseq optimize gates its accuracy).
EQUIVALENT_VARIANTS = ("int8-dynamic",)
DEFAULT_INT8_VARIANTS = ("int8-dynamic",)  # needs no calibration data
INT8_DIR_SUFFIX = ".int8"  # model.onnx -> model.int8/ beside it


@dataclass
class Int8Check:
    """One ONNX int8 variant: where it is and its parity with the PyTorch-quantized module (or why none)."""

    variant: str
    path: Path | None = None
    report: ParityReport | None = None
    reason: str = ""  # why it was not built or not checked
    gate: str | None = None  # edgeseq optimize's verdict on it ("accepted"/"rejected: why"); None: not gated here

    @property
    def gated(self) -> bool:
        """Whether figure 2 must be within tolerance (only for the equivalent variant, see EQUIVALENT_VARIANTS)."""
        return self.variant in EQUIVALENT_VARIANTS

    @property
    def passed(self) -> bool:
        """Built and compared; for the equivalent variant also within :data:`edgeseq.parity.INT8_TOLERANCES`."""
        return self.report is not None and (self.report.passed or not self.gated)

    def to_json(self, relative_to: Path | None = None) -> dict[str, Any]:
        """The manifest's ``torch_quantization.int8.<variant>`` entry."""
        path: str | None = str(self.path) if self.path is not None else None
        if path is not None and relative_to is not None:
            path = os.path.relpath(Path(path).resolve(), relative_to.resolve())
        return {
            "path": path,
            "parity": parity_summary(self.report),
            "held_to_tolerance": self.gated,
            "reason": self.reason or None,
            "gate": self.gate,
        }


@dataclass
class TorchQuantizedResult:
    """What :func:`export_torch_quantized` produced: the float export, the int8 variants and both figures."""

    export: ExportResult
    int8: list[Int8Check]
    int8_dir: Path
    optimize: OptimizeResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every requested int8 variant was built and passed figure 2 (figure 1 passed, or export would raise)."""
        return bool(self.int8) and all(check.passed for check in self.int8)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict: the export's, plus the int8 checks."""
        return {
            "export": self.export.to_json(),
            "int8_dir": str(self.int8_dir),
            "int8": {c.variant: c.to_json() for c in self.int8},
            "passed": self.passed,
            "notes": self.notes,
        }

    def summary(self) -> str:
        """The export summary and one line per figure."""
        lines = [self.export.summary(), figure_lines(self.export.parity, self.int8)]
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def _worst_abs(report: ParityReport | None) -> str:
    if report is None:
        return "not run"
    worst = [w["max_abs"] for w in report.worst().values() if w["max_abs"] is not None]
    top1 = [w["min_top1"] for w in report.worst().values() if w["min_top1"] is not None]
    figures = f"max|diff| {max(worst):.2e}" if worst else "no values"
    if top1:
        figures += f", top-1 {min(top1):.4f}"
    return f"{'passed' if report.passed else 'FAILED'}: {figures} ({report.tolerances.describe()})"


def figure_lines(float_report: ParityReport | None, checks: Sequence[Int8Check]) -> str:
    """The two parity figures, one line each, as the export and validate commands print them."""
    lines = [f"  parity 1, float ONNX vs dequantized PyTorch: {_worst_abs(float_report)}"]
    for check in checks:
        where = f" [{check.path}]" if check.path else ""
        figure = _worst_abs(check.report) if check.report is not None else f"not checked: {check.reason}"
        if check.report is not None and not check.gated:
            figure += "; reported only: it also quantizes the convolutions, which the PyTorch model keeps in float"
        lines.append(f"  parity 2, ONNX {check.variant} vs PyTorch int8{where}: {figure}")
    return "\n".join(lines)


def _check_variants(variants: Sequence[str]) -> list[str]:
    unknown = [v for v in variants if v not in INT8_VARIANTS]
    if unknown or not variants:
        raise InputError(f"int8 variants: got {list(variants)}; expected one or more of {', '.join(INT8_VARIANTS)}")
    return list(dict.fromkeys(variants))


def build_int8_variants(
    onnx_path: Path,
    int8_dir: Path,
    variants: Sequence[str],
    config: OptimizeConfig | None,
    calibration: SampleSet | None,
    evaluation: SampleSet | None,
) -> tuple[OptimizeResult, list[Int8Check]]:
    """Run :func:`edgeseq.optimize` for the int8 variants; one :class:`Int8Check` per variant (not yet compared)."""
    if config is None:
        # latency is edgeseq optimize's job; here the variants are built, sandboxed and gated only
        config = OptimizeConfig(variants=list(variants), latency_runs=0)
    else:
        config = OptimizeConfig.from_dict({**config.to_json(), "variants": list(variants)})
    result = optimize(onnx_path, int8_dir, config, calibration=calibration, evaluation=evaluation)
    checks = []
    for name in variants:
        row = result.variant(name)
        gate = "accepted" if row.usable else f"rejected: {row.reason}"
        if row.path and Path(row.path).is_file():
            checks.append(Int8Check(name, Path(row.path), gate=gate))
        else:
            checks.append(Int8Check(name, reason=row.reason or "not built", gate=gate))
    return result, checks


def compare_int8(
    quantized: Any, checks: Sequence[Int8Check], base_size: tuple[int, int], samples: Any = None, **kwargs: Any
) -> None:
    """Figure 2 for every built variant: the ONNX int8 graph vs the PyTorch-quantized module (reports set in place)."""
    for check in checks:
        if check.path is None:
            continue
        check.report = check_parity(
            quantized, check.path, samples=samples, tolerances=INT8_TOLERANCES, base_size=base_size, **kwargs
        )


def record_figures(onnx_path: Path, float_report: ParityReport | None, checks: Sequence[Int8Check]) -> None:
    """Both figures into the float model's manifest, and figure 2 into each variant's manifest."""
    manifest = read_manifest(onnx_path)
    quantization = dict(manifest.get("torch_quantization") or {"kind": DYNAMIC_KIND})
    quantization["float_parity"] = parity_summary(float_report)
    quantization["int8"] = {c.variant: c.to_json(relative_to=onnx_path.parent) for c in checks}
    update_manifest(onnx_path, torch_quantization=quantization)
    for check in checks:
        if check.path is not None and check.report is not None:
            update_manifest(check.path, torch_parity=parity_summary(check.report))


def export_torch_quantized(
    model: Any,
    example_input: Any,
    path: str | Path,
    options: ExportOptions | None = None,
    metadata: Any = None,
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
    *,
    variants: Sequence[str] = DEFAULT_INT8_VARIANTS,
    int8_dir: str | Path | None = None,
    optimize_config: OptimizeConfig | None = None,
    calibration: SampleSet | None = None,
    evaluation: SampleSet | None = None,
    samples: Any = None,
    manifest_extra: Mapping[str, Any] | None = None,
) -> TorchQuantizedResult:
    """Export a PyTorch dynamic-quantized model, build its ONNX int8 equivalent and check both.

    Args:
        model: a module with ``torch.ao.nn.quantized.dynamic`` Linear/LSTM/GRU/cells (``quantize_dynamic``).
        example_input, path, options, metadata, dynamic_axes, manifest_extra: as :func:`edgeseq.export_onnx`.
        variants: the ONNX int8 variants (``int8-dynamic``; ``int8-mixed`` needs ``calibration``).
        int8_dir: where the variants go (default ``<model stem>.int8/`` beside ``path``).
        optimize_config: :func:`edgeseq.optimize`'s options (default: these variants, no latency runs).
        calibration, evaluation: samples for int8-mixed's calibration and optimize's accuracy gate.
        samples: real inputs (NCHW) added to figure 2's random inputs.

    Returns:
        A :class:`TorchQuantizedResult`; ``passed`` is False when a variant is missing or over tolerance.

    Raises:
        InputError: the model has no dynamic-quantized module, or an unknown variant.
        ExportError: static/PT2E quantization (one line naming the module), or the float export failed.
    """
    wanted = _check_variants(variants)
    if inspect_quantization(model) is None:
        raise InputError(
            "model: no PyTorch dynamic-quantized module (torch.ao.nn.quantized.dynamic) found; "
            "expected a model from quantize_dynamic (use edgeseq.export_onnx for a float model)"
        )
    path = Path(path)
    exported = export_onnx(model, example_input, path, options, metadata, dynamic_axes, manifest_extra=manifest_extra)
    out = Path(int8_dir) if int8_dir is not None else path.with_name(path.stem + INT8_DIR_SUFFIX)
    optimized, checks = build_int8_variants(path, out, wanted, optimize_config, calibration, evaluation)
    base = (int(example_input.shape[2]), int(example_input.shape[3]))
    compare_int8(model, checks, base, samples)
    record_figures(path, exported.parity, checks)
    return TorchQuantizedResult(exported, checks, out, optimized)


def export_checkpoint_torch_quantized(
    checkpoint: str | Path | Mapping[str, Any],
    path: str | Path,
    options: ExportOptions | None = None,
    *,
    variants: Sequence[str] = DEFAULT_INT8_VARIANTS,
    int8_dir: str | Path | None = None,
    samples: int = 16,
) -> TorchQuantizedResult:
    """``edgeseq export CKPT --torch-quantized dynamic``: the checkpoint's model as PyTorch runs it quantized.

    The model is quantized with :func:`edgeseq.export.quantized.torch_quantize_dynamic` (LSTM, GRU and
    Linear to qint8, as EasyOCR does on CPU), then exported as :func:`export_torch_quantized` does. The
    checkpoint's data, where this machine has it, calibrates ``int8-mixed``, feeds optimize's accuracy gate
    and adds ``samples`` real test images to figure 2.
    """
    model, example, meta, extra = checkpoint_export_inputs(checkpoint)
    quantized = torch_quantize_dynamic(model)
    wanted = _check_variants(variants)
    path = Path(path)
    exported = export_onnx(quantized, example, path, options, metadata=meta, manifest_extra=extra)
    config = OptimizeConfig(variants=wanted, latency_runs=0)
    notes: list[str] = []
    calibration, evaluation = _checkpoint_sets(path, config, checkpoint, notes)
    out = Path(int8_dir) if int8_dir is not None else path.with_name(path.stem + INT8_DIR_SUFFIX)
    optimized, checks = build_int8_variants(path, out, wanted, config, calibration, evaluation)
    items = _real_samples(checkpoint, samples, notes)
    compare_int8(quantized, checks, (int(example.shape[2]), int(example.shape[3])), items or None)
    record_figures(path, exported.parity, checks)
    return TorchQuantizedResult(exported, checks, out, optimized, notes)


def _checkpoint_sets(
    model: Path, config: OptimizeConfig, checkpoint: Any, notes: list[str]
) -> tuple[SampleSet | None, SampleSet | None]:
    """Calibration and evaluation samples from the checkpoint's data, or (None, None) with a note."""
    if isinstance(checkpoint, Mapping):
        checkpoint = checkpoint.get("path")
    if checkpoint is None:
        return None, None
    try:
        return load_samples(model, config, checkpoint=checkpoint)
    except (InputError, ModelFileError, OSError) as exc:  # no data on this machine: random inputs instead
        notes.append(f"the checkpoint's data is not available ({exc}); int8 variants gated on random inputs")
        return None, None


def _real_samples(checkpoint: Any, count: int, notes: list[str]) -> list[Any]:
    """Up to ``count`` test images of the checkpoint's data (none, with a note, where the data is missing)."""
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    items, why_not = checkpoint_samples(ckpt, count)
    if why_not and count > 0:
        notes.append(f"no real samples for parity 2 ({why_not}); random inputs only")
    return items


def validate_torch_quantized(
    onnx_path: str | Path,
    checkpoint: str | Path | Mapping[str, Any],
    *,
    report_path: str | Path | None = None,
    samples: int = 16,
    **kwargs: Any,
) -> tuple[ParityReport, list[Int8Check], dict[str, Any], Path]:
    """``edgeseq validate`` for a model exported with ``--torch-quantized dynamic``: both figures again.

    Figure 1 compares the float graph with the dequantized copy of the re-quantized checkpoint model
    (quantization is deterministic); figure 2 each int8 variant the manifest lists with the quantized module.

    Returns:
        (figure 1's report, the int8 checks, the JSON report written, its path)

    Raises:
        ModelFileError: the manifest does not record a PyTorch-quantized export, or the checkpoint's
            quantized modules differ from those it records.
    """
    onnx_path = Path(onnx_path)
    recorded = read_manifest(onnx_path).get("torch_quantization") or {}
    if recorded.get("kind") != DYNAMIC_KIND:
        raise ModelFileError(f"{onnx_path}: its manifest records no PyTorch dynamic-quantized export")
    ckpt = dict(checkpoint) if isinstance(checkpoint, Mapping) else load_checkpoint(checkpoint)
    model, example, _, _ = checkpoint_export_inputs(ckpt)
    quantized = torch_quantize_dynamic(model)
    found = inspect_quantization(quantized)
    if found is None or found.modules != recorded.get("modules"):
        raise ModelFileError(
            f"{onnx_path} was exported from quantized modules {sorted(recorded.get('modules') or {})}; "
            f"quantizing this checkpoint gives {sorted(found.modules) if found else []}"
        )
    report, data, path = validate_and_record(
        onnx_path, ckpt, report_path=report_path, samples=samples, model=dequantize_dynamic(quantized), **kwargs
    )
    checks = _recorded_checks(onnx_path, recorded)
    base = (int(example.shape[2]), int(example.shape[3]))
    compare_int8(quantized, checks, base, _real_samples(ckpt, samples, []) or None, **kwargs)
    data["torch_quantization"] = {
        "float_parity_reference": "the dequantized copy of the checkpoint's model after quantize_dynamic",
        "int8": {c.variant: c.report.to_json() if c.report else c.to_json() for c in checks},
    }
    write_json_atomic(path, json.loads(json.dumps(data, default=str)))
    record_figures(onnx_path, report, checks)
    return report, checks, data, path


def _recorded_checks(onnx_path: Path, recorded: Mapping[str, Any]) -> list[Int8Check]:
    """The int8 variants a manifest lists, each with its file (or why it is missing)."""
    checks = []
    for variant, entry in (recorded.get("int8") or {}).items():
        where = entry.get("path") if isinstance(entry, Mapping) else None
        file = onnx_path.parent / where if where else None
        if file is not None and file.is_file():
            checks.append(Int8Check(variant, file))
        else:
            checks.append(Int8Check(variant, reason=f"{file or 'no file'} is missing"))
    return checks


__all__ = [
    "DEFAULT_INT8_VARIANTS",
    "INT8_VARIANTS",
    "Int8Check",
    "TorchQuantizedResult",
    "build_int8_variants",
    "compare_int8",
    "export_checkpoint_torch_quantized",
    "export_torch_quantized",
    "figure_lines",
    "record_figures",
    "validate_torch_quantized",
]
