"""One-graph ONNX export with verification: :func:`export_onnx` and :func:`export_checkpoint`.

Exporter paths and why TorchScript is the default (measured on torch 2.14.1, see docs/traps.md):

* ``torchscript`` (``torch.onnx.export(..., dynamo=False)``) keeps batch, height/width and the
  sequence length symbolic for every LSTM/GRU/RNN variant (uni/bidirectional, 1-2 layers), emits
  one native ``LSTM``/``GRU``/``RNN`` node per layer, and takes well under a second. Opsets 14-20.
* ``dynamo`` (``torch.onnx.export(..., dynamo=True)``) silently freezes a declared dynamic axis for
  bidirectional or multi-layer RNNs (docs/traps.md #1, #2) and fails outright on some CRNNs (#4). It is
  kept as a fallback for modules the TorchScript tracer cannot handle, and as ``dynamo-ep``
  (``torch.export.export`` first, then the ONNX translation) for the cases where only that works.
  Opset 18 or newer.

``exporter="auto"`` (the default) tries ``torchscript``, ``dynamo``, ``dynamo-ep`` in that order
and *verifies* every result before accepting it: ``onnx.checker`` (full check) and strict shape
inference; one native RNN node per ``nn.LSTM``/``nn.GRU``/``nn.RNN`` layer and no ``Loop``/``Scan``
with an RNN-like body; every declared dynamic axis still symbolic in the graph's input *and*
outputs; and (``verify=True``) :func:`edgeseq.parity.check_parity` against the original module at
batch sizes 1, 2, 7 and at three sizes of the dynamic image axis other than the example. If no
path passes, :class:`~edgeseq.errors.ExportError` lists each path and why it failed.

Export-hostile patterns are rewritten on a deep copy first (:mod:`edgeseq.export_rewrites`):
adaptive pooling to ``(1, None)``/``(None, 1)`` becomes an exact mean/max over that axis.

Opset: default 18 (the lowest opset both paths produce), minimum 14 (TorchScript path),
maximum 20. Files are staged in a temporary folder beside the destination and renamed into place
only after every check passed, so a failed or interrupted export leaves nothing under the final
name. Models whose protobuf would exceed 2 GB are saved with external data (``<name>.data``).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgeseq.errors import ConfigError, ExportError

DEFAULT_OPSET = 18  # both exporter paths produce it; the TorchScript path alone could go lower
MIN_OPSET = 14  # lowest opset the TorchScript path is tested at (LSTM/GRU/Softmax semantics settled)
MAX_OPSET = 20  # highest opset the TorchScript exporter of torch 2.x emits
DYNAMO_MIN_OPSET = 18  # the dynamo exporter refuses older opsets (docs/traps.md #10)
EXPORTERS = ("auto", "torchscript", "dynamo")
STRATEGIES = {
    "auto": ("torchscript", "dynamo", "dynamo-ep"),
    "torchscript": ("torchscript",),
    "dynamo": ("dynamo", "dynamo-ep"),
}
# protobuf cannot serialise 2 GiB; stay below it with a margin for the graph itself
EXTERNAL_DATA_THRESHOLD_BYTES = 2**31 - 2**26
INPUT_NAME = "images"
LOGITS_NAME = "logits"
PROBABILITIES_NAME = "probabilities"
_NCHW_TO_NHWC = {0: 0, 1: 3, 2: 1, 3: 2}


@dataclass
class ExportOptions:
    """How to export (the ``[export]`` table of a profile).

    Attributes:
        opset: ONNX opset (default 18; 14-20; the dynamo paths need >= 18).
        exporter: "auto" (TorchScript, then dynamo, each verified), "torchscript" or "dynamo".
        static: fix every axis to the example's shape (no dynamic batch or width).
        preprocess_in_graph: uint8 NHWC pixels in; cast, scale, normalise, transpose inside the graph.
        probabilities: add a softmax output ``probabilities`` beside ``logits``.
        simplify: simplify the graph with onnxslim, then verify it again.
        verify: run the parity check (torch vs ONNX Runtime) on every candidate graph.
    """

    opset: int = DEFAULT_OPSET
    exporter: str = "auto"
    static: bool = False
    preprocess_in_graph: bool = False
    probabilities: bool = False
    simplify: bool = False
    verify: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.opset, bool) or not isinstance(self.opset, int):
            raise ConfigError(f"export.opset: got {self.opset!r}; expected an integer from {MIN_OPSET} to {MAX_OPSET}")
        if not MIN_OPSET <= self.opset <= MAX_OPSET:
            raise ConfigError(f"export.opset: got {self.opset}; expected {MIN_OPSET} <= opset <= {MAX_OPSET}")
        if self.exporter not in EXPORTERS:
            raise ConfigError(f"export.exporter: got {self.exporter!r}; expected one of: {', '.join(EXPORTERS)}")
        if self.exporter == "dynamo" and self.opset < DYNAMO_MIN_OPSET:
            raise ConfigError(
                f"export.opset: got {self.opset} with exporter 'dynamo'; expected opset >= {DYNAMO_MIN_OPSET}"
            )
        for key in ("static", "preprocess_in_graph", "probabilities", "simplify", "verify"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"export.{key}: got {getattr(self, key)!r}; expected true or false")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], prefix: str = "export") -> ExportOptions:
        """Build from a TOML table; unknown keys and wrong types raise ConfigError naming the key."""
        from edgeseq.config import from_dict

        return from_dict(cls, dict(data), prefix=prefix)

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return dataclasses.asdict(self)


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote and how."""

    path: Path
    manifest_path: Path
    exporter: str  # the strategy that produced the accepted graph
    opset: int
    seconds: float
    size_bytes: int
    rnn_nodes: dict[str, int]
    dynamic_axes: dict[str, dict[str, str]]  # graph input/output -> {axis: symbolic name}
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    rewrites: list[str] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)  # {"strategy", "ok", "error", "seconds"}
    parity: Any = None  # ParityReport of the accepted graph (None with verify=False)
    simplified: bool = False
    external_data: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "path": str(self.path),
            "manifest_path": str(self.manifest_path),
            "exporter": self.exporter,
            "opset": self.opset,
            "seconds": round(self.seconds, 3),
            "size_bytes": self.size_bytes,
            "rnn_nodes": self.rnn_nodes,
            "dynamic_axes": self.dynamic_axes,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "rewrites": self.rewrites,
            "attempts": self.attempts,
            "parity": _parity_summary(self.parity),
            "simplified": self.simplified,
            "external_data": self.external_data,
        }

    def summary(self) -> str:
        """A few readable lines for the CLI."""

        def shape(spec: dict[str, Any]) -> str:
            return f"{spec['name']}[{', '.join(str(d) for d in spec['shape'])}]"

        rnn = ", ".join(f"{k}={v}" for k, v in sorted(self.rnn_nodes.items())) or "none"
        lines = [
            f"exported {self.path} ({self.size_bytes / 1e6:.2f} MB) in {self.seconds:.2f} s",
            f"  exporter {self.exporter}, opset {self.opset}, RNN nodes: {rnn}",
            f"  inputs {', '.join(shape(s) for s in self.inputs)} -> outputs {', '.join(shape(s) for s in self.outputs)}",
        ]
        if self.rewrites:
            lines.append(f"  rewrites: {'; '.join(self.rewrites)}")
        if self.parity is not None:
            worst = self.parity.worst()
            figures = ", ".join(
                f"{name} max|diff| {w['max_abs']:.2e}" for name, w in worst.items() if w["max_abs"] is not None
            )
            lines.append(f"  parity {'passed' if self.parity.passed else 'FAILED'}: {figures}")
        lines.append(f"  manifest {self.manifest_path}")
        return "\n".join(lines)


