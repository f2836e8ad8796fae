"""Decode an ONNX model's main graph from the protobuf wire format: what the memory estimate needs.

:mod:`~edgeseq.runtime.modelfile.onnx_reader` walks a model for the file checks; this reader decodes
the main graph's inputs and outputs with their declared shapes, its nodes with their attributes, its
initializers' types, shapes and (small) contents, and the model's ``metadata_props``. Tensor payloads
are not copied: an initializer's bytes are counted, and only tensors of at most :data:`MAX_VALUES`
numbers are decoded (shapes, axes, scales: what decides the size of other tensors). Standard library
only, like the rest of the runtime's file checks. Subgraphs (If/Loop/Scan bodies) are not decoded:
their outputs count as unknown.
"""

from __future__ import annotations

import mmap
import os
import stat
import struct
from dataclasses import dataclass, field
from typing import Any

# the wire-format primitives of the file checks' reader (one implementation of protobuf's wire format)
from edgeseq.runtime.modelfile.onnx_reader import _I32, _I64, _LEN, _VARINT, CorruptModel, _fields, _varint, utf8
from edgeseq.runtime.modelfile.ort_reader import is_ort_format

# Tensors with at most this many numbers have their contents decoded (shape inputs, axes, scales, pads).
MAX_VALUES = 64

# Bytes per element of each TensorProto.DataType (0: undefined; strings count as pointers).
ELEMENT_BYTES = {
    1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 8: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8,
    14: 8, 15: 16, 16: 2, 17: 1, 18: 1, 19: 1, 20: 1, 21: 1, 22: 1, 23: 1,
}  # fmt: skip
FLOAT, INT64, BOOL = 1, 7, 9
_INT_TYPES = {2, 3, 4, 5, 6, 7, 9, 12, 13}
_FLOAT_FORMATS = {1: "<f", 11: "<d"}
_RAW_INT_FORMATS = {2: "<B", 3: "<b", 4: "<H", 5: "<h", 6: "<i", 7: "<q", 9: "<?", 12: "<I", 13: "<Q"}


@dataclass
class Tensor:
    """A constant tensor: an initializer or a node attribute's value."""

    name: str
    dtype: int
    dims: tuple[int, ...]
    nbytes: int  # its data's bytes (what ONNX Runtime holds in memory)
    values: list[float] | list[int] | None = None  # flattened contents, when small enough to decode


@dataclass
class ValueSpec:
    """A graph input or output: its element type and declared shape (None: no shape declared at all)."""

    name: str
    dtype: int
    shape: tuple[int | str | None, ...] | None


@dataclass
class Node:
    """One node of the main graph."""

    op: str
    domain: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """The main graph and the model facts the memory estimate uses."""

    inputs: list[ValueSpec] = field(default_factory=list)
    outputs: list[ValueSpec] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    initializers: dict[str, Tensor] = field(default_factory=dict)
    opset: int = 0  # of the default domain
    metadata: dict[str, str] = field(default_factory=dict)


