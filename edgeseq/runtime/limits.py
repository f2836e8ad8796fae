"""Memory limits for models and inputs from elsewhere: estimate from the graph, refuse above the limit.

A valid ONNX file of a few hundred bytes can ask ONNX Runtime for 100 GB (``ConstantOfShape``,
``Expand``, ``Tile``, ``Resize`` with large constants), and so can a legal model on a huge input; on
Linux the kernel then kills the whole process. Before a model runs, :func:`estimate_memory` works out
from the graph (:mod:`edgeseq.runtime.shapes` over the input sizes) what running it takes:

* the initializers (weights), as stored;
* the most intermediate tensor bytes alive at once, walking the nodes in order, rounded up to the
  next power of two the way ONNX Runtime's CPU arena grows its regions;
* the graph outputs once more, as ONNX Runtime's Python binding copies them into numpy arrays.

:func:`check_model_memory` refuses a model whose estimate at its declared input size (an edgeseq
model's preprocessing size, batch 1) exceeds the limit (:func:`edgeseq.memory.memory_limit`: half the
machine's memory unless ``EDGESEQ_MEMORY_LIMIT`` says otherwise); :class:`MemoryPlanner` does the same
per call for concrete inputs and says how many samples fit in one call. Where the graph cannot be
decoded (ORT format) or some tensor's size stays unknown, the estimate is a lower bound
(``complete=False``): such a model's first contact runs in a child process whose address space is
capped at the limit (:mod:`edgeseq.runtime.isolation`), so a bomb kills the child, not the caller.
"""

from __future__ import annotations

import json
import os
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgeseq.errors import ResourceLimitError
from edgeseq.memory import format_bytes, limit_source, memory_limit
from edgeseq.runtime.modelfile.graph_reader import Graph, read_graph
from edgeseq.runtime.shapes import Inference, Shape, infer

# A child process's address space beyond the memory limit: the interpreter, numpy, onnxruntime and
# thread stacks take about 200 MB of address space before any model is loaded (measured: VmPeak
# 195 MB on onnxruntime 1.32 with one thread).
CHILD_ADDRESS_SPACE_HEADROOM = 1024**3
# Estimates kept per MemoryPlanner (one per distinct set of input shapes).
_CACHE_SIZE = 64
# What ONNX Runtime and the C++ runtime say when an allocation fails.
MEMORY_FAILURE_MARKERS = ("Failed to allocate memory", "bad_alloc", "MemoryError", "Cannot allocate memory")


@dataclass(frozen=True)
class MemoryEstimate:
    """What running a model once on given input sizes takes, by the graph.

    Attributes:
        initializer_bytes: the weights.
        peak_bytes: the most intermediate tensor bytes alive at once (tensors of known size only).
        arena_bytes: ``peak_bytes`` rounded up to a power of two, as ONNX Runtime's arena grows.
        output_bytes: the graph outputs, copied once more into numpy arrays.
        largest: ``(op, tensor name, bytes)`` of the largest tensor, if any size was known.
        complete: every tensor's size was known (otherwise the estimate is a lower bound).
        too_small: the first layer whose output would have a dimension of 0 or less (the input is
            below the model's minimum size), or None.
    """

    initializer_bytes: int
    peak_bytes: int
    arena_bytes: int
    output_bytes: int
    largest: tuple[str, str, int] | None
    complete: bool
    too_small: str | None = None

    @property
    def total_bytes(self) -> int:
        """The estimate compared with the limit."""
        return self.initializer_bytes + self.arena_bytes + self.output_bytes

    def describe(self) -> str:
        """``"2.0 GiB (weights 1.0 MiB, tensors 2.0 GiB; largest: ConstantOfShape makes 1.9 GiB)"``."""
        text = (
            f"{format_bytes(self.total_bytes)} (weights {format_bytes(self.initializer_bytes)}, "
            f"tensors {format_bytes(self.arena_bytes + self.output_bytes)}"
        )
        if self.largest is not None:
            op, name, size = self.largest
            text += f"; largest: {op} {name!r} makes {format_bytes(size)}"
        return text + ")"


