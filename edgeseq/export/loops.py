"""Python loops over RNN cells (attention decoders): found before export, and what the export does with them.

A module that calls ``nn.LSTMCell``/``nn.GRUCell``/``nn.RNNCell`` (or the bare ``torch`` cell kernels) in a
Python loop has no native ONNX node: the TorchScript tracer writes every step out (docs/traps.md #9). That is
faithful only when the number of steps is the same for every input, so the loop is measured before export
by counting calls (forward pre-hooks on the cells, a ``TorchFunctionMode`` for the kernels) at the example
size, at half and twice the size of each dynamic image axis, and on several random inputs per size:

* ``fixed`` (the same count everywhere, e.g. SAR's 30 decoding steps): exported unrolled; the step count is
  recorded in the manifest and the export summary.
* ``size`` (the count follows the input size, e.g. one step per column): refused. Tracing would silently
  keep the example's count at every other size, and ``torch.export`` specialises it the same way.
* ``content`` (the count differs between inputs of one size, e.g. a stop at the end token): refused. Tracing
  would keep the example's path.
* ``runtime``: the loop is inside a ``torch.jit.script``-ed submodule (hooks cannot see into TorchScript; its
  graph has an ``aten::*_cell`` inside a ``prim::Loop``). The model is traced around it and exports as one
  ONNX ``Loop`` whose trip count is computed at run time (the only route that also keeps a data-dependent
  stop on torch 2.14). Verification accepts that many decoder ``Loop`` nodes and still requires every
  ``nn.LSTM``/``nn.GRU``/``nn.RNN`` as native nodes of the main graph.

With ``ExportOptions(require_native_rnn=True)`` any RNN cell is refused, as before cell loops were accepted.

This module is torch-free (the plan imports it); the detection itself is :mod:`edgeseq.export.loop_detect`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeseq.errors import ExportError

_AXIS_NAMES = {2: "height", 3: "width"}
NATIVE_HINT = "expected nn.LSTM/nn.GRU/nn.RNN, which export as one native node per layer"
SCRIPT_HINT = (
    "script the loop (torch.jit.script on the decoder) so it exports as an ONNX Loop, or run a fixed number of steps"
)


class LoopRefused(ExportError):
    """A cell loop no exporter path can write faithfully: the export stops at once instead of trying the others."""


@dataclass
class CellLoop:
    """One RNN cell (or cell kernel) that a forward pass runs more than once.

    Attributes:
        module: the cell's qualified name (``decoder.cell1``), or ``<lstm_cell>`` for a bare kernel.
        kind: ``LSTMCell``, ``GRUCell``, ``RNNCell``, ``lstm_cell kernel``, or ``scripted ...``.
        calls: input size -> the number of calls for each input tried at that size (None: scripted).
        dependence: ``fixed``, ``size``, ``content`` or ``runtime`` (see the module docstring).
        axis: the NCHW image axis whose sizes were tried (None: the example's size only).
        loops: ``prim::Loop`` nodes of a scripted module (each becomes an ONNX ``Loop``); 0 otherwise.
    """

    module: str
    kind: str
    calls: dict[int, list[int]] | None
    dependence: str
    axis: int | None = None
    loops: int = 0

    @property
    def steps(self) -> int | None:
        """The number of steps of a ``fixed`` loop (None for the other kinds)."""
        if self.dependence != "fixed" or not self.calls:
            return None
        return next(iter(self.calls.values()))[0]

    @property
    def exported_as(self) -> str:
        """``unrolled`` (every step written out) or ``onnx-loop`` (one ONNX Loop)."""
        return "onnx-loop" if self.dependence == "runtime" else "unrolled"

    def to_dict(self) -> dict[str, Any]:
        """What the manifest and :meth:`ExportResult.to_json` record."""
        return {
            "module": self.module,
            "kind": self.kind,
            "dependence": self.dependence,
            "exported_as": self.exported_as,
            "steps": self.steps,
            "calls": {str(size): counts for size, counts in (self.calls or {}).items()} or None,
        }

    def refusal(self) -> str:
        """Why a ``size`` or ``content`` loop cannot be exported (one line, naming the module)."""
        where = f"module {self.module!r} ({self.kind})"
        calls = self.calls or {}
        if self.dependence == "size":
            axis = _AXIS_NAMES.get(self.axis or 3, "size")
            per_size = "/".join(str(c[0]) for c in calls.values())
            sizes = "/".join(str(s) for s in calls)
            return (
                f"{where} is called {per_size} times at {axis}s {sizes}: a loop whose length follows the input, "
                f"which tracing would unroll to the example's count for every {axis}; {NATIVE_HINT}, or {SCRIPT_HINT}"
            )
        size, counts = next((s, c) for s, c in calls.items() if len(set(c)) > 1)
        return (
            f"{where} is called {'/'.join(map(str, counts))} times for inputs of one size ({size}): the loop stops "
            f"on the data (an end token?), which tracing would replace by the example's path; {SCRIPT_HINT}"
        )