def _parity_summary(report: Any) -> dict[str, Any] | None:
    if report is None:
        return None
    data = report.to_json()
    return {k: data[k] for k in ("passed", "worst", "failures", "tolerances", "sizes", "cases", "seconds")}


# ---------------------------------------------------------------------------------------------
# strategies: each writes a raw ONNX file or raises


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporters' warnings and log spew; failures still raise and are reported by us."""
    torch_logger = logging.getLogger("torch")
    old_level = torch_logger.level
    torch_logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        torch_logger.setLevel(old_level)


def _export_torchscript(module: Any, example: Any, out: Path, plan: _Plan) -> None:
    import torch

    dynamic_axes = None
    if not plan.static:
        dynamic_axes = {name: dict(axes) for name, axes in plan.axes.items() if axes}
    with _quiet_exporter():
        torch.onnx.export(
            module,
            (example,),
            str(out),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=plan.output_names,
            opset_version=plan.opset,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
        )


def _dynamo_shapes(plan: _Plan) -> Any:
    import torch

    if plan.static:
        return None
    return ({axis: torch.export.Dim.DYNAMIC for axis in plan.axes[INPUT_NAME]},)


def _dynamo_example(example: Any, plan: _Plan) -> Any:
    # torch.export specialises sizes 0 and 1 (docs/traps.md #6): trace a dynamic batch with 2 samples
    if not plan.static and 0 in plan.axes[INPUT_NAME] and example.shape[0] == 1:
        return example.repeat(2, *([1] * (example.dim() - 1)))
    return example


