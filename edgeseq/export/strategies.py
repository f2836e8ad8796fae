"""The exporter strategies: each writes a raw ONNX file or raises; :func:`run_strategy` loads and tidies it.

* ``torchscript``: ``torch.onnx.export(..., dynamo=False)``; keeps every dynamic axis symbolic for all
  LSTM/GRU/RNN variants tried and emits one native RNN node per layer.
* ``dynamo``: ``torch.onnx.export(module, ..., dynamo=True)``; may freeze dynamic axes of some RNNs
  silently and fails on some CRNNs (docs/traps.md #1, #2, #4).
* ``dynamo-ep``: ``torch.export.export`` first, then the ONNX translation of the program (#4).

Every result is verified afterwards (:mod:`edgeseq.export.verify`): none is trusted as written.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from edgeseq.errors import ExportError
from edgeseq.export.loops import LoopRefused
from edgeseq.export.options import INPUT_NAME
from edgeseq.export.plan import ExportPlan


@contextlib.contextmanager
def quiet_exporter() -> Iterator[list[Any]]:
    """Silence the exporters' warnings and log spew, collecting the warnings for the caller to inspect.

    Failures still raise and are reported by the caller.
    """
    torch_logger = logging.getLogger("torch")
    old_level = torch_logger.level
    torch_logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    finally:
        torch_logger.setLevel(old_level)


_CELL_STEP = object()  # put into the recorded warnings each time an RNN cell runs while tracing


@contextlib.contextmanager
def _mark_cell_steps(module: Any, caught: list[Any]) -> Iterator[None]:
    """Append :data:`_CELL_STEP` to ``caught`` whenever one of ``module``'s RNN cells runs."""
    from torch import nn

    cells = [m for m in module.modules() if isinstance(m, nn.RNNCellBase)]
    handles = [cell.register_forward_pre_hook(lambda m, args: caught.append(_CELL_STEP)) for cell in cells]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _loop_tracer_warnings(caught: list[Any]) -> list[str]:
    """``file:line`` of TracerWarnings about Python conditions on tensor values raised *inside* a cell loop.

    Only warnings between the first and the last cell step count (a shape check before the loop is
    harmless; where no cell module marks the steps, all count), and only those raised outside torch itself
    (nn.LSTM's own shape checks raise the same warning).
    """
    import torch

    steps = [i for i, item in enumerate(caught) if item is _CELL_STEP]
    window = caught[steps[0] : steps[-1]] if steps else caught
    torch_dir = str(Path(torch.__file__).parent)
    found = []
    for w in window:
        if w is _CELL_STEP or not issubclass(w.category, torch.jit.TracerWarning):
            continue
        if "Python boolean" in str(w.message) and not str(w.filename).startswith(torch_dir):
            found.append(f"{w.filename}:{w.lineno}")
    return sorted(set(found))


def _traceable(module: Any, example: Any) -> Any:
    """``module``, or ``torch.jit.trace(module)`` when it holds scripted submodules.

    The TorchScript exporter refuses a scripted submodule called from traced code ("not part of the
    active trace"); tracing the whole model first keeps the scripted loops as ``prim::Loop`` (ONNX ``Loop``).
    """
    import torch

    if isinstance(module, torch.jit.ScriptModule):
        return module
    if not any(isinstance(m, torch.jit.ScriptModule) for m in module.modules()):
        return module
    return torch.jit.trace(module, (example,), check_trace=False)


def export_torchscript(module: Any, example: Any, out: Path, plan: ExportPlan) -> None:
    """The TorchScript exporter (``dynamo=False``) with the plan's dynamic axes.

    Raises:
        ExportError: while unrolling a cell loop, tracing met Python control flow on tensor values in the
            model's code (e.g. a stop at an end token): the graph would follow the example's path.
    """
    import torch

    dynamic_axes = None
    if not plan.static:
        dynamic_axes = {name: dict(axes) for name, axes in plan.axes.items() if axes}
    with quiet_exporter() as caught, _mark_cell_steps(module, caught):
        torch.onnx.export(
            _traceable(module, example),
            (example,),
            str(out),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=plan.output_names,
            opset_version=plan.opset,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
        )
    where = _loop_tracer_warnings(caught) if plan.unrolled else []
    if where:
        raise LoopRefused(
            f"tracing the cell loop in {plan.unrolled[0].module!r} met a condition on tensor values at {where[0]}: "
            "the exported graph would follow the example's path (an early stop?); script the loop "
            "(torch.jit.script on the decoder) so it exports as an ONNX Loop"
        )


