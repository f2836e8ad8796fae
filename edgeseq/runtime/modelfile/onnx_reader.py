"""A minimal reader of the protobuf wire format for the parts of an ONNX ``ModelProto`` that matter.

It walks nodes and their domains, every tensor's external-data entries, subgraphs, local functions and
training graphs, and skips tensor payloads by their length, so a large model is not copied into memory.
Standard library only: the ``onnx`` package is not in the base install. What the findings mean (which
domains and files are allowed) is :mod:`edgeseq.runtime.modelfile.policy`'s business.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Subgraphs (If/Loop/Scan bodies) nest; protobuf's own parser stops at 100 levels. Real models nest
# a few levels; a file nesting deeper is hostile or broken.
MAX_NESTING = 64

_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


class CorruptModel(Exception):
    """The bytes are not a well-formed model (internal to the readers; the policy turns it into a ModelFileError)."""


@dataclass(frozen=True)
class ExternalData:
    """One tensor whose bytes live in a side file."""

    tensor: str
    location: str
    offset: int
    length: int | None


_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _varint(buf: Any, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise CorruptModel("a number runs past the end of its message (truncated file?)")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise CorruptModel("a number is longer than 10 bytes")


def _fields(buf: Any, start: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(field number, wire type, value)``; LEN and fixed-size values are ``(start, end)`` offsets."""
    pos = start
    value: Any
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise CorruptModel("field number 0")
        if wire == _VARINT:
            value, pos = _varint(buf, pos, end)
        elif wire == _LEN:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise CorruptModel("a field runs past the end of its message (truncated file?)")
            value, pos = (pos, pos + length), pos + length
        elif wire in (_I64, _I32):
            size = 8 if wire == _I64 else 4
            if pos + size > end:
                raise CorruptModel("a fixed-size field runs past the end of its message (truncated file?)")
            value, pos = (pos, pos + size), pos + size
        else:  # 3/4 are the long-deprecated groups; 6/7 do not exist
            raise CorruptModel(f"wire type {wire} in field {number}")
        yield number, wire, value


def utf8(buf: Any, span: tuple[int, int]) -> str:
    """The UTF-8 text of ``buf[span[0]:span[1]]``."""
    try:
        return bytes(buf[span[0] : span[1]]).decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptModel("a string field is not UTF-8") from None


def _expect(wire: int, expected: int, what: str) -> None:
    if wire != expected:
        raise CorruptModel(f"{what} has wire type {wire}; expected {expected}")


