"""What shape inference knows about one tensor, and the helpers the shape rules share."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from edgeseq.runtime.modelfile.graph_reader import ELEMENT_BYTES, MAX_VALUES, Node

Dim = int | None
Shape = tuple[Dim, ...]
# A rule: (node, its input values (None: unknown or absent), the default-domain opset) -> output values.
Rule = Callable[[Node, list["Value | None"], int], list["Value | None"]]


@dataclass
class Value:
    """What is known about one tensor: its shape (None: not even its rank), element type and small contents."""

    shape: Shape | None
    dtype: int
    data: list[Any] | None = None  # flattened contents (items may be None) when small and computable

    @property
    def count(self) -> int | None:
        """Number of elements, or None when any dimension is unknown."""
        if self.shape is None or any(d is None for d in self.shape):
            return None
        return math.prod(d for d in self.shape if d is not None)

    @property
    def nbytes(self) -> int | None:
        """Bytes of the tensor's data, or None when its size is unknown."""
        count = self.count
        return None if count is None else count * ELEMENT_BYTES.get(self.dtype, 4)


def attr(node: Node, name: str, default: Any = None) -> Any:
    return node.attrs.get(name, default)


def ints(value: Value | None) -> list[Any] | None:
    """The contents of a small integer tensor (None when unknown)."""
    if value is None or value.data is None:
        return None
    return [
        int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None
        for v in value.data
    ]


def known(items: Sequence[Any] | None) -> bool:
    return items is not None and all(v is not None for v in items)


def broadcast(*shapes: Shape | None) -> Shape | None:
    """numpy broadcasting of shapes with unknown (None) dimensions."""
    if any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes if s is not None)
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[i - rank + len(s)] if i - rank + len(s) >= 0 else 1 for s in shapes if s is not None]
        sized = {d for d in dims if d is not None and d != 1}
        if len(sized) > 1:
            raise ValueError("shapes do not broadcast")
        if sized:
            out.append(sized.pop())
        else:
            out.append(None if any(d is None for d in dims) else 1)
    return tuple(out)


def axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def small(data: list[Any] | None, shape: Shape | None) -> list[Any] | None:
    """Keep contents only for small tensors."""
    if data is None or shape is None or len(data) > MAX_VALUES:
        return None
    return data


def elementwise(fn: Callable[..., Any], *datas: list[Any] | None) -> list[Any] | None:
    """Apply ``fn`` to small contents with scalar broadcasting (unknown items stay unknown)."""
    if any(d is None for d in datas):
        return None
    lengths = {len(d) for d in datas if d is not None and len(d) != 1}
    if len(lengths) > 1:
        return None
    n = lengths.pop() if lengths else 1
    out = []
    for i in range(n):
        args = [d[i] if len(d) != 1 else d[0] for d in datas if d is not None]
        out.append(None if any(a is None for a in args) else fn(*args))
    return out


def rule_table(*entries: tuple[Sequence[str], Rule]) -> dict[str, Rule]:
    """``{op: rule}`` from ``(ops, rule)`` pairs."""
    return {op: fn for ops, fn in entries for op in ops}