def _signed(value: int) -> int:
    """A varint as protobuf's int64 (two's complement over 64 bits)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _varints(buf: Any, start: int, end: int) -> list[int]:
    """A packed run of varints."""
    out = []
    pos = start
    while pos < end:
        value, pos = _varint(buf, pos, end)
        out.append(_signed(value))
    return out


def _scalar_or_packed_ints(buf: Any, wire: int, value: Any) -> list[int]:
    if wire == _VARINT:
        return [_signed(value)]
    return _varints(buf, *value)


def _floats(buf: Any, wire: int, value: Any, fmt: str = "<f") -> list[float]:
    start, end = value
    size = struct.calcsize(fmt)
    if wire == _LEN and (end - start) % size == 0:
        return [v for (v,) in struct.iter_unpack(fmt, bytes(buf[start:end]))]
    if wire in (_I32, _I64):
        return [struct.unpack(fmt, bytes(buf[start:end]))[0]]
    raise CorruptModel("a float field has the wrong wire type")


class GraphReader:
    """Decode the parts of a ModelProto that decide how much memory running it takes."""

    def __init__(self, buf: Any) -> None:
        self.buf = buf
        self.graph = Graph()

    def model(self, start: int, end: int) -> Graph:
        """ModelProto: the main graph (7), opset imports (8) and metadata_props (14)."""
        for number, wire, value in _fields(self.buf, start, end):
            if number == 7 and wire == _LEN:
                self.main_graph(*value)
            elif number == 8 and wire == _LEN:
                domain, version = self.opset(*value)
                if domain in ("", "ai.onnx"):
                    self.graph.opset = version
            elif number == 14 and wire == _LEN:
                key, text = self.entry(*value)
                self.graph.metadata[key] = text
        return self.graph

    def opset(self, start: int, end: int) -> tuple[str, int]:
        domain, version = "", 0
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1 and wire == _LEN:
                domain = utf8(self.buf, value)
            elif number == 2 and wire == _VARINT:
                version = value
        return domain, version

    def entry(self, start: int, end: int) -> tuple[str, str]:
        key = text = ""
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1 and wire == _LEN:
                key = utf8(self.buf, value)
            elif number == 2 and wire == _LEN:
                text = utf8(self.buf, value)
        return key, text

    def main_graph(self, start: int, end: int) -> None:
        """GraphProto: nodes (1), initializers (5), inputs (11), outputs (12)."""
        for number, wire, value in _fields(self.buf, start, end):
            if wire != _LEN:
                continue
            if number == 1:
                self.graph.nodes.append(self.node(*value))
            elif number == 5:
                tensor = self.tensor(*value)
                self.graph.initializers[tensor.name] = tensor
            elif number in (11, 12):
                spec = self.value_info(*value)
                (self.graph.inputs if number == 11 else self.graph.outputs).append(spec)

    def node(self, start: int, end: int) -> Node:
        """NodeProto: inputs (1), outputs (2), name (3), op_type (4), attributes (5), domain (7)."""
        node = Node("", "", "", [], [])
        for number, wire, value in _fields(self.buf, start, end):
            if wire != _LEN:
                continue
            if number == 1:
                node.inputs.append(utf8(self.buf, value))
            elif number == 2:
                node.outputs.append(utf8(self.buf, value))
            elif number == 3:
                node.name = utf8(self.buf, value)
            elif number == 4:
                node.op = utf8(self.buf, value)
            elif number == 5:
                name, attr = self.attribute(*value)
                node.attrs[name] = attr
            elif number == 7:
                node.domain = utf8(self.buf, value)
        return node

    def attribute(self, start: int, end: int) -> tuple[str, Any]:
        """AttributeProto: its name and value (f 2, i 3, s 4, t 5, g 6, floats 7, ints 8)."""
        name: str = ""
        result: Any = None
        floats: list[float] = []
        ints: list[int] = []
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1 and wire == _LEN:
                name = utf8(self.buf, value)
            elif number == 2:
                result = _floats(self.buf, wire, value)[0]
            elif number == 3 and wire == _VARINT:
                result = _signed(value)
            elif number == 4 and wire == _LEN:
                result = bytes(self.buf[value[0] : value[1]]).decode("utf-8", "replace")
            elif number == 5 and wire == _LEN:
                result = self.tensor(*value)
            elif number in (6, 11):
                result = "<graph>"  # a subgraph: not decoded (its outputs count as unknown)
            elif number == 7:
                floats += _floats(self.buf, wire, value)
            elif number == 8:
                ints += _scalar_or_packed_ints(self.buf, wire, value)
        if result is None:
            result = floats or ints or []
        return name, result

    def tensor(self, start: int, end: int) -> Tensor:
        """TensorProto: dims (1), data_type (2), typed data (4, 5, 7, 10, 11), name (8), raw_data (9), external (13)."""
        dims: list[int] = []
        dtype, name = 0, ""
        raw: tuple[int, int] | None = None
        typed: list[Any] = []
        external_length: int | None = None
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1:
                dims += _scalar_or_packed_ints(self.buf, wire, value)
            elif number == 2 and wire == _VARINT:
                dtype = value
            elif number == 8 and wire == _LEN:
                name = utf8(self.buf, value)
            elif number == 9 and wire == _LEN:
                raw = value
            elif number in (5, 7, 11):
                typed += _scalar_or_packed_ints(self.buf, wire, value)
            elif number in (4, 10):
                typed += _floats(self.buf, wire, value, "<f" if number == 4 else "<d")
            elif number == 13 and wire == _LEN:
                key, text = self.entry(*value)
                if key == "length" and text.isascii() and text.isdigit():
                    external_length = int(text)
        return _make_tensor(self.buf, name, dtype, tuple(dims), raw, typed, external_length)

    def value_info(self, start: int, end: int) -> ValueSpec:
        """ValueInfoProto: name (1) and type (2) → tensor_type (1) → elem_type (1), shape (2)."""
        name, dtype = "", 0
        shape: tuple[int | str | None, ...] | None = None
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1 and wire == _LEN:
                name = utf8(self.buf, value)
            elif number == 2 and wire == _LEN:
                for t_number, t_wire, t_value in _fields(self.buf, *value):
                    if t_number == 1 and t_wire == _LEN:
                        dtype, shape = self.tensor_type(*t_value)
        return ValueSpec(name, dtype, shape)

    def tensor_type(self, start: int, end: int) -> tuple[int, tuple[int | str | None, ...] | None]:
        dtype, shape = 0, None
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1 and wire == _VARINT:
                dtype = value
            elif number == 2 and wire == _LEN:
                shape = tuple(self.dim(*dim) for n, w, dim in _fields(self.buf, *value) if n == 1 and w == _LEN)
        return dtype, shape

    def dim(self, start: int, end: int) -> int | str | None:
        """Dimension: dim_value (1) or dim_param (2); None when it has neither."""
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1 and wire == _VARINT:
                return _signed(value)
            if number == 2 and wire == _LEN:
                return utf8(self.buf, value)
        return None


def _make_tensor(
    buf: Any,
    name: str,
    dtype: int,
    dims: tuple[int, ...],
    raw: tuple[int, int] | None,
    typed: list[Any],
    external_length: int | None,
) -> Tensor:
    """A Tensor with its byte count and, when small, its decoded values."""
    count = 1
    for d in dims:
        count *= max(d, 0)
    nbytes = count * ELEMENT_BYTES.get(dtype, 4)
    if raw is not None:
        nbytes = raw[1] - raw[0]
    elif external_length is not None:
        nbytes = external_length
    values: list[Any] | None = None
    if count <= MAX_VALUES:
        if typed:
            values = [bool(v) for v in typed] if dtype == BOOL else typed
        elif raw is not None and (dtype in _RAW_INT_FORMATS or dtype in _FLOAT_FORMATS):
            fmt = _RAW_INT_FORMATS.get(dtype) or _FLOAT_FORMATS[dtype]
            data = bytes(buf[raw[0] : raw[1]])
            if len(data) == count * struct.calcsize(fmt):
                values = [v for (v,) in struct.iter_unpack(fmt, data)]
    if values is not None and len(values) != count:
        values = None
    return Tensor(name, dtype, dims, nbytes, values)


def read_graph(path: str | os.PathLike) -> Graph | None:
    """Decode the main graph of the ONNX model at ``path``; None for an ORT-format or undecodable file.

    The file has passed ``check_model_file`` first; a file this reader cannot decode is left to the
    isolated first contact (:mod:`edgeseq.runtime.isolation`).
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode) or os.stat(path).st_size == 0:  # a FIFO would block open()
            return None
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            if is_ort_format(buf):
                return None
            return GraphReader(buf).model(0, len(buf))
    except (OSError, ValueError, CorruptModel, struct.error, UnicodeDecodeError):
        return None


def is_int_type(dtype: int) -> bool:
    """Whether elements of ``dtype`` are integers (or booleans)."""
    return dtype in _INT_TYPES
