"""A bounds-checked reader of ORT-format models (``.ort`` flatbuffers): node domains over every graph, opsets.

ORT-format tensors carry no file paths, so there is no external data to find. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from edgeseq.runtime.modelfile.onnx_reader import MAX_NESTING, CorruptModel, ExternalData, utf8

# ORT-format models are flatbuffers whose file identifier sits at bytes 4..8.
ORT_MAGIC = b"ORTM"


def is_ort_format(buf: Any) -> bool:
    """Whether ``buf`` holds an ORT-format model (by its flatbuffer file identifier)."""
    return bytes(buf[4:8]) == ORT_MAGIC


class OrtWalk:
    """The same facts from an ORT-format model (a flatbuffer): node domains over every graph and opsets.

    Vtable slots are those of onnxruntime/core/flatbuffers/schema/ort.fbs (the generated readers ship
    in ``onnxruntime/tools/ort_format_model``): InferenceSession.model 6; Model.ir_version 4,
    opset_import 6, graph 18; OperatorSetId.domain 4, version 6; Graph.nodes 8; Node.domain 8,
    op_type 14, attributes 24; Attribute.g 18, graphs 28. ORT-format tensors carry no file paths.
    """

    def __init__(self, buf: Any, size: int) -> None:
        self.buf, self.size = buf, size
        self.ir_version: int | None = None
        self.has_graph = False
        self.opsets: dict[str, int] = {}
        self.nodes: list[tuple[str, str, str]] = []
        self.functions: set[tuple[str, str, str]] = set()
        self.external: list[ExternalData] = []
        self._seen: set[int] = set()  # flatbuffers can share tables and vectors; walk each once

    def _int(self, pos: int, width: int, signed: bool = False) -> int:
        if pos < 0 or pos + width > self.size:
            raise CorruptModel("an offset points past the end of the file (truncated file?)")
        return int.from_bytes(self.buf[pos : pos + width], "little", signed=signed)

    def _field(self, table: int, slot: int) -> int:
        """Position of a table's field, or 0 when absent."""
        vtable = table - self._int(table, 4, signed=True)
        if self._int(vtable, 2) <= slot:
            return 0
        offset = self._int(vtable + slot, 2)
        return table + offset if offset else 0

    def _ref(self, table: int, slot: int) -> int:
        pos = self._field(table, slot)
        return pos + self._int(pos, 4) if pos else 0

    def _text(self, table: int, slot: int) -> str:
        pos = self._ref(table, slot)
        if not pos:
            return ""
        length = self._int(pos, 4)
        if pos + 4 + length > self.size:
            raise CorruptModel("a string runs past the end of the file (truncated file?)")
        return utf8(self.buf, (pos + 4, pos + 4 + length))

    def _tables(self, table: int, slot: int) -> Iterator[int]:
        pos = self._ref(table, slot)
        # A crafted file can point many tables at one long vector; reading each vector once keeps the
        # walk linear in the file size.
        if not pos or pos in self._seen:
            return
        self._seen.add(pos)
        for i in range(self._int(pos, 4)):
            item = pos + 4 + 4 * i
            yield item + self._int(item, 4)

    def model(self) -> None:
        """InferenceSession → Model: ir_version, opset imports and the main graph."""
        session = self._int(0, 4)
        model = self._ref(session, 6)
        if not model:
            raise CorruptModel("the ORT-format file holds no model")
        ir_pos = self._field(model, 4)
        self.ir_version = self._int(ir_pos, 8, signed=True) if ir_pos else 0
        for opset in self._tables(model, 6):
            version_pos = self._field(opset, 6)
            self.opsets[self._text(opset, 4) or "ai.onnx"] = (
                self._int(version_pos, 8, signed=True) if version_pos else 0
            )
        graph = self._ref(model, 18)
        if graph:
            self.has_graph = True
            self.graph(graph, depth=1)

    def graph(self, graph: int, depth: int) -> None:
        """Graph: records every node's ``(domain, op_type, "")`` and walks attribute subgraphs."""
        if depth > MAX_NESTING:
            raise CorruptModel(f"subgraphs nest deeper than {MAX_NESTING} levels")
        if graph in self._seen:
            return
        self._seen.add(graph)
        for node in self._tables(graph, 8):
            self.nodes.append((self._text(node, 8), self._text(node, 14), ""))
            for attribute in self._tables(node, 24):
                sub = self._ref(attribute, 18)
                if sub:
                    self.graph(sub, depth + 1)
                for sub in self._tables(attribute, 28):
                    self.graph(sub, depth + 1)


def walk_ort(buf: Any, size: int) -> OrtWalk:
    """Walk the ORT-format model in ``buf[:size]``.

    Raises:
        CorruptModel: an offset or string runs past the end, or graphs nest too deep.
    """
    walk = OrtWalk(buf, size)
    walk.model()
    return walk