class OnnxWalk:
    """Walk the parts of an ONNX ModelProto that decide what ONNX Runtime will read and run.

    Field numbers are those of onnx/onnx.proto3 (ONNX 1.x), stable since IR version 3.
    """

    def __init__(self, buf: Any) -> None:
        self.buf = buf
        self.ir_version: int | None = None
        self.has_graph = False
        self.opsets: dict[str, int] = {}
        self.nodes: list[tuple[str, str, str]] = []  # (domain, op_type, overload)
        self.functions: set[tuple[str, str, str]] = set()
        self.external: list[ExternalData] = []

    def model(self, start: int, end: int) -> None:
        """ModelProto: ir_version, graph, opset imports, training graphs, local functions."""
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1:
                _expect(wire, _VARINT, "ir_version")
                self.ir_version = value
            elif number == 7:
                _expect(wire, _LEN, "graph")
                self.has_graph = True
                self.graph(value[0], value[1], depth=1)
            elif number == 8:
                _expect(wire, _LEN, "opset_import")
                domain, version = self.opset(*value)
                self.opsets[domain or "ai.onnx"] = version
            elif number == 20:
                _expect(wire, _LEN, "training_info")
                self.training_info(*value)
            elif number == 25:
                _expect(wire, _LEN, "functions")
                self.function(*value)

    def opset(self, start: int, end: int) -> tuple[str, int]:
        """OperatorSetIdProto: ``(domain, version)``."""
        domain, version = "", 0
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1 and wire == _LEN:
                domain = utf8(self.buf, value)
            elif number == 2 and wire == _VARINT:
                version = value
        return domain, version

    def training_info(self, start: int, end: int) -> None:
        """TrainingInfoProto: its initialization and algorithm graphs."""
        for number, wire, value in _fields(self.buf, start, end):
            if number in (1, 2):  # initialization, algorithm
                _expect(wire, _LEN, "training graph")
                self.graph(value[0], value[1], depth=1)

    def function(self, start: int, end: int) -> None:
        """FunctionProto: its nodes and attributes; records ``(domain, name, overload)``."""
        name = domain = overload = ""
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1 and wire == _LEN:
                name = utf8(self.buf, value)
            elif number == 10 and wire == _LEN:
                domain = utf8(self.buf, value)
            elif number == 13 and wire == _LEN:
                overload = utf8(self.buf, value)
            elif number == 7:
                _expect(wire, _LEN, "function node")
                self.node(value[0], value[1], depth=1)
            elif number == 11:
                _expect(wire, _LEN, "function attribute")
                self.attribute(value[0], value[1], depth=1)
        self.functions.add((domain, name, overload))

    def graph(self, start: int, end: int, depth: int) -> None:
        """GraphProto: nodes, initializers and sparse initializers, at most :data:`MAX_NESTING` deep."""
        if depth > MAX_NESTING:
            raise CorruptModel(f"subgraphs nest deeper than {MAX_NESTING} levels")
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1:
                _expect(wire, _LEN, "node")
                self.node(value[0], value[1], depth=depth)
            elif number == 5:
                _expect(wire, _LEN, "initializer")
                self.tensor(*value)
            elif number == 15:
                _expect(wire, _LEN, "sparse_initializer")
                self.sparse_tensor(*value)

    def node(self, start: int, end: int, depth: int) -> None:
        """NodeProto: records ``(domain, op_type, overload)`` and walks its attributes."""
        domain = op_type = overload = ""
        for number, wire, value in _fields(self.buf, start, end):
            if number == 4 and wire == _LEN:
                op_type = utf8(self.buf, value)
            elif number == 7 and wire == _LEN:
                domain = utf8(self.buf, value)
            elif number == 8 and wire == _LEN:
                overload = utf8(self.buf, value)
            elif number == 5:
                _expect(wire, _LEN, "attribute")
                self.attribute(value[0], value[1], depth=depth)
        self.nodes.append((domain, op_type, overload))

    def attribute(self, start: int, end: int, depth: int) -> None:
        """AttributeProto: tensors, sparse tensors and subgraphs (If/Loop/Scan bodies)."""
        for number, wire, value in _fields(self.buf, start, end):
            if number in (5, 10):  # t, tensors
                _expect(wire, _LEN, "attribute tensor")
                self.tensor(*value)
            elif number in (6, 11):  # g, graphs: If/Loop/Scan bodies
                _expect(wire, _LEN, "attribute graph")
                self.graph(value[0], value[1], depth=depth + 1)
            elif number in (22, 23):  # sparse_tensor, sparse_tensors
                _expect(wire, _LEN, "attribute sparse tensor")
                self.sparse_tensor(*value)

    def sparse_tensor(self, start: int, end: int) -> None:
        """SparseTensorProto: its values and indices tensors."""
        for number, wire, value in _fields(self.buf, start, end):
            if number in (1, 2):  # values, indices
                _expect(wire, _LEN, "sparse tensor part")
                self.tensor(*value)

    def tensor(self, start: int, end: int) -> None:
        """TensorProto: records its external-data entry, if it has one (payloads are skipped)."""
        name = ""
        location_kind = 0
        entries: dict[str, str] = {}
        for number, wire, value in _fields(self.buf, start, end):
            if number == 8 and wire == _LEN:
                name = utf8(self.buf, value)
            elif number == 13:
                _expect(wire, _LEN, "external_data")
                key, text = self.entry(*value)
                entries[key] = text
            elif number == 14 and wire == _VARINT:
                location_kind = value
        # Checked when either is present: a reader that honours only one of the two must not slip through.
        if location_kind == _EXTERNAL or entries:
            self.external.append(_external_entry(name, entries))

    def entry(self, start: int, end: int) -> tuple[str, str]:
        """StringStringEntryProto: ``(key, value)``."""
        key = text = ""
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1 and wire == _LEN:
                key = utf8(self.buf, value)
            elif number == 2 and wire == _LEN:
                text = utf8(self.buf, value)
        return key, text


def _external_entry(tensor: str, entries: dict[str, str]) -> ExternalData:
    location = entries.get("location")
    if not location:
        raise CorruptModel(f"tensor {tensor!r} stores its data externally but names no location")
    numbers: dict[str, int | None] = {}
    for key in ("offset", "length"):
        raw = entries.get(key)
        if raw is None:
            numbers[key] = None
            continue
        if not (raw.isascii() and raw.isdigit()):  # str.isdigit() also accepts '²', which int() refuses
            raise CorruptModel(f"tensor {tensor!r}: external-data {key} {raw!r} is not a non-negative integer")
        numbers[key] = int(raw)
    return ExternalData(tensor, location, numbers["offset"] or 0, numbers["length"])


def walk_onnx(buf: Any, size: int) -> OnnxWalk:
    """Walk the ONNX model in ``buf[:size]``.

    Raises:
        CorruptModel: the bytes are not well-formed protobuf, or nest too deep.
    """
    walk = OnnxWalk(buf)
    walk.model(0, size)
    return walk
