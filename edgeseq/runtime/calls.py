"""One model's session calls: checked against the graph, split to fit the memory limit, errors wrapped.

:class:`ModelCalls` is what :class:`~edgeseq.runtime.predictor.Predictor` runs its session through:

* before a call, the graph estimate (:class:`~edgeseq.runtime.limits.MemoryPlanner`) at the call's
  input sizes refuses an input below the model's minimum size (a convolution or pooling layer would
  output a dimension of 0) and says how many samples fit the memory limit in one call;
* a batch is split into calls of at most that many samples and the outputs joined again, when every
  input and output has the same dynamic batch axis first (as exported models do);
* ONNX Runtime's own exceptions become edgeseq's, naming the model and the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeseq.errors import InferenceError, InputError, ResourceLimitError, first_line
from edgeseq.runtime.limits import MemoryPlanner, is_memory_failure


def shared_batch_axis(inputs: Sequence[Any], outputs: Sequence[Any]) -> bool:
    """Whether every input and output (ONNX Runtime NodeArgs) has the same symbolic first axis."""
    firsts = {node.shape[0] if node.shape else None for node in [*inputs, *outputs]}
    if len(firsts) != 1:
        return False
    name = firsts.pop()
    return isinstance(name, str) and bool(name)


class ModelCalls:
    """Checks, splits and runs one model's calls.

    Args:
        path: the model file, for messages.
        planner: the graph's memory planner (None when the graph cannot be decoded, e.g. ORT format:
            then only ``batch_size`` caps a call).
        batch_size: most samples per call.
        splittable: every input and output has the same dynamic batch axis first.
    """

    def __init__(self, path: Path, planner: MemoryPlanner | None, batch_size: int, splittable: bool) -> None:
        self.path = path
        self.planner = planner
        self.batch_size = batch_size
        self.splittable = splittable

    def run_all(self, session: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run ``feeds`` (checked arrays) in as many calls as the batch size and the memory limit need.

        Raises:
            InputError: an input below the model's minimum size, or refused by ONNX Runtime.
            ResourceLimitError: one sample (or an input that cannot be split) needs more memory than the limit.
            InferenceError: ONNX Runtime failed.
        """
        sizes = {array.shape[0] if array.ndim else None for array in feeds.values()}
        count = sizes.pop() if len(sizes) == 1 else None
        shapes = {name: tuple(array.shape) for name, array in feeds.items()}
        if not self.splittable or not count or count == 1:
            self.check(shapes, whole=True)
            return self.run(session, None, feeds)
        chunk = self.check(shapes, whole=False)
        parts = [
            self.run(session, None, {n: a[start : start + chunk] for n, a in feeds.items()})
            for start in range(0, count, chunk)
        ]
        return [p[0] if len(parts) == 1 else np.concatenate(p, axis=0) for p in zip(*parts, strict=True)]

    def check(self, shapes: dict[str, tuple[int, ...]], *, whole: bool) -> int:
        """Check inputs of these shapes against the graph: minimum size and memory; returns samples per call.

        Args:
            shapes: input name -> shape of this call.
            whole: the call cannot be split: the whole input must fit the memory limit.

        Raises:
            InputError: an input below the model's minimum size.
            ResourceLimitError: over the memory limit.
        """
        if self.planner is None:
            return self.batch_size
        one = {n: ((1, *s[1:]) if not whole else s) for n, s in shapes.items()}
        described = ", ".join(f"{n!r} {tuple(s)}" for n, s in shapes.items())
        estimate = self.planner.estimate(one)
        if estimate.too_small is not None:
            raise InputError(
                f"input {described}: too small for this model: its {estimate.too_small}; expected a larger input"
            )
        if whole:
            self.planner.check(shapes, f"model {str(self.path)!r} on input {described}")
            return self.batch_size
        count = next(iter(shapes.values()))[0]
        return self.planner.samples_per_call(shapes, min(self.batch_size, count))

    def run(self, session: Any, names: list[str] | None, feeds: dict[str, np.ndarray]) -> list[Any]:
        """``session.run`` with ONNX Runtime's own exceptions turned into edgeseq's, naming the model and input.

        Raises:
            ResourceLimitError: ONNX Runtime could not allocate memory.
            InputError: ONNX Runtime refused the input (``InvalidArgument``).
            InferenceError: any other ONNX Runtime failure.
        """
        try:
            return list(session.run(names, feeds))
        except Exception as exc:  # ORT raises its pybind11 classes (Fail, InvalidArgument, ...), not ours
            described = ", ".join(f"{n!r} {a.dtype}{tuple(a.shape)}" for n, a in feeds.items())
            reason = first_line(exc, 300, with_type=True)
            if is_memory_failure(exc):
                raise ResourceLimitError(
                    f"model {str(self.path)!r} ran out of memory on input {described}: {reason}; "
                    "expected smaller inputs or batches (or a higher memory limit)"
                ) from None
            if type(exc).__name__ == "InvalidArgument":
                raise InputError(
                    f"model {str(self.path)!r} refused input {described}: {reason}; expected what its graph declares"
                ) from None
            raise InferenceError(f"model {str(self.path)!r} failed on input {described}: {reason}") from None