def _export_dynamo(module: Any, example: Any, out: Path, plan: _Plan) -> None:
    import torch

    with _quiet_exporter():
        program = torch.onnx.export(
            module,
            (_dynamo_example(example, plan),),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=plan.output_names,
            opset_version=plan.opset,
            dynamic_shapes=_dynamo_shapes(plan),
            verbose=False,
        )
        program.save(str(out))


def _export_dynamo_ep(module: Any, example: Any, out: Path, plan: _Plan) -> None:
    import torch

    with _quiet_exporter():
        exported = torch.export.export(module, (_dynamo_example(example, plan),), dynamic_shapes=_dynamo_shapes(plan))
        program = torch.onnx.export(
            exported,
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=plan.output_names,
            opset_version=plan.opset,
            verbose=False,
        )
        program.save(str(out))


_STRATEGY_FUNCS: dict[str, Callable[[Any, Any, Path, _Plan], None]] = {
    "torchscript": _export_torchscript,
    "dynamo": _export_dynamo,
    "dynamo-ep": _export_dynamo_ep,
}


# ---------------------------------------------------------------------------------------------
# planning: names, dynamic axes, expected RNN nodes


@dataclass
class _Plan:
    opset: int
    static: bool
    output_names: list[str]
    axes: dict[str, dict[int, str]]  # graph input/output name -> dynamic axes (graph layout)
    expected_rnn_layers: int
    expected_bidirectional: int
    base_size: tuple[int, int]
    output_shapes: dict[str, tuple[int, ...]]  # torch output shapes at the example


def _rnn_expectations(model: Any) -> tuple[int, int]:
    """(layers of nn.LSTM/GRU/RNN modules, layers of the bidirectional ones); refuse RNN cells."""
    from torch import nn

    layers = bidirectional = 0
    for name, module in model.named_modules():
        if isinstance(module, nn.RNNCellBase):
            raise ExportError(
                f"module {name!r} is an nn.{type(module).__name__}: a Python loop over cells exports as "
                "per-timestep ops (unrolled); expected nn.LSTM/nn.GRU/nn.RNN, which export as one native node per layer"
            )
        if isinstance(module, nn.RNNBase):
            layers += module.num_layers
            if module.bidirectional:
                bidirectional += module.num_layers
    return layers, bidirectional


def _outputs_of(module: Any, x: Any) -> list[Any]:
    import torch

    with torch.inference_mode():
        out = module(x)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _probe_output_axes(module: Any, example: Any, in_axes: Mapping[int, str]) -> list[dict[int, str]]:
    """Find which output axes follow each dynamic input axis by running torch at a second size."""
    import torch

    base = [tuple(o.shape) for o in _outputs_of(module, example)]
    found: list[dict[int, str]] = [{} for _ in base]
    for axis, name in sorted(in_axes.items()):
        shape = list(example.shape)
        shape[axis] = shape[axis] + 1 if axis == 0 else shape[axis] * 2
        try:
            other = [tuple(o.shape) for o in _outputs_of(module, torch.randn(shape))]
        except Exception as exc:  # the model refuses the size: that axis cannot be dynamic
            hint = (
                "; a fixed-batch initial state (h0 buffer) does this: build it with x.new_zeros(layers, x.size(0), "
                "hidden) or omit it"
                if axis == 0
                else ""
            )
            raise ExportError(
                f"input axis {axis} ({name}) is declared dynamic but torch fails at size {shape[axis]}: "
                f"{_first_line(exc)}{hint}"
            ) from None
        for k, (a, b) in enumerate(zip(base, other, strict=True)):
            for out_axis, (da, db) in enumerate(zip(a, b, strict=True)):
                if da != db and out_axis not in found[k]:
                    found[k][out_axis] = "batch" if axis == 0 else ("time" if out_axis == 1 else f"{name}_{out_axis}")
    return found


