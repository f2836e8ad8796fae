"""Shape inference over a decoded graph, for the memory estimate (standard library only).

:func:`infer` walks the nodes of a :class:`~edgeseq.runtime.modelfile.graph_reader.Graph` in order and
computes each output's shape and element type from the input sizes it is given, and the *contents* of
small integer tensors (``Shape`` → ``Gather`` → ``Concat`` → ``ConstantOfShape`` chains, ``Reshape``
targets, ``Resize`` scales), since those decide the size of other tensors. That is exactly how a
hostile graph makes a huge tensor from a tiny file: ``ConstantOfShape``, ``Expand``, ``Tile``,
``Resize``, ``Pad``, ``Range`` or ``OneHot`` with large constants.

An operator without a rule here, or a size that depends on data only known at run time, gives an
unknown shape (``None``): the estimate built on this is then a lower bound, and
:mod:`edgeseq.runtime.limits` says so. A convolution, pooling or recurrent layer whose output would
have a dimension of 0 or less is recorded as an input too small for the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeseq.runtime.modelfile.graph_reader import FLOAT, Graph, Node
from edgeseq.runtime.shapes import layer_rules, tensor_rules
from edgeseq.runtime.shapes.values import Dim, Rule, Shape, Value

__all__ = ["Dim", "Inference", "Shape", "Value", "infer"]

RULES: dict[str, Rule] = {**tensor_rules.RULES, **layer_rules.RULES}


@dataclass
class Inference:
    """The result of :func:`infer`: every value's facts, and what could not be worked out."""

    values: dict[str, Value] = field(default_factory=dict)
    unknown_ops: set[str] = field(default_factory=set)  # ops with no rule, or whose outputs stayed unknown
    too_small: str | None = None  # the first node whose output would have a dimension <= 0


def infer(graph: Graph, feeds: dict[str, Shape]) -> Inference:
    """Propagate shapes from the graph inputs' ``feeds`` (name → concrete shape) through every node.

    Args:
        graph: the decoded main graph.
        feeds: a shape for each graph input (inputs not given keep their declared shape, symbolic axes unknown).

    Returns:
        An :class:`Inference`; initializers are values with their contents when small.
    """
    result = Inference()
    values = result.values
    for name, tensor in graph.initializers.items():
        values[name] = Value(tensor.dims, tensor.dtype, tensor.values)
    for spec in graph.inputs:
        if spec.name in graph.initializers:
            continue
        declared = (
            None if spec.shape is None else tuple(d if isinstance(d, int) and d >= 0 else None for d in spec.shape)
        )
        values[spec.name] = Value(tuple(feeds[spec.name]) if spec.name in feeds else declared, spec.dtype)
    for node in graph.nodes:
        ins = [values.get(name) if name else None for name in node.inputs]
        fn = RULES.get(node.op)
        try:
            outs = fn(node, ins, graph.opset) if fn is not None else []
        except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError):
            outs = []  # inputs the rule cannot use (a malformed graph): its outputs stay unknown
        if fn is None or not outs or all(o is None or o.count is None for o in outs):
            result.unknown_ops.add(node.op)
        for name, value in zip(node.outputs, outs + [None] * len(node.outputs), strict=False):
            if name:
                values[name] = value if value is not None else Value(None, FLOAT)
                if result.too_small is None and value is not None and _has_empty_dim(node, value):
                    result.too_small = (
                        f"{node.op} node {node.name or name!r} would give a tensor of shape {_show(value.shape)}"
                    )
    return result


_SIZE_REDUCERS = {"Conv", "ConvInteger", "QLinearConv", "FusedConv", "MaxPool", "AveragePool", "LpPool"}
_SIZE_REDUCERS |= {"LSTM", "GRU", "RNN", "DynamicQuantizeLSTM"}


def _has_empty_dim(node: Node, value: Value) -> bool:
    """A convolution, pooling or recurrent layer whose output has a dimension of 0 (or less): input too small."""
    return node.op in _SIZE_REDUCERS and value.shape is not None and any(d is not None and d <= 0 for d in value.shape)


def _show(shape: Shape | None) -> str:
    return "?" if shape is None else "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"
