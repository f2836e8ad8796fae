"""Planning an export: output names, the dynamic axes of every graph input/output, the RNN nodes to expect.

Output axes that follow a dynamic input axis are declared by edgeseq models (``output_axes()``),
given by the caller, or found by running torch at a second size (:func:`probe_output_axes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgeseq.errors import ConfigError, ExportError, first_line
from edgeseq.export.loops import CellLoop
from edgeseq.export.options import INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME, ExportOptions

_NCHW_TO_NHWC = {0: 0, 1: 3, 2: 1, 3: 2}
_NHWC_TO_NCHW = {v: k for k, v in _NCHW_TO_NHWC.items()}
STEPS_AXIS_NAME = "steps"  # the output axis a scripted decoder loop computes at run time


@dataclass
class ExportPlan:
    """What every strategy exports and every check verifies."""

    opset: int
    static: bool
    output_names: list[str]
    axes: dict[str, dict[int, str]]  # graph input/output name -> dynamic axes (graph layout)
    expected_rnn_layers: int
    expected_bidirectional: int
    base_size: tuple[int, int]
    output_shapes: dict[str, tuple[int, ...]]  # torch output shapes at the example
    cell_loops: list[CellLoop] = field(default_factory=list)  # Python/scripted loops over RNN cells (decoders)

    @property
    def decoder_loops(self) -> int:
        """ONNX ``Loop`` nodes over RNN cells the graph may hold: those of scripted decoder loops."""
        return sum(loop.loops for loop in self.cell_loops if loop.exported_as == "onnx-loop")

    @property
    def unrolled(self) -> list[CellLoop]:
        """The fixed-length cell loops the exporter writes out step by step."""
        return [loop for loop in self.cell_loops if loop.exported_as == "unrolled"]


def rnn_expectations(model: Any) -> tuple[int, int]:
    """(layers of nn.LSTM/GRU/RNN modules, layers of the bidirectional ones): each must be a native node.

    RNN cells are not counted: loops over them are planned by :mod:`edgeseq.export.loops`.
    """
    from torch import nn

    layers = bidirectional = 0
    for module in model.modules():
        if isinstance(module, nn.RNNBase):
            layers += module.num_layers
            if module.bidirectional:
                bidirectional += module.num_layers
    return layers, bidirectional


def outputs_of(module: Any, x: Any) -> list[Any]:
    """The module's outputs on ``x`` as a list (one tensor, or each of a tuple/list)."""
    import torch

    with torch.inference_mode():
        out = module(x)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def probe_output_axes(module: Any, example: Any, in_axes: Mapping[int, str]) -> list[dict[int, str]]:
    """Find which output axes follow each dynamic input axis by running torch at a second size.

    Raises:
        ExportError: torch fails at the second size, so that input axis cannot be dynamic.
    """
    import torch

    base = [tuple(o.shape) for o in outputs_of(module, example)]
    found: list[dict[int, str]] = [{} for _ in base]
    for axis, name in sorted(in_axes.items()):
        shape = list(example.shape)
        shape[axis] = shape[axis] + 1 if axis == 0 else shape[axis] * 2
        try:
            other = [tuple(o.shape) for o in outputs_of(module, torch.randn(shape))]
        except Exception as exc:  # the model refuses the size: that axis cannot be dynamic
            hint = (
                "; a fixed-batch initial state (h0 buffer) does this: build it with x.new_zeros(layers, x.size(0), "
                "hidden) or omit it"
                if axis == 0
                else ""
            )
            raise ExportError(
                f"input axis {axis} ({name}) is declared dynamic but torch fails at size {shape[axis]}: "
                f"{first_line(exc, 400, with_cause=not isinstance(exc, ExportError))}{hint}"
            ) from None
        for k, (a, b) in enumerate(zip(base, other, strict=True)):
            for out_axis, (da, db) in enumerate(zip(a, b, strict=True)):
                if da != db and out_axis not in found[k]:
                    found[k][out_axis] = "batch" if axis == 0 else ("time" if out_axis == 1 else f"{name}_{out_axis}")
    return found