def _axes_mapping(name: str, axes: Any) -> dict[int, str]:
    """``{axis: symbolic name}`` from a dynamic_axes entry; a list of axes (torch's short form) gets generated names."""
    if isinstance(axes, (list, tuple)):
        axes = {a: f"{name}_dim{a}" for a in axes}
    if not isinstance(axes, Mapping) or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise ConfigError(
            f"dynamic_axes[{name!r}]: got {axes!r}; expected {{axis: name}} with integer axes, e.g. {{0: 'batch'}}"
        )
    return {int(a): str(n) for a, n in axes.items()}


def _plan(
    model: Any, module: Any, example: Any, options: ExportOptions, dynamic_axes: Mapping[str, Any] | None
) -> _Plan:
    """Decide output names and the dynamic axes of every graph input/output."""
    outputs = _outputs_of(model, example)
    names = [LOGITS_NAME] + [f"output_{i}" for i in range(1, len(outputs))]
    if options.probabilities:
        if len(outputs) != 1:
            raise ConfigError(f"export.probabilities: the model returns {len(outputs)} outputs; expected one (logits)")
        names.append(PROBABILITIES_NAME)
    layers, bidirectional = _rnn_expectations(model)
    base_size = (int(example.shape[2]), int(example.shape[3]))
    shapes = {name: tuple(int(d) for d in out.shape) for name, out in zip(names, outputs, strict=False)}
    if options.probabilities:
        shapes[PROBABILITIES_NAME] = shapes[LOGITS_NAME]
    if options.static:
        return _Plan(options.opset, True, names, {INPUT_NAME: {}}, layers, bidirectional, base_size, shapes)

    given = {name: _axes_mapping(name, axes) for name, axes in (dynamic_axes or {}).items()}
    unknown = set(given) - {INPUT_NAME, *names}
    if unknown:
        raise ConfigError(f"dynamic_axes: unknown names {sorted(unknown)}; expected {INPUT_NAME!r} or {names}")
    if INPUT_NAME in given:
        in_axes = given[INPUT_NAME]
    elif callable(getattr(model, "dynamic_input_axes", None)):
        in_axes = dict(model.dynamic_input_axes())
    else:
        in_axes = {0: "batch"}
    if any(not 0 <= a < example.dim() for a in in_axes):
        raise ConfigError(
            f"dynamic_axes[{INPUT_NAME!r}]: got axes {sorted(in_axes)}; expected axes of a rank-4 NCHW input"
        )

    if LOGITS_NAME in given:
        out_axes = [given.get(n, {}) for n in names[: len(outputs)]]
    elif callable(getattr(model, "output_axes", None)) and len(outputs) == 1:
        out_axes = [dict(model.output_axes())]
    else:
        out_axes = _probe_output_axes(model, example, in_axes)
    axes: dict[str, dict[int, str]] = {
        INPUT_NAME: {_NCHW_TO_NHWC[a]: n for a, n in in_axes.items()} if options.preprocess_in_graph else in_axes
    }
    for name, ax in zip(names, out_axes, strict=False):
        axes[name] = ax
    if options.probabilities:
        axes[PROBABILITIES_NAME] = dict(out_axes[0])
    return _Plan(options.opset, False, names, axes, layers, bidirectional, base_size, shapes)


# ---------------------------------------------------------------------------------------------
# metadata, saving, verification


