"""Models with external data (weights in side files, and every model over 2 GiB) through the optimizer.

protobuf cannot serialise 2 GiB, so a larger model keeps its weights in files beside it, and so may
any model. Every step of the optimizer keeps them there: the variant files are written with
``edgeseq.fileio.atomic_with_sidecars`` (the model and its ``<variant>.data`` moved into place
together), onnxruntime.quantization's tools are called with ``use_external_data_format``, ONNX
Runtime's offline optimizer writes its initializers to a side file, and metadata is rewritten
without loading the weights.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edgeseq.errors import ModelFileError
from edgeseq.graphs import load_graph

# Tensors above this many bytes go to the side file when a variant is written with external data
# (onnx's own default threshold).
EXTERNAL_SIZE_THRESHOLD = 1024
# protobuf's limit on one serialised message: a model with more bytes must keep them in side files.
PROTOBUF_LIMIT = 2**31
# ONNX Runtime session config entries that make its offline optimizer write initializers to a side file.
ORT_EXTERNAL_FILE_ENTRY = "session.optimized_model_external_initializers_file_name"
ORT_EXTERNAL_MIN_SIZE_ENTRY = "session.optimized_model_external_initializers_min_size_in_bytes"


def external_locations(model: Any) -> list[str]:
    """The distinct external-data files an ONNX model (a path or a proto loaded without its data) names."""
    import onnx

    proto = load_graph(model) if isinstance(model, (str, Path)) else model
    found: dict[str, None] = {}
    for tensor in _tensors(proto):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            entries = {e.key: e.value for e in tensor.external_data}
            found.setdefault(entries.get("location", ""), None)
    return list(found)


def _tensors(proto: Any) -> list[Any]:
    """Every initializer of the main graph and of Constant nodes' values (where external data can live)."""
    tensors = list(proto.graph.initializer)
    tensors += [a.t for node in proto.graph.node for a in node.attribute if a.HasField("t")]
    return tensors


def has_external_data(model: Any) -> bool:
    """Whether the model keeps any tensor in a side file."""
    return bool(external_locations(model))


def over_protobuf_limit(path: str | Path) -> bool:
    """Whether the model and its side files hold 2 GiB or more: more than one protobuf message can (the
    in-memory steps of some tools, symbolic shape inference among them, cannot handle it)."""
    path = Path(path)
    total = path.stat().st_size
    for location in external_locations(path):
        side = path.parent / location
        total += side.stat().st_size if side.is_file() else 0
    return total >= PROTOBUF_LIMIT


def data_file_name(model_name: str, index: int = 0) -> str:
    """The side file of a variant: ``int8-dynamic.onnx.data`` (then ``.data1``, ``.data2`` for more)."""
    return f"{model_name}.data" if index == 0 else f"{model_name}.data{index}"


def copy_model(src: str | Path, dst: Path) -> None:
    """Copy the ONNX model ``src`` to ``dst``, its side files to ``<dst name>.data`` beside it (locations rewritten).

    The weights are copied file to file, never loaded into memory.

    Raises:
        ModelFileError: a side file named by the model is missing.
    """
    import onnx

    src = Path(src)
    proto = load_graph(src)
    locations = external_locations(proto)
    if not locations:
        shutil.copyfile(src, dst)
        return
    renamed = {location: data_file_name(dst.name, i) for i, location in enumerate(locations)}
    for location, name in renamed.items():
        source = src.parent / location
        if not source.is_file():
            raise ModelFileError(f"model {str(src)!r} names external data {location!r}, which is missing")
        shutil.copyfile(source, dst.parent / name)
    for tensor in _tensors(proto):
        for entry in tensor.external_data:
            if entry.key == "location" and entry.value in renamed:
                entry.value = renamed[entry.value]
    onnx.save_model(proto, str(dst))


def save_model(proto: Any, dst: Path, external: bool) -> None:
    """Save ``proto`` (with its weights loaded) to ``dst``; with ``external``, its weights to ``<dst name>.data``."""
    import onnx

    if external:
        onnx.save_model(
            proto,
            str(dst),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=data_file_name(dst.name),
            size_threshold=EXTERNAL_SIZE_THRESHOLD,
        )
    else:
        onnx.save_model(proto, str(dst))