def axes_mapping(name: str, axes: Any) -> dict[int, str]:
    """``{axis: symbolic name}`` from a dynamic_axes entry; a list of axes (torch's short form) gets generated names.

    Raises:
        ConfigError: the entry is neither a mapping with integer axes nor a list of integers.
    """
    if isinstance(axes, (list, tuple)):
        axes = {a: f"{name}_dim{a}" for a in axes}
    if not isinstance(axes, Mapping) or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise ConfigError(
            f"dynamic_axes[{name!r}]: got {axes!r}; expected {{axis: name}} with integer axes, e.g. {{0: 'batch'}}"
        )
    return {int(a): str(n) for a, n in axes.items()}


def make_plan(model: Any, example: Any, options: ExportOptions, dynamic_axes: Mapping[str, Any] | None) -> ExportPlan:
    """Decide output names and the dynamic axes of every graph input/output.

    Args:
        model: the original module (its outputs, RNN layers and declared axes are read).
        example: the NCHW float32 example.
        options: the export options (static, probabilities, preprocess_in_graph, opset).
        dynamic_axes: the caller's axes, ``{"images": {0: "batch", 3: "width"}, "logits": {...}}``, or None.

    Raises:
        ConfigError: unknown names or invalid axes in ``dynamic_axes``; probabilities on a multi-output model.
        ExportError: a loop over RNN cells that cannot be exported faithfully (:mod:`edgeseq.export.loops`),
            or a dynamic input axis torch cannot run at another size.
    """
    outputs = outputs_of(model, example)
    names = [LOGITS_NAME] + [f"output_{i}" for i in range(1, len(outputs))]
    if options.probabilities:
        if len(outputs) != 1:
            raise ConfigError(f"export.probabilities: the model returns {len(outputs)} outputs; expected one (logits)")
        names.append(PROBABILITIES_NAME)
    layers, bidirectional = rnn_expectations(model)
    base_size = (int(example.shape[2]), int(example.shape[3]))
    shapes = {name: tuple(int(d) for d in out.shape) for name, out in zip(names, outputs, strict=False)}
    if options.probabilities:
        shapes[PROBABILITIES_NAME] = shapes[LOGITS_NAME]
    axes: dict[str, dict[int, str]] = {INPUT_NAME: {}}
    if not options.static:
        axes = _dynamic_axes(model, example, options, dynamic_axes, names, len(outputs))
    return ExportPlan(options.opset, options.static, names, axes, layers, bidirectional, base_size, shapes)


def image_axes(plan: ExportPlan, preprocess_in_graph: bool) -> list[int]:
    """The dynamic NCHW image axes (2: height, 3: width) of a plan, whatever the graph input's layout."""
    axes = plan.axes[INPUT_NAME]
    if preprocess_in_graph:
        return sorted(_NHWC_TO_NCHW[a] for a in axes if _NHWC_TO_NCHW[a] in (2, 3))
    return sorted(a for a in axes if a in (2, 3))


def add_cell_loops(plan: ExportPlan, loops: list[CellLoop]) -> None:
    """Record the model's cell loops in the plan; a scripted loop's step count is computed at run time, so
    axis 1 of each (B, T, ...) output becomes dynamic (``steps``) unless it already is."""
    plan.cell_loops = list(loops)
    if any(loop.exported_as == "onnx-loop" for loop in loops):
        for name, shape in plan.output_shapes.items():
            if len(shape) >= 3:
                plan.axes.setdefault(name, {}).setdefault(1, STEPS_AXIS_NAME)


def _dynamic_axes(
    model: Any,
    example: Any,
    options: ExportOptions,
    dynamic_axes: Mapping[str, Any] | None,
    names: list[str],
    n_outputs: int,
) -> dict[str, dict[int, str]]:
    """Dynamic axes of the graph input (in the graph's layout) and of every output."""
    given = {name: axes_mapping(name, axes) for name, axes in (dynamic_axes or {}).items()}
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
        out_axes = [given.get(n, {}) for n in names[:n_outputs]]
    elif callable(getattr(model, "output_axes", None)) and n_outputs == 1:
        out_axes = [dict(model.output_axes())]
    else:
        out_axes = probe_output_axes(model, example, in_axes)
    axes: dict[str, dict[int, str]] = {
        INPUT_NAME: {_NCHW_TO_NHWC[a]: n for a, n in in_axes.items()} if options.preprocess_in_graph else in_axes
    }
    for name, ax in zip(names, out_axes, strict=False):
        axes[name] = ax
    if options.probabilities:
        axes[PROBABILITIES_NAME] = dict(out_axes[0])
    return axes