def _export_metadata(
    metadata: Any, model: Any, options: ExportOptions, plan: _Plan, strategy: str, rewrites: list[str]
) -> Any:
    """The ModelMetadata to embed (None for a plain module without metadata)."""
    import torch

    from edgeseq import __version__
    from edgeseq.runtime.metadata import InputSpec, ModelMetadata, OutputSpec

    if metadata is None:
        task = getattr(model, "task", None)
        if task is None:
            return None
        pre = getattr(model, "preprocess_cfg", None)
        cfg = getattr(model, "model_cfg", None)
        metadata = ModelMetadata(
            task=task,
            preprocess=dataclasses.asdict(pre) if pre is not None else {},
            model=dataclasses.asdict(cfg) if cfg is not None else {},
        )
    meta = copy.deepcopy(metadata)
    if not meta.preprocess and getattr(model, "preprocess_cfg", None) is not None:
        meta.preprocess = dataclasses.asdict(model.preprocess_cfg)  # the runtime needs the spec
    meta.preprocess = {**meta.preprocess, "in_graph": options.preprocess_in_graph}
    meta.input = InputSpec(
        name=INPUT_NAME,
        layout="NHWC" if options.preprocess_in_graph else "NCHW",
        dtype="uint8" if options.preprocess_in_graph else "float32",
        dynamic_axes={str(a): n for a, n in sorted(plan.axes[INPUT_NAME].items())},
    )
    meta.outputs = OutputSpec(logits=LOGITS_NAME, probabilities=PROBABILITIES_NAME if options.probabilities else None)
    meta.version = __version__
    meta.exporter = {
        "path": strategy,
        "opset": plan.opset,
        "torch": torch.__version__,
        "static": plan.static,
        "rewrites": rewrites,
        "simplified": options.simplify,
    }
    return meta


def _save(proto: Any, staged: Path) -> bool:
    """Save ``proto`` to ``staged``; external data (``<name>.data`` beside it) above the size threshold."""
    import onnx

    large = proto.ByteSize() > EXTERNAL_DATA_THRESHOLD_BYTES
    if large:
        onnx.save_model(
            proto,
            str(staged),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=f"{staged.name}.data",
            size_threshold=1024,
        )
    else:
        onnx.save_model(proto, str(staged))
    return large


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _verify(staged: Path, model: Any, plan: _Plan, verify: bool) -> tuple[Any, Any]:
    """Structural checks, then (``verify``) parity. Returns (proto, parity report or None); raises ExportError."""
    from edgeseq.onnx_checks import check_graph, frozen_axes, rnn_nodes, unrolled_loops
    from edgeseq.parity import check_parity

    proto = check_graph(staged)
    loops = unrolled_loops(proto)
    if loops:
        raise ExportError(f"the graph runs an RNN step by step in {loops}; expected native LSTM/GRU/RNN nodes")
    nodes = rnn_nodes(proto)
    if len(nodes) < plan.expected_rnn_layers:
        raise ExportError(
            f"found {len(nodes)} native RNN node(s) for {plan.expected_rnn_layers} RNN layer(s): the RNN was unrolled"
        )
    bidi = sum(n["direction"] == "bidirectional" for n in nodes)
    if bidi < plan.expected_bidirectional:
        raise ExportError(
            f"found {bidi} bidirectional RNN node(s) for {plan.expected_bidirectional} bidirectional layer(s)"
        )
    problems = frozen_axes(proto, plan.axes)
    if problems:
        raise ExportError("dynamic axes lost: " + "; ".join(problems))
    report = None
    if verify:
        report = check_parity(model, staged, base_size=plan.base_size)
        if not report.passed:
            more = f" (and {len(report.failures) - 3} more)" if len(report.failures) > 3 else ""
            raise ExportError("parity check failed: " + "; ".join(report.failures[:3]) + more)
    return proto, report


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _first_line(exc: BaseException) -> str:
    """The first line of an exception, plus the first line of its cause (exporters wrap the real error)."""

    def line(e: BaseException) -> str:
        lines = [ln for ln in _ANSI.sub("", str(e)).strip().splitlines() if ln.strip()]
        return lines[0] if lines else type(e).__name__

    text = line(exc)
    cause = exc.__cause__ or exc.__context__
    if cause is not None and not isinstance(exc, ExportError):
        text += f" (caused by {type(cause).__name__}: {line(cause)})"
    return text[:400]


