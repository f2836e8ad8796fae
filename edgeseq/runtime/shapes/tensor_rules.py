"""Shape rules for element-wise operators, constants and shape arithmetic (``Shape``, ``Reshape``, ``Concat``...)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from edgeseq.runtime.modelfile.graph_reader import BOOL, FLOAT, INT64, MAX_VALUES, Node
from edgeseq.runtime.shapes.values import (
    Dim,
    Rule,
    Value,
    attr,
    axis,
    broadcast,
    elementwise,
    ints,
    known,
    rule_table,
    small,
)

# ------------------------------------------------------------------ element-wise

_UNARY = (
    "Identity Relu Sigmoid Tanh Exp Log Neg Abs Sqrt Reciprocal Floor Ceil Round Erf Sin Cos Softplus Softsign "
    "HardSigmoid HardSwish LeakyRelu Elu Selu Celu Gelu Mish Clip Softmax LogSoftmax Hardmax InstanceNormalization "
    "LpNormalization Not Sign Shrink ThresholdedRelu Trilu CumSum ReverseSequence BatchNormalization "
    "LayerNormalization Dropout FastGelu BiasGelu QuickGelu QLinearSigmoid QLinearLeakyRelu"
).split()
_COMPARE = {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "IsNaN", "IsInf"}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "Add": lambda a, b: a + b,
    "Sub": lambda a, b: a - b,
    "Mul": lambda a, b: a * b,
    "Div": lambda a, b: a // b if isinstance(a, int) and isinstance(b, int) else a / b,
    "Max": max,
    "Min": min,
    "Equal": lambda a, b: a == b,
}


def _unary(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    if x is None:
        return []
    data = x.data if node.op == "Identity" else None
    return [Value(x.shape, x.dtype, data)]


def _neg(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    return [] if x is None else [Value(x.shape, x.dtype, elementwise(lambda a: -a, x.data))]


def _binary(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    present = [v for v in ins if v is not None]
    if not present or len(present) != len([n for n in node.inputs if n]):
        return []
    shape = broadcast(*(v.shape for v in present))
    dtype = BOOL if node.op in _COMPARE else present[0].dtype
    fn = _ARITH.get(node.op)
    data = elementwise(fn, *(v.data for v in present)) if fn is not None and len(present) == 2 else None
    return [Value(shape, dtype, small(data, shape))]


def _where(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    if len(ins) != 3 or any(v is None for v in ins):
        return []
    cond, a, b = ins[0], ins[1], ins[2]
    assert cond is not None and a is not None and b is not None  # checked above; narrows the types
    shape = broadcast(cond.shape, a.shape, b.shape)
    data = elementwise(lambda c, x, y: x if c else y, cond.data, a.data, b.data)
    return [Value(shape, a.dtype, small(data, shape))]


def _cast(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    if x is None:
        return []
    to = attr(node, "to", FLOAT) if node.op == "Cast" else (ins[1].dtype if len(ins) > 1 and ins[1] else FLOAT)
    data = x.data
    if data is not None and to in (6, 7, 12, 13):  # integer targets: what shape arithmetic casts to
        data = [int(v) if isinstance(v, (int, float)) and math.isfinite(v) else None for v in data]
    return [Value(x.shape, to, data)]


def _quantize(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    if x is None:
        return []
    if node.op == "DequantizeLinear":
        return [Value(x.shape, FLOAT)]
    if node.op == "DynamicQuantizeLinear":
        return [Value(x.shape, 2), Value((), FLOAT), Value((), 2)]
    zero = ins[2] if len(ins) > 2 else None
    return [Value(x.shape, zero.dtype if zero is not None else 2)]


# ------------------------------------------------------------------ constants and shapes


def _constant(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    if "value" in node.attrs and hasattr(node.attrs["value"], "dims"):
        tensor = node.attrs["value"]
        return [Value(tensor.dims, tensor.dtype, tensor.values)]
    for key, dtype in (("value_int", INT64), ("value_float", FLOAT)):
        if key in node.attrs:
            return [Value((), dtype, [node.attrs[key]])]
    for key, dtype in (("value_ints", INT64), ("value_floats", FLOAT)):
        if key in node.attrs:
            items = list(node.attrs[key])
            return [Value((len(items),), dtype, small(items, (len(items),)))]
    return []


def _shape(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    if x is None or x.shape is None:
        return []
    rank = len(x.shape)
    start = max(0, min(rank, axis(attr(node, "start", 0), rank)))
    end = max(0, min(rank, axis(attr(node, "end", rank), rank)))
    dims = list(x.shape[start:end])
    return [Value((len(dims),), INT64, dims)]


def _size(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    return [] if x is None else [Value((), INT64, [x.count])]


def _constant_of_shape(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    dims = ints(ins[0])
    value = attr(node, "value")
    dtype = value.dtype if hasattr(value, "dtype") else FLOAT
    if dims is None:
        rank = ins[0].shape[0] if ins[0] is not None and ins[0].shape else None
        return [Value(None if rank is None else (None,) * rank, dtype)]
    shape = tuple(dims)
    fill = value.values[0] if hasattr(value, "values") and value.values else 0
    count = Value(shape, dtype).count
    return [Value(shape, dtype, [fill] * count if count is not None and count <= MAX_VALUES else None)]


def _expand(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x, dims = ins[0], ints(ins[1] if len(ins) > 1 else None)
    if x is None or dims is None:
        return []
    return [Value(broadcast(x.shape, tuple(dims)), x.dtype)]


def _tile(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x, repeats = ins[0], ints(ins[1] if len(ins) > 1 else None)
    if x is None or x.shape is None or repeats is None or len(repeats) != len(x.shape):
        return []
    shape = tuple(None if d is None or r is None else d * r for d, r in zip(x.shape, repeats, strict=True))
    return [Value(shape, x.dtype)]


def _range(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    if len(ins) != 3 or ins[0] is None:
        return []
    parts = [v.data[0] if v is not None and v.data else None for v in ins]
    dtype = ins[0].dtype
    start, limit, delta = parts
    if start is None or limit is None or delta is None or delta == 0:
        return [Value((None,), dtype)]
    return [Value((max(math.ceil((limit - start) / delta), 0),), dtype)]


def _one_hot(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    indices, depth = ins[0], ints(ins[1] if len(ins) > 1 else None)
    values = ins[2] if len(ins) > 2 else None
    if indices is None or indices.shape is None:
        return []
    rank = len(indices.shape) + 1
    at = axis(attr(node, "axis", -1), rank)
    dims = list(indices.shape)
    dims.insert(at, depth[0] if depth else None)
    return [Value(tuple(dims), values.dtype if values is not None else FLOAT)]


def _reshape(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x, target = ins[0], ints(ins[1] if len(ins) > 1 else None)
    if x is None or target is None:
        return []
    dims: list[Dim] = []
    for i, d in enumerate(target):
        if d == 0 and not attr(node, "allowzero", 0):
            dims.append(x.shape[i] if x.shape is not None and i < len(x.shape) else None)
        else:
            dims.append(d)
    if -1 in dims:
        known = math.prod(d for d in dims if d is not None and d != -1)
        total = x.count
        dims[dims.index(-1)] = total // known if total is not None and known and None not in dims else None
    return [Value(tuple(dims), x.dtype, small(x.data, tuple(dims)))]


def _gather(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x, idx = ins[0], ins[1] if len(ins) > 1 else None
    if x is None or idx is None or x.shape is None or idx.shape is None:
        return []
    ax = axis(attr(node, "axis", 0), len(x.shape))
    shape = x.shape[:ax] + idx.shape + x.shape[ax + 1 :]
    data = None
    picks = ints(idx)
    if x.data is not None and len(x.shape) == 1 and picks is not None:
        n = len(x.data)
        data = [x.data[i + n if i < 0 else i] if i is not None and -n <= i < n else None for i in picks]
    return [Value(shape, x.dtype, small(data, shape))]


def _slice_params(node: Node, ins: list[Value | None], opset: int, rank: int) -> list[tuple[int, Any, Any, Any]] | None:
    """(axis, start, end, step) per sliced axis, from the inputs (opset >= 10) or the attributes."""
    if opset >= 10:
        starts, ends = ints(ins[1] if len(ins) > 1 else None), ints(ins[2] if len(ins) > 2 else None)
        axes = ints(ins[3]) if len(ins) > 3 and ins[3] is not None else None
        steps = ints(ins[4]) if len(ins) > 4 and ins[4] is not None else None
    else:
        starts, ends, axes, steps = attr(node, "starts"), attr(node, "ends"), attr(node, "axes"), None
    if starts is None or ends is None:
        return None
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    if None in axes:
        return None
    return [(axis(a, rank), b, e, st) for a, b, e, st in zip(axes, starts, ends, steps, strict=True)]


def _slice(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    if x is None or x.shape is None:
        return []
    params = _slice_params(node, ins, opset, len(x.shape))
    if params is None:
        return [Value((None,) * len(x.shape), x.dtype)]
    dims = list(x.shape)
    data = x.data if len(x.shape) == 1 else None
    for ax, start, end, step in params:
        size = dims[ax]
        if start is None or end is None or step is None or size is None or step == 0:
            dims[ax], data = None, None
            continue
        picked = range(*slice(start, end, step).indices(size))
        dims[ax] = len(picked)
        data = [data[i] for i in picked] if data is not None else None
    return [Value(tuple(dims), x.dtype, data)]


def _concat(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    parts = [v for v in ins if v is not None]
    if len(parts) != len([n for n in node.inputs if n]) or any(v.shape is None for v in parts):
        return []
    rank = len(parts[0].shape or ())
    ax = axis(attr(node, "axis", 0), rank)
    dims: list[Dim] = list(parts[0].shape or ())
    sizes = [v.shape[ax] for v in parts if v.shape is not None]
    dims[ax] = None if None in sizes else sum(d for d in sizes if d is not None)
    data = None
    if rank == 1 and all(v.data is not None for v in parts):
        data = [item for v in parts for item in (v.data or [])]
    return [Value(tuple(dims), parts[0].dtype, small(data, tuple(dims)))]


def _axes(node: Node, ins: list[Value | None], opset: int, since: int) -> list[Any] | None:
    """``axes`` from the second input (from opset ``since``) or the attribute before that."""
    if opset >= since:
        return ints(ins[1]) if len(ins) > 1 and ins[1] is not None else None
    return attr(node, "axes")


def _unsqueeze(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x, axes = ins[0], _axes(node, ins, opset, 13)
    if x is None or x.shape is None or not known(axes):
        return []
    rank = len(x.shape) + len(axes or [])
    where = sorted(axis(a, rank) for a in axes or [])
    dims = list(x.shape)
    for a in where:
        dims.insert(a, 1)
    return [Value(tuple(dims), x.dtype, x.data)]


def _squeeze(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x, axes = ins[0], _axes(node, ins, opset, 13)
    if x is None or x.shape is None:
        return []
    rank = len(x.shape)
    given = (len(node.inputs) > 1 and bool(node.inputs[1])) if opset >= 13 else "axes" in node.attrs
    if not given:
        drop = {i for i, d in enumerate(x.shape) if d == 1}
    elif known(axes):
        drop = {axis(a, rank) for a in axes or []}
    else:
        return []
    dims = tuple(d for i, d in enumerate(x.shape) if i not in drop)
    return [Value(dims, x.dtype, x.data)]


def _transpose(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    if x is None or x.shape is None:
        return []
    perm = attr(node, "perm") or list(reversed(range(len(x.shape))))
    return [Value(tuple(x.shape[p] for p in perm), x.dtype)]


def _flatten(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    if x is None or x.shape is None:
        return []
    ax = axis(attr(node, "axis", 1), len(x.shape))
    head, tail = x.shape[:ax], x.shape[ax:]
    outer = None if None in head else math.prod(d for d in head if d is not None)
    inner = None if None in tail else math.prod(d for d in tail if d is not None)
    return [Value((outer, inner), x.dtype, x.data)]


RULES: dict[str, Rule] = rule_table(
    (_UNARY, _unary),
    (("Neg",), _neg),
    (("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "PRelu", "BitShift", *_COMPARE), _binary),
    (("Where",), _where),
    (("Cast", "CastLike"), _cast),
    (("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"), _quantize),
    (("Constant",), _constant),
    (("Shape",), _shape),
    (("Size",), _size),
    (("ConstantOfShape",), _constant_of_shape),
    (("Expand",), _expand),
    (("Tile",), _tile),
    (("Range",), _range),
    (("OneHot",), _one_hot),
    (("Reshape",), _reshape),
    (("Gather",), _gather),
    (("Slice",), _slice),
    (("Concat",), _concat),
    (("Unsqueeze",), _unsqueeze),
    (("Squeeze",), _squeeze),
    (("Transpose",), _transpose),
    (("Flatten",), _flatten),
)
