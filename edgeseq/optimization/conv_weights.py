"""Re-express symmetric INT8 convolution weights so onnxruntime runs them on its general U8S8 GEMM.

onnxruntime 1.32's ``QLinearConv`` (what a QDQ ``Conv`` becomes) picks its kernel from the weight
zero point: zero (symmetric, what ``quantize_static`` writes) selects the direct "ConvSym" kernels
written for AVX2/AVX-512 VNNI; any other zero point selects im2col + the general U8S8 QGEMM, which
on CPUs with AMX (``amx_int8``) runs on the tile unit. Measured on a 2-core AMX VM
(resnet18-rows-lstm, 224×224, batch 1): the GEMM path makes the INT8 model about 10% faster,
mostly in the 7×7×512 layers.

Symmetric int8 weights use the range [-127, 127], so ``q - 1`` with zero point ``-1`` fits int8 and
dequantizes to exactly the same values: ``(q - 1 - (-1)) * scale == q * scale``. Outputs are
bit-identical; only the kernel choice changes. Per-channel weights keep one shared zero point, which
``QLinearConv`` requires.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeseq.fileio import atomic_with_sidecars
from edgeseq.optimization.external import copy_model, has_external_data, save_model

SHIFTED_ZERO_POINT = -1


def apply_conv_kernel(conv_kernel: str, src: str | Path, dst: str | Path) -> dict[str, Any]:
    """Write ``src`` to ``dst`` for ``conv_kernel``: Conv weights moved to zero point -1 for "gemm", copied as is otherwise.

    Returns:
        What the row's settings record: ``{"conv_kernel": ..., "conv_weights_shifted": <count>}``.
    """
    if conv_kernel != "gemm":
        with atomic_with_sidecars(dst) as out:  # external data, if any, is copied to <dst name>.data
            copy_model(src, out)
        return {"conv_kernel": "symmetric", "conv_weights_shifted": 0}
    return {"conv_kernel": "gemm", "conv_weights_shifted": shift_conv_weight_zero_points(src, dst)}


def conv_weight_dequantizers(model: Any) -> list[Any]:
    """``DequantizeLinear`` nodes of a QDQ model that feed a ``Conv``'s weight input (input 1)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    found = []
    for node in model.graph.node:
        if node.op_type == "Conv" and len(node.input) > 1:
            producer = producers.get(node.input[1])
            if producer is not None and producer.op_type == "DequantizeLinear":
                found.append(producer)
    return found


def shift_conv_weight_zero_points(src: str | Path, dst: str | Path) -> int:
    """Write ``src`` to ``dst`` with every symmetric int8 Conv weight moved to zero point -1.

    Only constant int8 weights whose zero points are all 0 and whose values lie in [-127, 127] are
    changed (others — uint8 weights, asymmetric or full-range int8 — are left as they are).

    Returns:
        The number of weight tensors changed.
    """
    return _move_zero_points(src, dst, 0, SHIFTED_ZERO_POINT)


def unshift_conv_weight_zero_points(src: str | Path, dst: str | Path) -> int:
    """The inverse of :func:`shift_conv_weight_zero_points`: Conv weights at zero point -1 back to 0.

    For runtimes that want the symmetric encoding (OpenVINO runs the shifted one about 7x slower).

    Returns:
        The number of weight tensors changed.
    """
    return _move_zero_points(src, dst, SHIFTED_ZERO_POINT, 0)


def _move_zero_points(src: str | Path, dst: str | Path, old: int, new: int) -> int:
    """Re-express int8 Conv weights at zero point ``old`` with zero point ``new`` (identical dequantized values).

    A weight moves only when every reader of it is a Conv weight dequantizer with zero point ``old``
    and every moved value still fits int8; its dequantizers get zero-point tensors of their own, so a
    zero point shared with other weights is never changed under them.
    """
    import onnx
    from onnx import numpy_helper

    external = has_external_data(src)
    model = onnx.load(str(src))
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    readers: dict[str, int] = {}
    for name in _input_names(graph):
        readers[name] = readers.get(name, 0) + 1
    by_weight: dict[str, list] = {}
    for node in conv_weight_dequantizers(model):
        by_weight.setdefault(node.input[0], []).append(node)
    changed = 0
    replaced: set[str] = set()
    for name, nodes in by_weight.items():
        weight = initializers.get(name)
        zero_points = [initializers.get(n.input[2]) if len(n.input) > 2 else None for n in nodes]
        if weight is None or weight.data_type != onnx.TensorProto.INT8 or readers.get(name, 0) != len(nodes):
            continue  # not a constant int8 weight, or also read by something this pass does not rewrite
        if any(zp is None or np.any(numpy_helper.to_array(zp) != old) for zp in zero_points):
            continue
        values = numpy_helper.to_array(weight).astype(np.int16) - old + new
        if values.size == 0 or values.min() < -128 or values.max() > 127:
            continue
        weight.CopyFrom(numpy_helper.from_array(values.astype(np.int8), name))
        for k, (node, zp) in enumerate(zip(nodes, zero_points, strict=True)):
            fresh = f"{name}_zero_point_{'m' if new < 0 else ''}{abs(new)}_{k}"
            shape = numpy_helper.to_array(zp).shape  # type: ignore[arg-type]  # None was skipped above
            graph.initializer.append(numpy_helper.from_array(np.full(shape, new, dtype=np.int8), fresh))
            replaced.add(node.input[2])
            node.input[2] = fresh
        changed += 1
    still_read = set(_input_names(graph))
    unused = [init for init in graph.initializer if init.name in replaced and init.name not in still_read]
    for init in unused:
        graph.initializer.remove(init)
    with atomic_with_sidecars(dst) as out:
        save_model(model, out, external)
    return changed


def _input_names(graph: Any) -> list[str]:
    """Every node input name in ``graph`` and its subgraphs (If/Loop/Scan bodies), with repeats."""
    names = []
    for node in graph.node:
        names.extend(node.input)
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                names.extend(_input_names(sub))
    return names