def _fix_static_output_dims(proto: Any, plan: _Plan) -> None:
    """Declare the fixed size of every output axis that is not dynamic (tracers leave some symbolic).

    Safe because parity then compares the shapes at other batch sizes and input sizes.
    """
    for out in proto.graph.output:
        shape = plan.output_shapes.get(out.name)
        dims = out.type.tensor_type.shape.dim
        if shape is None or len(dims) != len(shape):
            continue
        dynamic = plan.axes.get(out.name, {}) if not plan.static else {}
        for axis, d in enumerate(dims):
            if axis not in dynamic and not d.HasField("dim_value"):
                d.dim_value = shape[axis]


def _rename_dims(proto: Any, axes: Mapping[int, str]) -> None:
    """Give the dynamo paths' generated dim names (``s34``) the declared names, wherever they appear."""
    inp = next(v for v in proto.graph.input if v.name == INPUT_NAME)
    dims = inp.type.tensor_type.shape.dim
    mapping = {dims[a].dim_param: n for a, n in axes.items() if a < len(dims) and dims[a].dim_param}
    for value in [*proto.graph.input, *proto.graph.output, *proto.graph.value_info]:
        for d in value.type.tensor_type.shape.dim:
            if d.dim_param in mapping:
                d.dim_param = mapping[d.dim_param]


def _attempt(
    strategy: str,
    module: Any,
    example: Any,
    model: Any,
    plan: _Plan,
    meta: Any,
    options: ExportOptions,
    workdir: Path,
    final_name: str,
) -> tuple[Path, Any, Any, bool]:
    """Export with one strategy into ``workdir`` and verify; returns (staged path, proto, parity, external)."""
    import onnx

    raw = workdir / f"raw-{strategy}.onnx"
    _STRATEGY_FUNCS[strategy](module, example, raw, plan)
    proto = onnx.load(str(raw))  # external data (if the exporter wrote any) is pulled in here
    if strategy != "torchscript" and not plan.static:
        _rename_dims(proto, plan.axes[INPUT_NAME])
    _fix_static_output_dims(proto, plan)
    if meta is not None:
        props = meta.to_props()
        kept = [p for p in proto.metadata_props if p.key not in props]
        del proto.metadata_props[:]
        proto.metadata_props.extend(kept)
        for key, value in props.items():
            proto.metadata_props.add(key=key, value=value)
    staged = workdir / final_name
    external = _save(proto, staged)
    # with simplify, parity runs once, on the graph that is kept (structural checks run on both)
    proto, report = _verify(staged, model, plan, options.verify and not options.simplify)
    if options.simplify:
        import onnxslim

        simplified = onnxslim.slim(onnx.load(str(staged)))
        for p in workdir.glob(f"{final_name}*"):
            p.unlink()
        external = _save(simplified, staged)
        try:
            proto, report = _verify(staged, model, plan, options.verify)
        except ExportError as exc:
            raise ExportError(f"the onnxslim-simplified graph failed verification: {exc}") from None
    return staged, proto, report, external


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
    import torch

    from edgeseq.fileio import ensure_writable_dir
    from edgeseq.manifest import write_manifest
    from edgeseq.onnx_checks import io_specs, rnn_node_counts

    started = time.perf_counter()
    options = options or ExportOptions()
    if not isinstance(options, ExportOptions):
        raise ConfigError(f"options: got {type(options).__name__}; expected ExportOptions")
    from edgeseq.runtime.metadata import ModelMetadata

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

    was_training = model.training
    model.eval()
    example = example_input.detach().to(torch.float32).cpu()
    try:
        from edgeseq.export_rewrites import InGraphPreprocess, WithProbabilities, rewrite_for_export

        module, rewrites = rewrite_for_export(model)
        module.eval()
        plan = _plan(model, module, example, options, dynamic_axes)
        spec = dict(metadata.preprocess) if metadata is not None else {}
        if not spec and getattr(model, "preprocess_cfg", None) is not None:
            spec = dataclasses.asdict(model.preprocess_cfg)
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

        strategies = STRATEGIES[options.exporter]
        attempts: list[dict[str, Any]] = []
        workdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".export", dir=path.parent))
        try:
            for strategy in strategies:
                t0 = time.perf_counter()
                if strategy.startswith("dynamo") and options.opset < DYNAMO_MIN_OPSET:
                    attempts.append(
                        {
                            "strategy": strategy,
                            "ok": False,
                            "seconds": 0.0,
                            "error": f"skipped: needs opset >= {DYNAMO_MIN_OPSET}, got {options.opset}",
                        }
                    )
                    continue
                meta = _export_metadata(metadata, model, options, plan, strategy, rewrites)
                try:
                    staged, proto, report, external = _attempt(
                        strategy, module, export_example, model, plan, meta, options, workdir, path.name
                    )
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as exc:  # every exporter failure is reported, then the next path is tried
                    attempts.append(
                        {
                            "strategy": strategy,
                            "ok": False,
                            "seconds": round(time.perf_counter() - t0, 3),
                            "error": f"{type(exc).__name__}: {_first_line(exc)}",
                        }
                    )
                    continue
                attempts.append(
                    {"strategy": strategy, "ok": True, "seconds": round(time.perf_counter() - t0, 3), "error": None}
                )
                break
            else:
                raise ExportError(
                    "no exporter path produced a verified graph: "
                    + "; ".join(f"{a['strategy']}: {a['error']}" for a in attempts)
                )
            # data first, then the model: the final name only ever points at a complete model
            data_file = staged.with_name(f"{staged.name}.data")
            if external:
                _fsync(data_file)
                os.replace(data_file, path.with_name(data_file.name))
            _fsync(staged)
            # A stale manifest would describe (and carry the sha256 of) the model being replaced.
            path.with_suffix(".json").unlink(missing_ok=True)
            os.replace(staged, path)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    finally:
        model.train(was_training)

    seconds = time.perf_counter() - started
    dyn = {name: {str(a): n for a, n in sorted(ax.items())} for name, ax in plan.axes.items() if ax}
    specs = io_specs(proto)
    manifest = write_manifest(
        path,
        exporter=strategy,
        exporter_attempts=attempts,
        export_seconds=round(seconds, 3),
        exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        torch_version=torch.__version__,
        export_options=options.to_dict(),
        example_input_shape=[int(d) for d in example.shape],  # NCHW, before in-graph preprocessing
        dynamic_axes=dyn,
        rewrites=rewrites,
        task=getattr(meta, "task", None),
        parity=_parity_summary(report),
        **dict(manifest_extra or {}),
    )
    return ExportResult(
        path=path,
        manifest_path=path.with_suffix(".json"),
        exporter=strategy,
        opset=options.opset,
        seconds=seconds,
        size_bytes=int(manifest["size_bytes"]),
        rnn_nodes=rnn_node_counts(proto),
        dynamic_axes=dyn,
        inputs=specs["inputs"],
        outputs=specs["outputs"],
        rewrites=rewrites,
        attempts=attempts,
        parity=report,
        simplified=options.simplify,
        external_data=external,
    )


