"""The inputs a parity check runs: random batches, sizes of each dynamic image axis, given inputs and real samples.

Everything here speaks NCHW: a graph with preprocessing inside (uint8 NHWC pixels) has its axes
mapped onto NCHW positions, and gets pixels made from the same normalised arrays torch gets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from edgeseq.checkpoint import checkpoint_datasets
from edgeseq.errors import InputError, first_line
from edgeseq.manifest import read_manifest
from edgeseq.runtime.preprocess import pixels_from_normalized

DEFAULT_BATCH_SIZES = (1, 2, 7)
SIZE_CASE_BATCH = 2  # batch size used for the input-size cases
MIN_DYNAMIC_SIZES = 3
_NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


@dataclass
class GraphInput:
    """The ONNX model's one image input, with its axes given as NCHW positions."""

    name: str
    uint8_nhwc: bool
    channels: int | None
    dynamic: dict[int, str]  # NCHW axis -> symbolic name
    static: dict[int, int]  # NCHW axis -> fixed size


@dataclass
class ParityCase:
    """One input batch: its kind ("random", "size", "inputs" or "sample") and the array fed to ONNX Runtime."""

    kind: str
    feed: np.ndarray


@dataclass
class CaseSet:
    """Every case of a check and the (height, width) of each size run (the base size first)."""

    cases: list[ParityCase]
    sizes: list[list[int]]


def graph_input(session: Any) -> GraphInput:
    """Describe an ONNX Runtime session's single image input.

    Raises:
        InputError: the model has more than one input, or an input that is not rank 4.
    """
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise InputError(f"ONNX model has {len(inputs)} inputs ({[i.name for i in inputs]}); expected one image input")
    inp = inputs[0]
    if len(inp.shape) != 4:
        raise InputError(f"ONNX input {inp.name!r} has shape {inp.shape}; expected rank 4 (NCHW or NHWC)")
    uint8 = inp.type == "tensor(uint8)"
    # map NHWC positions onto NCHW axes so everything below speaks NCHW
    to_nchw = _NHWC_TO_NCHW if uint8 else {0: 0, 1: 1, 2: 2, 3: 3}
    dynamic, static = {}, {}
    for pos, dim in enumerate(inp.shape):
        if isinstance(dim, int):
            static[to_nchw[pos]] = dim
        else:
            dynamic[to_nchw[pos]] = str(dim) if dim else f"axis{pos}"
    return GraphInput(inp.name, uint8, static.get(1), dynamic, static)


def _forward_ok(model: Any, shape: tuple[int, ...]) -> bool:
    import torch

    try:
        with torch.inference_mode():
            out = model(torch.zeros(shape))
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return all(o.numel() > 0 for o in outs)
    except Exception:  # any failure means "too small" here; the real run reports real errors
        return False


