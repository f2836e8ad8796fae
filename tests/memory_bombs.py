"""Memory-bomb models: the shipped digits model plus a branch that makes one huge tensor (a plain module).

The branch computes ``logits + sum(huge)``, so the model stays valid, keeps its edgeseq metadata and
gives the digits model's answers when ``huge`` is all zeros. ``kind`` picks the operator that makes
the tensor from tiny constants: ``ConstantOfShape``, ``Expand``, ``Tile``, ``Resize``, ``Pad``,
``Range`` — or ``dynamic``: a ``ConstantOfShape`` whose size comes from the input's values at run time,
which no graph estimate can see (only the memory-capped child process catches it).

Nothing here allocates the tensor: building the file takes milliseconds and a few hundred bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "models" / "digits-rows-lstm.onnx"
KINDS = ("ConstantOfShape", "Expand", "Tile", "Resize", "Pad", "Range", "dynamic")


def _branch(kind: str, elements: int) -> list:
    """Nodes computing the float tensor ``huge`` of about ``elements`` numbers."""
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, values, dtype=np.int64):
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, dtype), name))

    zero = numpy_helper.from_array(np.array([0.0], np.float32), "fill")
    if kind == "ConstantOfShape":
        return [const("shape", [elements]), helper.make_node("ConstantOfShape", ["shape"], ["huge"], value=zero)]
    if kind == "Expand":
        return [
            const("one", [0.0], np.float32),
            const("shape", [elements]),
            helper.make_node("Expand", ["one", "shape"], ["huge"]),
        ]
    if kind == "Tile":
        return [
            const("one", [0.0], np.float32),
            const("reps", [elements]),
            helper.make_node("Tile", ["one", "reps"], ["huge"]),
        ]
    if kind == "Resize":
        side = int(elements**0.5)
        return [
            const("small", np.zeros((1, 1, 1, 1)), np.float32),
            const("scales", [1.0, 1.0, float(side), float(side)], np.float32),
            helper.make_node("Resize", ["small", "", "scales"], ["huge"], mode="nearest"),
        ]
    if kind == "Pad":
        return [
            const("one", [0.0], np.float32),
            const("pads", [0, elements]),
            helper.make_node("Pad", ["one", "pads"], ["huge"]),
        ]
    if kind == "Range":
        return [
            const("start", 0.0, np.float32),
            const("limit", float(elements), np.float32),
            const("delta", 1.0, np.float32),
            helper.make_node("Range", ["start", "limit", "delta"], ["ramp"]),
            const("nothing", 0.0, np.float32),
            helper.make_node("Mul", ["ramp", "nothing"], ["huge"]),
        ]
    if kind == "dynamic":  # n = int(max(images) * 0 + elements): known only when the model runs
        return [
            helper.make_node("ReduceMax", ["images"], ["peak"], keepdims=0),
            const("nothing", 0.0, np.float32),
            helper.make_node("Mul", ["peak", "nothing"], ["zero"]),
            const("count", float(elements), np.float32),
            helper.make_node("Add", ["zero", "count"], ["n_float"]),
            helper.make_node("Cast", ["n_float"], ["n"], to=TensorProto.INT64),
            const("axis0", [0]),
            helper.make_node("Unsqueeze", ["n", "axis0"], ["shape"]),
            helper.make_node("ConstantOfShape", ["shape"], ["huge"], value=zero),
        ]
    raise ValueError(f"unknown bomb kind {kind!r}; expected one of {KINDS}")


def bomb_model(folder: Path, kind: str = "ConstantOfShape", elements: int = 3_000_000_000) -> Path:
    """Write ``bomb.onnx`` (the digits model plus a ``kind`` branch of ``elements`` floats) into ``folder``."""
    import onnx
    from onnx import helper

    model = onnx.load(str(DIGITS))
    graph = model.graph
    (gemm,) = [n for n in graph.node if "logits" in n.output]
    gemm.output[0] = "logits_raw"
    nodes = _branch(kind, elements)
    nodes.append(helper.make_node("ReduceSum", ["huge"], ["total"], keepdims=0))
    nodes.append(helper.make_node("Add", ["logits_raw", "total"], ["logits"]))
    graph.node.extend(nodes)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bomb.onnx"
    onnx.save(model, str(path))
    return path
