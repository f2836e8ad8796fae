"""Finding loops over RNN cells before export by counting calls, and the export's policy for them.

See :mod:`edgeseq.export.loops` for what each kind of loop becomes. Calls are counted with forward
pre-hooks on ``nn.RNNCellBase`` modules and a ``TorchFunctionMode`` for the cell kernels (which also sees
``torch._VF.lstm_cell`` called without a module); TorchScript submodules are read statically, since
neither hook fires inside TorchScript.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from edgeseq.errors import ExportError, first_line
from edgeseq.export.loops import NATIVE_HINT, CellLoop, LoopRefused

CELL_KERNELS = ("lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell")
# sizes of each dynamic image axis tried besides the example's, as factors of it
SIZE_FACTORS = (0.5, 2.0)
# random inputs per size besides the example; more than one exposes loops that stop on the data
SAMPLES_PER_SIZE = 3


class _KernelCounter(TorchFunctionMode):
    """Counts torch-level cell kernels (``torch._VF.lstm_cell`` & co.), with or without a cell module."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = getattr(func, "__name__", "")
        if name in CELL_KERNELS:
            self.counts[name] += 1
        return func(*args, **(kwargs or {}))


def _cell_kernel(module: nn.Module) -> str:
    """The kernel a cell module calls (to tell its calls apart from bare kernel calls)."""
    if isinstance(module, nn.LSTMCell):
        return "lstm_cell"
    if isinstance(module, nn.GRUCell):
        return "gru_cell"
    return "rnn_relu_cell" if getattr(module, "nonlinearity", "tanh") == "relu" else "rnn_tanh_cell"


def count_cell_calls(model: nn.Module, x: torch.Tensor) -> Counter[str]:
    """Calls per RNN cell module, and per cell kernel not explained by those modules, in one forward pass."""
    cells = {name: m for name, m in model.named_modules() if isinstance(m, nn.RNNCellBase)}
    counts: Counter[str] = Counter()

    def hook(name: str) -> Callable[..., None]:
        return lambda module, args: counts.update([name])

    handles = [m.register_forward_pre_hook(hook(name)) for name, m in cells.items()]
    kernels = _KernelCounter()
    try:
        with torch.inference_mode(), kernels:
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    for kernel, total in kernels.counts.items():
        explained = sum(counts[name] for name, m in cells.items() if _cell_kernel(m) == kernel)
        if total > explained:
            counts[f"<{kernel}>"] = total - explained
    return counts


def _inputs(example: torch.Tensor, axes: Sequence[int]) -> Iterator[tuple[int | None, int, torch.Tensor]]:
    """(axis, size, input): the example, random inputs at its size, and at the other sizes of each axis."""
    generator = torch.Generator().manual_seed(0)
    yield None, 0, example
    plans: list[tuple[int | None, int]] = [(None, 0)]
    for image_axis in axes:
        base = int(example.shape[image_axis])
        plans += [(image_axis, s) for s in sorted({max(1, int(base * f)) for f in SIZE_FACTORS} - {base})]
    for axis, size in plans:
        shape = list(example.shape)
        if axis is not None:
            shape[axis] = size
        for _ in range(SAMPLES_PER_SIZE):
            yield axis, size, torch.randn(shape, generator=generator)


def _classify(name: str, kind: str, runs: dict[tuple[int | None, int], list[int]], example: torch.Tensor) -> CellLoop:
    """One loop's dependence from its call counts per (axis, size); ``(None, 0)`` is the example's size."""
    base_count = runs[(None, 0)][0]
    for (axis, size), counts in runs.items():
        if len(set(counts)) > 1:
            return CellLoop(name, kind, {size or int(example.shape[-1]): counts}, "content", axis)
    for (axis, _size), counts in runs.items():
        if axis is not None and counts[0] != base_count:
            along = {int(example.shape[axis]): [base_count]}
            along.update({s: [c[0]] for (a, s), c in runs.items() if a == axis})
            return CellLoop(name, kind, dict(sorted(along.items())), "size", axis)
    return CellLoop(name, kind, {int(example.shape[-1]): [base_count]}, "fixed")


