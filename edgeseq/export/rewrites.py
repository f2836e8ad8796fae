"""Module rewrites and wrappers applied to a deep copy of a model before ONNX export.

Rewrites (export-hostile pattern -> equivalent export-friendly one):

* ``nn.AdaptiveAvgPool2d((1, None))`` -> ``x.mean(dim=-2, keepdim=True)``, ``((None, 1))`` ->
  ``x.mean(dim=-1, keepdim=True)``; the same for ``AdaptiveMaxPool2d`` with ``amax``.
  Why: CRNNs collapse the height with adaptive pooling, and the TorchScript exporter refuses it
  with a dynamic width ("adaptive pooling, since output_size is not constant", docs/traps.md #5,
  pytorch#42653). When the pooled axis goes to size 1 and the other is kept (``None``), adaptive
  pooling *is* a mean (max) over that axis, so the rewrite is exact; it exports as ``ReduceMean``
  (``ReduceMax``) and keeps the width symbolic on both exporter paths. Other output sizes are not
  equivalent to a reduction and are left alone. Calls to ``F.adaptive_avg_pool2d`` inside a
  ``forward`` cannot be rewritten from outside; write them as ``x.mean(...)``.

The original model is never modified: :func:`edgeseq.parity.check_parity` compares the export
against the *original* module, which is what proves each rewrite equivalent.

Wrappers (added around the model on request):

* :class:`InGraphPreprocess`: uint8 NHWC pixels in; cast, scale to 0..1, optional invert,
  normalise with mean/std and transpose to NCHW inside the graph, so an app can pass raw pixels.
  Resizing stays outside the graph (it depends on the image's original size).
* :class:`WithProbabilities`: a softmax over the class axis as a second output beside the logits.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


class AxisReduce(nn.Module):
    """``x.mean(dim, keepdim=True)`` or ``x.amax(dim, keepdim=True)``: the export-friendly adaptive pooling."""

    def __init__(self, dim: int, mode: str) -> None:
        super().__init__()
        self.dim = dim
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reduce ``x`` over :attr:`dim`, keeping it as size 1."""
        if self.mode == "mean":
            return x.mean(dim=self.dim, keepdim=True)
        return x.amax(dim=self.dim, keepdim=True)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, mode={self.mode!r}"


def _axis_reduce_for(module: nn.Module) -> AxisReduce | None:
    """The equivalent AxisReduce for an adaptive 2-D pooling, or None when it is not a pure reduction."""
    if isinstance(module, nn.AdaptiveAvgPool2d):
        mode = "mean"
    elif isinstance(module, nn.AdaptiveMaxPool2d) and not module.return_indices:
        mode = "amax"
    else:
        return None
    size = module.output_size
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        return None  # an int n means (n, n): not a single-axis reduction
    # negative dims work for batched (N, C, H, W) and unbatched (C, H, W) inputs alike
    if tuple(size) == (1, None):
        return AxisReduce(-2, mode)
    if tuple(size) == (None, 1):
        return AxisReduce(-1, mode)
    return None


def rewrite_for_export(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """Return a deep copy of ``model`` with export-hostile modules replaced, and what was replaced.

    Returns:
        (the rewritten copy, ``["cnn.pool: AdaptiveAvgPool2d((1, None)) -> mean(dim=-2)", ...]``)
    """
    model = copy.deepcopy(model)
    applied: list[str] = []
    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            replacement = _axis_reduce_for(child)
            if replacement is None:
                continue
            setattr(parent, child_name, replacement)
            where = f"{parent_name}.{child_name}" if parent_name else child_name
            applied.append(
                f"{where}: {type(child).__name__}({tuple(child.output_size)}) -> "
                f"{replacement.mode}(dim={replacement.dim}, keepdim=True)"
            )
    return model, applied


class InGraphPreprocess(nn.Module):
    """uint8 (B, H, W, C) pixels -> the model's normalised float (B, C, H, W) input -> the model.

    Implements :func:`edgeseq.runtime.preprocess.normalize` in torch ops, minus the resize.
    """

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, model: nn.Module, spec: Mapping[str, Any]) -> None:
        super().__init__()
        self.model = model
        channels = 1 if spec.get("color", "L") == "L" else 3
        mean = torch.tensor([float(v) for v in spec.get("mean", [0.0])], dtype=torch.float32)
        std = torch.tensor([float(v) for v in spec.get("std", [1.0])], dtype=torch.float32)
        self.invert = bool(spec.get("invert", False))
        # the same operations in the same order as the numpy runtime, so both round alike
        self.register_buffer("mean", mean.expand(channels).clone().view(1, channels, 1, 1))
        self.register_buffer("std", std.expand(channels).clone().view(1, channels, 1, 1))

    def forward(self, pixels: torch.Tensor) -> Any:
        """pixels uint8 (B, H, W, C) -> model outputs."""
        x = pixels.permute(0, 3, 1, 2).to(torch.float32) / 255.0
        if self.invert:
            x = 1.0 - x
        return self.model((x - self.mean) / self.std)


class WithProbabilities(nn.Module):
    """Returns ``(logits, softmax(logits, dim=-1))``: the class axis is last for both tasks."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x -> (logits, probabilities)."""
        logits = self.model(x)
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        return logits, torch.softmax(logits, dim=-1)