def checkpoint_metadata(ckpt: Mapping[str, Any]) -> Any:
    """The ModelMetadata of a loaded checkpoint (labels/alphabet, preprocessing, metrics, sha256)."""
    from edgeseq import __version__
    from edgeseq.fileio import sha256_file
    from edgeseq.runtime.metadata import ModelMetadata

    source = ckpt.get("path")
    return ModelMetadata(
        task=ckpt["task"],
        labels=[str(v) for v in ckpt.get("labels") or []],
        alphabet=str(ckpt.get("alphabet") or ""),
        blank_index=0,
        preprocess=dict(ckpt["preprocess"]),
        version=__version__,
        source_sha256=sha256_file(source) if source and Path(source).is_file() else "",
        metrics=dict(ckpt.get("metrics") or {}),
        model=dict(ckpt["config"].get("model", {})),
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
    import torch

    from edgeseq.checkpoint import model_from_checkpoint

    model, ckpt = model_from_checkpoint(checkpoint if isinstance(checkpoint, Mapping) else str(checkpoint))
    meta = checkpoint_metadata(ckpt)
    pre = ckpt["preprocess"]
    channels = 1 if pre.get("color", "L") == "L" else 3
    example = torch.randn(1, channels, int(pre["height"]), int(pre["width"]))
    source = {"path": ckpt.get("path"), "sha256": meta.source_sha256, "metrics": meta.metrics}
    return export_onnx(model, example, path, options, metadata=meta, manifest_extra={"source_checkpoint": source})
