"""Shape rules for layers: convolution, pooling, recurrent, matrix products, reductions, resizing, padding."""

from __future__ import annotations

import math
from typing import Any

from edgeseq.runtime.modelfile.graph_reader import FLOAT, INT64, Node
from edgeseq.runtime.shapes.values import Dim, Rule, Shape, Value, attr, axis, broadcast, ints, known, rule_table

# Where the data input and the weight input are, for the convolution-like operators.
_CONV_INPUTS = {"Conv": (0, 1), "ConvInteger": (0, 1), "FusedConv": (0, 1), "QLinearConv": (0, 3)}
_CONV_DTYPE = {"ConvInteger": 6}  # int32; QLinearConv takes its output zero point's type


def _window(node: Node, spatial: Shape, kernel: list[int]) -> list[Dim]:
    """Output sizes of a sliding window (convolution or pooling) over the ``spatial`` input sizes."""
    n = len(kernel)
    strides = attr(node, "strides") or [1] * n
    dilations = attr(node, "dilations") or [1] * n
    pads = attr(node, "pads") or [0] * (2 * n)
    auto_pad = attr(node, "auto_pad", "NOTSET")
    rounding = math.ceil if attr(node, "ceil_mode", 0) else math.floor
    out: list[Dim] = []
    for i, size in enumerate(spatial):
        if size is None:
            out.append(None)
            continue
        extent = (kernel[i] - 1) * dilations[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out.append(math.ceil(size / strides[i]))
        elif auto_pad == "VALID":
            out.append(math.floor((size - extent) / strides[i]) + 1)
        else:
            out.append(rounding((size + pads[i] + pads[i + n] - extent) / strides[i]) + 1)
    return out


def _conv(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x_at, w_at = _CONV_INPUTS[node.op]
    x, w = ins[x_at], ins[w_at] if len(ins) > w_at else None
    if x is None or w is None or x.shape is None or w.shape is None or len(x.shape) < 3:
        return []
    kernel = attr(node, "kernel_shape") or list(w.shape[2:])
    if not known(kernel):
        return []
    dtype = _CONV_DTYPE.get(node.op, x.dtype)
    if node.op == "QLinearConv" and len(ins) > 7 and ins[7] is not None:
        dtype = ins[7].dtype
    return [Value((x.shape[0], w.shape[0], *_window(node, x.shape[2:], kernel)), dtype)]


def _conv_transpose(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x, w = ins[0], ins[1] if len(ins) > 1 else None
    if x is None or w is None or x.shape is None or w.shape is None or len(x.shape) < 3:
        return []
    n = len(x.shape) - 2
    channels = None if w.shape[1] is None else w.shape[1] * attr(node, "group", 1)
    given = attr(node, "output_shape")
    if given:
        return [Value((x.shape[0], channels, *given), x.dtype)]
    kernel = attr(node, "kernel_shape") or list(w.shape[2:])
    strides, dilations = attr(node, "strides") or [1] * n, attr(node, "dilations") or [1] * n
    pads, extra = attr(node, "pads") or [0] * (2 * n), attr(node, "output_padding") or [0] * n
    out: list[Dim] = []
    for i, size in enumerate(x.shape[2:]):
        if size is None or kernel[i] is None:
            out.append(None)
            continue
        out.append(strides[i] * (size - 1) + extra[i] + (kernel[i] - 1) * dilations[i] + 1 - pads[i] - pads[i + n])
    return [Value((x.shape[0], channels, *out), x.dtype)]


def _pool(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    kernel = attr(node, "kernel_shape")
    if x is None or x.shape is None or not kernel or len(x.shape) < 3:
        return []
    shape = (x.shape[0], x.shape[1], *_window(node, x.shape[2:], kernel))
    return [Value(shape, x.dtype), Value(shape, INT64)]  # MaxPool's optional second output: indices


def _global_pool(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    if x is None or x.shape is None or len(x.shape) < 3:
        return []
    if attr(node, "channels_last", 0):  # QLinearGlobalAveragePool in NHWC
        return [Value((x.shape[0], *([1] * (len(x.shape) - 2)), x.shape[-1]), x.dtype)]
    return [Value((x.shape[0], x.shape[1], *([1] * (len(x.shape) - 2))), x.dtype)]


def _recurrent(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    hidden = attr(node, "hidden_size")
    if x is None or x.shape is None or len(x.shape) != 3 or not isinstance(hidden, int):
        return []
    dirs = 2 if attr(node, "direction", "forward") == "bidirectional" else 1
    if attr(node, "layout", 0):
        batch, steps = x.shape[0], x.shape[1]
        y: Shape = (batch, steps, dirs, hidden)
        state: Shape = (batch, dirs, hidden)
    else:
        steps, batch = x.shape[0], x.shape[1]
        y, state = (steps, dirs, batch, hidden), (dirs, batch, hidden)
    dtype = FLOAT if node.op == "DynamicQuantizeLSTM" else x.dtype
    return [Value(y, dtype), Value(state, dtype), Value(state, dtype)]


_MATMUL_INPUTS = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3)}
_MATMUL_INPUTS |= {"MatMulIntegerToFloat": (0, 1), "DynamicQuantizeMatMul": (0, 1)}


def _matmul(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    a_at, b_at = _MATMUL_INPUTS[node.op]
    a, b = ins[a_at], ins[b_at] if len(ins) > b_at else None
    if a is None or b is None or a.shape is None or b.shape is None or not a.shape or not b.shape:
        return []
    left = a.shape if len(a.shape) > 1 else (1, *a.shape)
    right = b.shape if len(b.shape) > 1 else (*b.shape, 1)
    batch = broadcast(left[:-2], right[:-2])
    if batch is None:
        return []
    dims = [*batch, left[-2], right[-1]]
    if len(a.shape) == 1:
        dims.pop(-2)
    if len(b.shape) == 1:
        dims.pop(-1)
    dtype = {"MatMulInteger": 6, "MatMulIntegerToFloat": FLOAT, "DynamicQuantizeMatMul": FLOAT}.get(node.op, a.dtype)
    return [Value(tuple(dims), dtype)]


def _gemm(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    a, b = ins[0], ins[1] if len(ins) > 1 else None
    if a is None or b is None or a.shape is None or b.shape is None or len(a.shape) != 2 or len(b.shape) != 2:
        return []
    rows = a.shape[1] if attr(node, "transA", 0) else a.shape[0]
    cols = b.shape[0] if attr(node, "transB", 0) else b.shape[1]
    return [Value((rows, cols), a.dtype)]


def _reduce_axes(node: Node, ins: list[Value | None], opset: int) -> tuple[bool, list[Any] | None]:
    """(axes given?, axes): from the second input (ReduceSum from opset 13, every Reduce* from 18) or the attribute."""
    from_input = opset >= 18 or (node.op == "ReduceSum" and opset >= 13)
    if from_input:
        given = len(node.inputs) > 1 and bool(node.inputs[1])
        return given, ints(ins[1]) if given and len(ins) > 1 else None
    return "axes" in node.attrs, attr(node, "axes")


def _reduce(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    if x is None or x.shape is None:
        return []
    rank = len(x.shape)
    keep = attr(node, "keepdims", 1)
    if node.op in ("ArgMax", "ArgMin"):
        axes: list[Any] | None = [attr(node, "axis", 0)]
    else:
        given, axes = _reduce_axes(node, ins, opset)
        if not given:
            axes = [] if attr(node, "noop_with_empty_axes", 0) else list(range(rank))
    if not known(axes):
        return [Value(None, x.dtype)]
    picked = {axis(a, rank) for a in axes or []}
    dims = (
        [1 if i in picked else d for i, d in enumerate(x.shape)]
        if keep
        else [d for i, d in enumerate(x.shape) if i not in picked]
    )
    return [Value(tuple(dims), INT64 if node.op in ("ArgMax", "ArgMin") else x.dtype)]


def _resize(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    if x is None or x.shape is None:
        return []
    if node.op == "Upsample" and "scales" in node.attrs:
        scales: list[Any] | None = list(node.attrs["scales"])
        sizes = None
    else:
        at = 2 if node.op == "Resize" and opset >= 11 else 1
        scales = _floats(ins[at]) if len(ins) > at and ins[at] is not None else None
        sizes = ints(ins[3]) if node.op == "Resize" and opset >= 11 and len(ins) > 3 and ins[3] is not None else None
    if sizes and len(sizes) == len(x.shape):
        return [Value(tuple(sizes), x.dtype)]
    if not scales or len(scales) != len(x.shape):
        return [Value((None,) * len(x.shape), x.dtype)]
    dims = tuple(None if d is None or s is None else math.floor(d * s) for d, s in zip(x.shape, scales, strict=True))
    return [Value(dims, x.dtype)]


def _floats(value: Value | None) -> list[Any] | None:
    if value is None or value.data is None:
        return None
    return [float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None for v in value.data]


def _pad(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    if x is None or x.shape is None:
        return []
    rank = len(x.shape)
    pads = ints(ins[1]) if opset >= 11 and len(ins) > 1 else attr(node, "pads")
    axes = ints(ins[3]) if opset >= 18 and len(ins) > 3 and ins[3] is not None else list(range(rank))
    pads, axes = list(pads or []), list(axes or [])
    if not known(pads) or not known(axes) or len(pads) != 2 * len(axes):
        return [Value((None,) * rank, x.dtype)]
    dims = list(x.shape)
    for i, a in enumerate(axes):
        j = axis(a, rank)
        size = dims[j]
        dims[j] = None if size is None else size + pads[i] + pads[i + len(axes)]
    return [Value(tuple(dims), x.dtype)]


def _split(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x = ins[0]
    if x is None or x.shape is None:
        return []
    ax = axis(attr(node, "axis", 0), len(x.shape))
    parts = ints(ins[1]) if opset >= 13 and len(ins) > 1 and ins[1] is not None else attr(node, "split")
    count = len(node.outputs)
    size = x.shape[ax]
    if not parts and size is not None and count:
        step = -(-size // count)  # the last part takes what is left (opset 18's num_outputs rule)
        parts = [min(step, size - i * step) for i in range(count)]
    if not parts or len(parts) != count:
        return [Value(x.shape[:ax] + (None,) + x.shape[ax + 1 :], x.dtype) for _ in range(count)]
    return [Value(x.shape[:ax] + (p,) + x.shape[ax + 1 :], x.dtype) for p in parts]


def _depth_space(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    x, block = ins[0], attr(node, "blocksize")
    if x is None or x.shape is None or len(x.shape) != 4 or not isinstance(block, int) or block < 1:
        return []
    n, c, h, w = x.shape
    if node.op == "DepthToSpace":
        dims = (n, None if c is None else c // (block * block), _times(h, block), _times(w, block))
    else:
        dims = (n, _times(c, block * block), None if h is None else h // block, None if w is None else w // block)
    return [Value(dims, x.dtype)]


def _reorder(node: Node, ins: list[Value | None], opset: int) -> list[Value | None]:
    """ONNX Runtime's NCHWc layout nodes (graphs optimized at "all"): the channels padded to the CPU's block
    size going in (counted unpadded: a lower bound), the ``channels`` attribute coming out."""
    x = ins[0]
    if x is None or x.shape is None or len(x.shape) < 2:
        return []
    if node.op == "ReorderOutput" and isinstance(attr(node, "channels"), int):
        dims = (x.shape[0], attr(node, "channels"), *x.shape[2:])
        if attr(node, "channels_last", 0):
            dims = (x.shape[0], *x.shape[2:], attr(node, "channels"))
        return [Value(dims, x.dtype)]
    return [Value(x.shape, x.dtype)]


def _times(d: Dim, k: int) -> Dim:
    return None if d is None else d * k


RULES: dict[str, Rule] = rule_table(
    (tuple(_CONV_INPUTS), _conv),
    (("ConvTranspose",), _conv_transpose),
    (("MaxPool", "AveragePool", "LpPool"), _pool),
    (("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "QLinearGlobalAveragePool"), _global_pool),
    (("LSTM", "GRU", "RNN", "DynamicQuantizeLSTM"), _recurrent),
    (tuple(_MATMUL_INPUTS), _matmul),
    (("Gemm", "FusedGemm"), _gemm),
    (
        (
            "ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 ReduceLogSum "
            "ReduceLogSumExp ReduceSumSquare ArgMax ArgMin"
        ).split(),
        _reduce,
    ),
    (("Resize", "Upsample"), _resize),
    (("Pad",), _pad),
    (("Split",), _split),
    (("DepthToSpace", "SpaceToDepth"), _depth_space),
    (("ReorderInput", "ReorderOutput"), _reorder),
)
