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
inference; one native RNN node per ``nn.LSTM``/``nn.GRU``/``nn.RNN`` layer in the main graph and no
``Loop``/``Scan`` with an RNN-like body beyond the model's scripted decoder loops; every declared dynamic axis still symbolic in the graph's input *and*
outputs; and (``verify=True``) :func:`edgeseq.parity.check_parity` against the original module at
batch sizes 1, 2, 7 and at three sizes of the dynamic image axis other than the example. If no
path passes, :class:`~edgeseq.errors.ExportError` lists each path and why it failed.

Export-hostile patterns are rewritten on a deep copy first (:mod:`edgeseq.export.rewrites`):
adaptive pooling to ``(1, None)``/``(None, 1)`` becomes an exact mean/max over that axis. A model
quantized with PyTorch's ``quantize_dynamic`` is exported through a float copy with the dequantized
weights, other PyTorch quantization is refused (:mod:`edgeseq.export.quantized`). Loops over RNN cells
(attention decoders) are measured first: a fixed number of steps exports unrolled, a scripted loop as one
ONNX ``Loop``, a length that follows the input is refused (:mod:`edgeseq.export.loops`,
:mod:`edgeseq.export.loop_detect`).

Opset: default 18 (the lowest opset both paths produce), minimum 14 (TorchScript path),
maximum 20. Files are staged in a temporary folder beside the destination and renamed into place
only after every check passed, so a failed or interrupted export leaves nothing under the final
name. Models whose protobuf would exceed 2 GB are saved with external data (``<name>.data``).

Modules: :mod:`~edgeseq.export.options` (options, result, constants), :mod:`~edgeseq.export.plan`
(dynamic axes), :mod:`~edgeseq.export.strategies` (the exporters), :mod:`~edgeseq.export.verify`
(structural checks), :mod:`~edgeseq.export.attempts` (trying strategies), :mod:`~edgeseq.export.metadata`,
:mod:`~edgeseq.export.staging` (files), :mod:`~edgeseq.export.rewrites`, :mod:`~edgeseq.export.quantized`,
:mod:`~edgeseq.export.loops` and :mod:`~edgeseq.export.loop_detect` (cell loops), :mod:`~edgeseq.export.api`.

Importing this package does not import torch (profiles, and so the CLI, read :class:`ExportOptions`
before torch is needed): :func:`export_onnx`, :func:`export_checkpoint` and the rewrite modules are
loaded from :mod:`edgeseq.export.api` / :mod:`edgeseq.export.rewrites` on first access (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from edgeseq.export.metadata import checkpoint_metadata
from edgeseq.export.options import (
    DEFAULT_OPSET,
    DYNAMO_MIN_OPSET,
    EXPORTERS,
    INPUT_NAME,
    LOGITS_NAME,
    MAX_OPSET,
    MIN_OPSET,
    PROBABILITIES_NAME,
    STRATEGIES,
    ExportOptions,
    ExportResult,
)
from edgeseq.export.staging import EXTERNAL_DATA_THRESHOLD_BYTES

if TYPE_CHECKING:
    from edgeseq.export.api import export_checkpoint, export_onnx

# public name -> the torch-importing module that defines it
_LAZY = {
    "export_onnx": "edgeseq.export.api",
    "export_checkpoint": "edgeseq.export.api",
}

__all__ = [
    "DEFAULT_OPSET",
    "DYNAMO_MIN_OPSET",
    "EXPORTERS",
    "EXTERNAL_DATA_THRESHOLD_BYTES",
    "INPUT_NAME",
    "LOGITS_NAME",
    "MAX_OPSET",
    "MIN_OPSET",
    "PROBABILITIES_NAME",
    "STRATEGIES",
    "ExportOptions",
    "ExportResult",
    "checkpoint_metadata",
    "export_checkpoint",
    "export_onnx",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgeseq.export' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