def _arena(peak: int) -> int:
    """ONNX Runtime's CPU arena extends by doubling: what it reserves for ``peak`` bytes."""
    return 0 if peak <= 0 else 1 << (peak - 1).bit_length()


def estimate_memory(graph: Graph, feeds: Mapping[str, Shape]) -> MemoryEstimate:
    """Estimate the memory of one run of ``graph`` on inputs of the shapes ``feeds``.

    Args:
        graph: the decoded graph (:func:`edgeseq.runtime.modelfile.graph_reader.read_graph`).
        feeds: input name → concrete shape (inputs left out keep their declared shape).

    Returns:
        A :class:`MemoryEstimate`.
    """
    inference = infer(graph, dict(feeds))
    last_use: dict[str, int] = {}
    for index, node in enumerate(graph.nodes):
        for name in node.inputs:
            if name:
                last_use[name] = index
    outputs = {spec.name for spec in graph.outputs}
    live = peak = 0
    frees: dict[int, int] = defaultdict(int)
    largest: tuple[str, str, int] | None = None
    for index, node in enumerate(graph.nodes):
        for name in node.outputs:
            size = inference.values[name].nbytes if name in inference.values else None
            if not size:
                continue
            live += size
            frees[len(graph.nodes) if name in outputs else max(last_use.get(name, index), index)] += size
            if largest is None or size > largest[2]:
                largest = (node.op, name, size)
        peak = max(peak, live)
        live -= frees.pop(index, 0)
    return MemoryEstimate(
        initializer_bytes=sum(t.nbytes for t in graph.initializers.values()),
        peak_bytes=peak,
        arena_bytes=_arena(peak),
        output_bytes=sum(_size(inference, name) for name in outputs),
        largest=largest,
        complete=_complete(inference, graph),
        too_small=inference.too_small,
    )


def _size(inference: Inference, name: str) -> int:
    value = inference.values.get(name)
    return (value.nbytes or 0) if value is not None else 0


def _complete(inference: Inference, graph: Graph) -> bool:
    """Every node has a rule and every value's size came out known."""
    if inference.unknown_ops:
        return False
    return all(inference.values[n].nbytes is not None for node in graph.nodes for n in node.outputs if n)


def declared_feeds(graph: Graph, batch: int = 1) -> dict[str, tuple[int, ...]]:
    """The input shapes a model declares, with its dynamic axes filled in.

    Fixed dimensions stay; the first dynamic axis is the batch (``batch``); an edgeseq model's
    ``height`` and ``width`` axes take its preprocessing size (``max_width`` for variable-width lines);
    any other dynamic axis is 1. Inputs without a declared shape are left out.
    """
    meta = _edgeseq_sizes(graph.metadata)
    feeds: dict[str, tuple[int, ...]] = {}
    for spec in graph.inputs:
        if spec.name in graph.initializers or spec.shape is None:
            continue
        dims = []
        for index, dim in enumerate(spec.shape):
            if isinstance(dim, int) and dim > 0:
                dims.append(dim)
            elif index == 0:
                dims.append(batch)
            else:
                dims.append(meta.get(str(dim), 1))
        feeds[spec.name] = tuple(dims)
    return feeds


def _edgeseq_sizes(metadata: Mapping[str, str]) -> dict[str, int]:
    """``{"height": H, "width": W}`` from edgeseq's preprocessing metadata (empty when absent or odd)."""
    try:
        pre = json.loads(metadata.get("edgeseq.preprocess", "{}"))
    except ValueError:
        return {}
    if not isinstance(pre, dict):
        return {}
    width = pre.get("max_width") if pre.get("resize") == "height" else pre.get("width")
    sizes = {"height": pre.get("height"), "width": width}
    return {k: v for k, v in sizes.items() if isinstance(v, int) and not isinstance(v, bool) and v > 0}


def refuse(what: str, estimate: MemoryEstimate, budget: int, limit: int | str | None) -> ResourceLimitError:
    """The one-line error for an estimate above the limit."""
    return ResourceLimitError(
        f"{what} needs an estimated {estimate.describe()}, above the memory limit of {format_bytes(budget)} "
        f"({limit_source(limit)}); expected a model and inputs that fit",
        needed=estimate.total_bytes,
        limit=budget,
    )