def _dynamo_shapes(plan: ExportPlan) -> Any:
    import torch

    if plan.static:
        return None
    return ({axis: torch.export.Dim.DYNAMIC for axis in plan.axes[INPUT_NAME]},)


def _dynamo_example(example: Any, plan: ExportPlan) -> Any:
    # torch.export specialises sizes 0 and 1 (docs/traps.md #6): trace a dynamic batch with 2 samples
    if not plan.static and 0 in plan.axes[INPUT_NAME] and example.shape[0] == 1:
        return example.repeat(2, *([1] * (example.dim() - 1)))
    return example


def _save_program(program: Any, out: Path) -> None:
    if program is None:  # torch.onnx.export returns None only on the TorchScript path
        raise ExportError("the dynamo exporter returned no ONNX program")
    program.save(str(out))


def export_dynamo(module: Any, example: Any, out: Path, plan: ExportPlan) -> None:
    """The dynamo exporter on the module (``dynamo=True``)."""
    import torch

    with quiet_exporter():
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
        _save_program(program, out)


def export_dynamo_ep(module: Any, example: Any, out: Path, plan: ExportPlan) -> None:
    """``torch.export.export`` first, then the dynamo exporter on the exported program."""
    import torch

    with quiet_exporter():
        exported = torch.export.export(module, (_dynamo_example(example, plan),), dynamic_shapes=_dynamo_shapes(plan))
        program = torch.onnx.export(
            exported,
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=plan.output_names,
            opset_version=plan.opset,
            verbose=False,
        )
        _save_program(program, out)


# strategy name -> function; tests replace entries to simulate a failing exporter
STRATEGY_FUNCS: dict[str, Callable[[Any, Any, Path, ExportPlan], None]] = {
    "torchscript": export_torchscript,
    "dynamo": export_dynamo,
    "dynamo-ep": export_dynamo_ep,
}


def run_strategy(strategy: str, module: Any, example: Any, raw: Path, plan: ExportPlan) -> Any:
    """Export with ``strategy`` to ``raw`` and load the graph with the plan's dim names and fixed output sizes.

    Returns:
        The ``onnx.ModelProto``, external data (if the exporter wrote any) loaded into it.

    Raises:
        Exception: whatever the exporter raises; the caller reports it and tries the next strategy.
    """
    import onnx

    STRATEGY_FUNCS[strategy](module, example, raw, plan)
    proto = onnx.load(str(raw))  # external data (if the exporter wrote any) is pulled in here
    if strategy != "torchscript" and not plan.static:
        rename_dims(proto, plan.axes[INPUT_NAME])
    fix_static_output_dims(proto, plan)
    return proto


def fix_static_output_dims(proto: Any, plan: ExportPlan) -> None:
    """Declare the fixed size of every output axis that is not dynamic (tracers leave some symbolic).

    Safe because parity then compares the shapes at other batch sizes and input sizes.
    """
    for out in proto.graph.output:
        shape = plan.output_shapes.get(out.name)
        dims = out.type.tensor_type.shape.dim
        if shape is None or len(dims) != len(shape):
            continue
        dynamic = plan.axes.get(out.name, {})  # static plans name only the axes a decoder loop computes
        for axis, d in enumerate(dims):
            if axis not in dynamic and not d.HasField("dim_value"):
                d.dim_value = shape[axis]


def rename_dims(proto: Any, axes: Mapping[int, str]) -> None:
    """Give the dynamo paths' generated dim names (``s34``) the declared names, wherever they appear."""
    inp = next(v for v in proto.graph.input if v.name == INPUT_NAME)
    dims = inp.type.tensor_type.shape.dim
    mapping = {dims[a].dim_param: n for a, n in axes.items() if a < len(dims) and dims[a].dim_param}
    for value in [*proto.graph.input, *proto.graph.output, *proto.graph.value_info]:
        for d in value.type.tensor_type.shape.dim:
            if d.dim_param in mapping:
                d.dim_param = mapping[d.dim_param]