def _kind(model: nn.Module, name: str) -> str:
    if name.startswith("<"):
        return f"{name.strip('<>')} kernel"
    return f"nn.{type(model.get_submodule(name)).__name__}"


def scripted_cell_loops(model: nn.Module) -> list[CellLoop]:
    """TorchScript submodules whose graph runs an RNN cell inside a ``prim::Loop`` (hooks cannot see inside).

    Only the outermost scripted modules are read: an inner one is part of its parent's inlined graph.
    """
    found = []
    scripted: list[str] = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.jit.ScriptModule):
            continue
        if any(name.startswith(f"{outer}.") for outer in scripted) or not hasattr(module, "forward"):
            continue
        scripted.append(name)
        try:
            text = str(module.inlined_graph)
        except RuntimeError:  # a scripted module without a forward graph
            continue
        kernels = [k for k in CELL_KERNELS if f"aten::{k}" in text]
        if kernels and "prim::Loop" in text:
            kind = f"scripted {module.original_name}: loop over {', '.join(kernels)}"
            found.append(CellLoop(name or "<model>", kind, None, "runtime", loops=text.count("prim::Loop")))
    return found


def find_cell_loops(model: nn.Module, example: torch.Tensor, axes: Sequence[int]) -> list[CellLoop]:
    """Every RNN cell the model runs more than once per forward pass, and how its step count behaves.

    Args:
        model: the module about to be exported (in eval mode).
        example: the NCHW export example.
        axes: the dynamic NCHW image axes (2 and/or 3) whose other sizes are tried.

    Raises:
        ExportError: torch fails on the example itself.
    """
    found = scripted_cell_loops(model)
    runs: dict[tuple[int | None, int], list[Counter[str]]] = {}
    for axis, size, x in _inputs(example, axes):
        try:
            counts = count_cell_calls(model, x)
        except Exception as exc:  # a size the model refuses says nothing about its loops
            if axis is None and size == 0 and not runs:
                raise ExportError(f"the model fails on the export example: {first_line(exc, with_type=True)}") from None
            continue
        runs.setdefault((axis, size), []).append(counts)
        if len(runs) == 1 and len(runs[(None, 0)]) == 1 and not counts:
            return found  # no cell ran on the example (a plain CRNN): no need to try other inputs
    names = sorted({name for rs in runs.values() for c in rs for name in c})
    for name in names:
        per_input = {key: [c.get(name, 0) for c in rs] for key, rs in runs.items()}
        if max(n for counts in per_input.values() for n in counts) > 1:
            found.append(_classify(name, _kind(model, name), per_input, example))
    return found


def refuse_cells(model: nn.Module) -> None:
    """``require_native_rnn``: refuse any RNN cell module, as edgeseq did before cell loops were accepted.

    Raises:
        ExportError: naming the first cell module.
    """
    for name, module in model.named_modules():
        if isinstance(module, nn.RNNCellBase):
            raise ExportError(
                f"module {name!r} is an nn.{type(module).__name__}: a Python loop over cells exports as "
                f"per-timestep ops (unrolled); {NATIVE_HINT} (export.require_native_rnn is on)"
            )


def plan_cell_loops(
    model: nn.Module, example: torch.Tensor, axes: Sequence[int], require_native: bool = False
) -> list[CellLoop]:
    """The cell loops the export will carry, after refusing those it cannot export faithfully.

    Raises:
        ExportError: one line naming the module and the reason: a loop whose length follows the input size
            or its content, or any cell loop with ``require_native``.
    """
    if require_native:
        refuse_cells(model)
    loops = find_cell_loops(model, example, axes)
    for loop in loops:
        if require_native:
            raise ExportError(
                f"module {loop.module!r} ({loop.kind}) runs an RNN cell step by step; {NATIVE_HINT} "
                "(export.require_native_rnn is on)"
            )
        if loop.dependence in ("size", "content"):
            raise LoopRefused(loop.refusal())
    return loops