def smallest_size(model: Any, base: tuple[int, int, int], axis: int) -> int:
    """Smallest legal size of NCHW ``axis`` (2 or 3): ``model.min_input_size()`` or found by probing torch.

    Probing doubles the size from 1 until the model runs, then bisects (the model must accept every
    size above its minimum, as CNN feature maps do).

    Raises:
        InputError: torch fails at every size up to twice the base size.
    """
    channels, height, width = base
    if callable(getattr(model, "min_input_size", None)):
        return int(model.min_input_size()[axis - 2])

    def ok(n: int) -> bool:
        size = [1, channels, height, width]
        size[axis] = n
        return _forward_ok(model, tuple(size))

    hi = 1
    while not ok(hi):
        hi *= 2
        if hi > max(base[axis - 1], 1) * 2:
            raise InputError(f"cannot find a legal input size for axis {axis}: torch fails up to {hi}")
    lo = hi // 2  # fails (or 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def default_sizes(base: int, smallest: int) -> list[int]:
    """At least three sizes, none equal to ``base``: the smallest legal one, one between, one above."""
    candidates = [smallest, (smallest + base) // 2, base + base // 2 + 1, base + 1, 2 * base + 3]
    sizes: list[int] = []
    for c in candidates:
        if c >= smallest and c != base and c not in sizes:
            sizes.append(c)
        if len(sizes) == MIN_DYNAMIC_SIZES:
            break
    return sorted(sizes)


def as_batches(data: Any, what: str) -> list[np.ndarray]:
    """Normalise ``inputs``/``samples`` into a list of numpy batches (N, ...).

    Single images (C, H, W) of equal shape are stacked into one batch; dataset items ``(image, target)``
    count as their image.

    Raises:
        InputError: an item is not an array/tensor of rank 3 or 4.
    """
    import torch

    if data is None:
        return []
    if isinstance(data, (torch.Tensor, np.ndarray)):
        items = [data]
    elif isinstance(data, Iterable):
        items = list(data)
    else:
        raise InputError(f"{what}: got {type(data).__name__}; expected an array, a tensor or a list of them")
    batches: list[np.ndarray] = []
    singles: list[np.ndarray] = []
    for item in items:
        if isinstance(item, (tuple, list)) and item:  # (image, target) dataset items
            item = item[0]
        arr = item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else np.asarray(item)
        if arr.ndim == 4:
            batches.append(arr)
        elif arr.ndim == 3:
            singles.append(arr)
        else:
            raise InputError(f"{what}: got an array of shape {list(arr.shape)}; expected (C, H, W) or (N, C, H, W)")
    # group single images of equal shape into batches (variable-width text lines stay separate)
    groups: dict[tuple[int, ...], list[np.ndarray]] = {}
    for arr in singles:
        groups.setdefault(arr.shape, []).append(arr)
    batches.extend(np.stack(group) for group in groups.values())
    return batches


def base_shape(
    model: Any,
    graph_in: GraphInput,
    spec: dict[str, Any],
    extra_inputs: list[np.ndarray],
    base_size: tuple[int, int] | None,
    onnx_path: Path,
) -> tuple[int, int, int]:
    """(channels, height, width) of the random cases; fixed graph dims win over every other source.

    Raises:
        InputError: neither the graph, its metadata, the model, the inputs nor the manifest tell the size.
    """
    channels = (
        graph_in.channels or getattr(model, "in_channels", None) or (extra_inputs[0].shape[1] if extra_inputs else None)
    )
    if base_size is None:
        base_size = _known_base_size(model, graph_in, spec, extra_inputs, onnx_path)
    if channels is None or base_size is None:
        raise InputError(
            "check_parity: cannot tell the model's input size; pass inputs= (an NCHW example) or base_size=(h, w)"
        )
    height, width = graph_in.static.get(2, base_size[0]), graph_in.static.get(3, base_size[1])
    return (int(channels), int(height), int(width))


def _known_base_size(
    model: Any, graph_in: GraphInput, spec: dict[str, Any], extra_inputs: list[np.ndarray], onnx_path: Path
) -> tuple[int, int] | None:
    """The export example's (height, width) from the first source that knows it, or None."""
    if spec.get("height") and spec.get("width"):
        return (int(spec["height"]), int(spec["width"]))
    if getattr(model, "input_size", None):
        size = tuple(int(v) for v in model.input_size)
        return (size[0], size[1])
    if extra_inputs:
        return (int(extra_inputs[0].shape[2]), int(extra_inputs[0].shape[3]))
    if 2 in graph_in.static and 3 in graph_in.static:
        return (graph_in.static[2], graph_in.static[3])
    # a plain module exported by edgeseq: the manifest records the example's shape
    example_shape = read_manifest(onnx_path).get("example_input_shape")
    if isinstance(example_shape, list) and len(example_shape) == 4:
        return (int(example_shape[2]), int(example_shape[3]))
    return None


def build_cases(
    model: Any,
    graph_in: GraphInput,
    base: tuple[int, int, int],
    spec: dict[str, Any],
    *,
    batch_sizes: Sequence[int],
    sizes: Sequence[int] | None,
    extra_inputs: list[np.ndarray],
    real_samples: list[np.ndarray],
    seed: int,
) -> CaseSet:
    """Every case in the order they run: random batches, dynamic-axis sizes, given inputs, real samples.

    Raises:
        InputError: ``sizes`` holds a size below the smallest the model accepts.
    """
    rng = np.random.default_rng(seed)

    def random_batch(n: int, h: int, w: int) -> np.ndarray:
        if graph_in.uint8_nhwc:
            return rng.integers(0, 256, size=(n, h, w, base[0]), dtype=np.uint8)
        return rng.standard_normal((n, base[0], h, w)).astype(np.float32)

    random_batches = batch_sizes if 0 in graph_in.dynamic else [graph_in.static[0]]
    cases = [ParityCase("random", random_batch(n, base[1], base[2])) for n in dict.fromkeys(random_batches)]
    size_cases, tested_sizes = _size_cases(model, graph_in, base, sizes, random_batch)
    cases += size_cases
    for kind, arrays in (("inputs", extra_inputs), ("sample", real_samples)):
        for arr in arrays:
            feed = pixels_from_normalized(arr, spec) if graph_in.uint8_nhwc else arr.astype(np.float32)
            cases.append(ParityCase(kind, feed))
    return CaseSet(cases, [[base[1], base[2]], *tested_sizes])


def _size_cases(
    model: Any,
    graph_in: GraphInput,
    base: tuple[int, int, int],
    sizes: Sequence[int] | None,
    random_batch: Callable[[int, int, int], np.ndarray],
) -> tuple[list[ParityCase], list[list[int]]]:
    """Cases at other sizes of each dynamic image axis (height, then width), and those (height, width)."""
    size_batch = SIZE_CASE_BATCH if 0 in graph_in.dynamic else graph_in.static[0]
    cases: list[ParityCase] = []
    tested: list[list[int]] = []
    for axis in (2, 3):
        if axis not in graph_in.dynamic:
            continue
        smallest = smallest_size(model, base, axis)
        if sizes is not None:
            too_small = [s for s in sizes if s < smallest]
            if too_small:
                name = "height" if axis == 2 else "width"
                raise InputError(
                    f"sizes: got {too_small} for the dynamic {name}; expected sizes >= {smallest}, "
                    "the smallest this model accepts"
                )
        axis_sizes = list(sizes) if sizes is not None else default_sizes(base[axis - 1], smallest)
        for s in axis_sizes:
            h, w = (s, base[2]) if axis == 2 else (base[1], s)
            tested.append([h, w])
            cases.append(ParityCase("size", random_batch(size_batch, h, w)))
    return cases, tested


def checkpoint_samples(ckpt: dict[str, Any], count: int) -> tuple[list[Any], str | None]:
    """Up to ``count`` items of the test split (else validation split) of a checkpoint's data.

    Returns:
        (items, None), or ([], why not) when the data cannot be built on this machine (a missing
        image folder, for example): parity then runs on random inputs only.
    """
    if count <= 0:
        return [], "no samples requested"
    try:
        splits = checkpoint_datasets(ckpt)
        data = splits.test if len(cast(Sized, splits.test)) else splits.val
        return [data[i] for i in range(min(count, len(cast(Sized, data))))], None
    except Exception as exc:  # data absent or unreadable here: report why and go on with random inputs
        return [], f"{type(exc).__name__}: {first_line(exc)}"