def check_model_memory(
    path: str | os.PathLike, *, limit: int | str | None = None, graph: Graph | None = None
) -> MemoryEstimate | None:
    """Refuse a model whose one run at its declared input size (batch 1) needs more memory than the limit.

    Args:
        path: the model file (already through ``check_model_file``).
        limit: bytes or a size such as ``"8G"``; default :func:`edgeseq.memory.memory_limit`.
        graph: the decoded graph, if the caller has it.

    Returns:
        The estimate, or None for a model whose graph cannot be decoded here (ORT format).

    Raises:
        ResourceLimitError: naming the model, the estimate, its largest tensor and the limit.
    """
    graph = graph if graph is not None else read_graph(path)
    if graph is None:
        return None
    budget = memory_limit(limit)
    feeds = declared_feeds(graph)
    estimate = estimate_memory(graph, feeds)
    if estimate.total_bytes > budget:
        shapes = ", ".join(f"{name} {list(shape)}" for name, shape in feeds.items()) or "no inputs"
        raise refuse(f"model {str(path)!r} run once at its declared input size ({shapes})", estimate, budget, limit)
    return estimate


class MemoryPlanner:
    """Per-call memory checks for one model: estimates by input shapes (cached) and how many samples fit.

    Args:
        graph: the decoded graph.
        limit: bytes or a size such as ``"8G"``; default :func:`edgeseq.memory.memory_limit`.
    """

    def __init__(self, graph: Graph, limit: int | str | None = None) -> None:
        self.graph = graph
        self.limit = limit
        self.budget = memory_limit(limit)
        self._cache: dict[tuple[tuple[str, Shape], ...], MemoryEstimate] = {}
        self._lock = threading.Lock()  # one Predictor (and its planner) may serve many threads

    def estimate(self, feeds: Mapping[str, Shape]) -> MemoryEstimate:
        """:func:`estimate_memory` for these input shapes (remembered for the next call with the same shapes)."""
        key = tuple(sorted((name, tuple(shape)) for name, shape in feeds.items()))
        with self._lock:
            found = self._cache.get(key)
        if found is None:
            found = estimate_memory(self.graph, feeds)
            with self._lock:
                if len(self._cache) >= _CACHE_SIZE:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = found
        return found

    def samples_per_call(self, feeds: Mapping[str, Shape], wanted: int) -> int:
        """How many samples (along axis 0 of every input) fit in one call, at most ``wanted``.

        Tensor memory grows linearly with the batch: the estimates at 1 and 2 samples give the part
        per sample, and the largest batch whose arena and outputs stay under the limit is taken.

        Raises:
            ResourceLimitError: not even one sample fits.
        """
        one = self.estimate({name: (1, *shape[1:]) for name, shape in feeds.items()})
        if one.total_bytes > self.budget:
            shapes = ", ".join(f"{name} {[1, *shape[1:]]}" for name, shape in feeds.items())
            raise refuse(f"one sample ({shapes})", one, self.budget, self.limit)
        if wanted <= 1:
            return 1
        two = self.estimate({name: (2, *shape[1:]) for name, shape in feeds.items()})
        peak_step = max(two.peak_bytes - one.peak_bytes, 0)
        output_step = max(two.output_bytes - one.output_bytes, 0)

        def fits(batch: int) -> bool:
            more = batch - 1
            arena = _arena(one.peak_bytes + more * peak_step)
            return one.initializer_bytes + arena + one.output_bytes + more * output_step <= self.budget

        low, high = 1, wanted  # fits(low) holds; find the largest batch that fits
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if fits(middle) else (low, middle - 1)
        return low

    def check(self, feeds: Mapping[str, Shape], what: str) -> MemoryEstimate:
        """Refuse one call on inputs of these shapes above the limit.

        Raises:
            ResourceLimitError: naming ``what`` (the model and its inputs) and the estimate.
        """
        estimate = self.estimate(feeds)
        if estimate.total_bytes > self.budget:
            raise refuse(what, estimate, self.budget, self.limit)
        return estimate


def is_memory_failure(text: Any) -> bool:
    """Whether an error message (or exception) says an allocation failed."""
    message = str(text)
    return any(marker in message for marker in MEMORY_FAILURE_MARKERS)
