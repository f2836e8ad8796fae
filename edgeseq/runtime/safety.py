"""Checks an untrusted model file must pass before ONNX Runtime sees it.

ONNX Runtime opens whatever a model points at. A model from someone else can:

* point its external data (weights in side files) at any file on the machine: ``/etc/shadow``,
  ``../../secret``, a symbolic link, or a *hard link* to an outside file. ``onnx.load`` refuses the
  hard link but ``onnxruntime.InferenceSession`` reads it (docs/traps.md #20), so the containment check
  has to be ours;
* use operators from custom domains, which run code from whatever custom-op library the process
  registered;
* be truncated, corrupt, huge, or not ONNX at all;
* crash the native code while a session is created (docs/traps.md #13: a segfault, not an exception).

:func:`check_model_file` covers the first three without onnxruntime and without the ``onnx``
package (which is not in the base install): a small reader of the protobuf wire format walks the
parts of ``ModelProto`` that matter (nodes and their domains, every tensor's external-data entries,
subgraphs, local functions, training graphs) and skips tensor payloads by their length, so a large
model is not copied into memory. ORT-format files (``.ort``, flatbuffers) get the same domain check
through a bounds-checked walk of their graphs. :func:`create_session_isolated` covers the fourth: the
session is created first in a child Python, and a crash there becomes a :class:`ModelFileError` naming
the signal.

Not promised: the check and ONNX Runtime's read are two steps, so someone who can write into the model's
folder between them can still swap a file; a model that passes is well-formed and contained, not correct
or benign in what it computes; onnxruntime bugs in creating sessions for well-formed graphs are caught
only with :func:`create_session_isolated`.

Only the standard library, onnxruntime and ``edgeseq.errors`` / ``edgeseq.runtime.*`` are imported.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import mmap
import os
import signal
import stat
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.errors import ModelFileError

# Protobuf cannot serialise a message of 2 GiB or more, so no single .onnx file is larger; external
# data can be, but edge models are megabytes. The cap counts the model file plus every external file
# once; raise it with ``max_bytes`` for a bigger model you trust.
DEFAULT_MAX_BYTES = 2 * 1024**3

# Operator domains edgeseq's exporter and optimizer produce: the standard ONNX operators ("" and its
# alias "ai.onnx"), the classic-ML operators, ONNX Runtime's contrib operators (quantized and fused
# variants: QLinear*, DynamicQuantizeLSTM, FusedConv, ...) and its NCHWc layout operators (written into
# graphs optimized at ORT_ENABLE_ALL). Anything else needs a custom-op library: the caller must opt in.
DEFAULT_ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.microsoft.nchwc"})

# Subgraphs (If/Loop/Scan bodies) nest; protobuf's own parser stops at 100 levels. Real models nest
# a few levels; a file nesting deeper is hostile or broken.
MAX_NESTING = 64

# Seconds a child process may take to create (and probe) a session before it is called hung.
DEFAULT_ISOLATION_TIMEOUT_S = 120.0

# ORT-format models are flatbuffers whose file identifier sits at bytes 4..8.
_ORT_MAGIC = b"ORTM"

_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


@dataclass(frozen=True)
class ExternalData:
    """One tensor whose bytes live in a side file."""

    tensor: str
    location: str
    offset: int
    length: int | None


@dataclass(frozen=True)
class ModelFileReport:
    """What :func:`check_model_file` found; every check it lists passed.

    Attributes:
        path: the model file as given.
        format: "onnx" or "ort" (ONNX Runtime's flatbuffer format).
        size_bytes: the model file's size.
        total_bytes: model file plus every external-data file (each counted once).
        sha256: hex digest of the model file.
        manifest_verified: True when an edgeseq manifest beside the model recorded this sha256;
            False when there was no manifest (or no sha256 in it) or verification was switched off.
        ir_version: the ONNX IR version.
        opsets: ``{domain: version}`` from the model's opset imports (``"ai.onnx"`` for the default domain).
        op_domains: ``{domain: node count}`` over every graph, subgraph and local function.
        external_data: the tensors stored outside the model file.
        local_functions: ``domain::name`` of the functions the model defines itself.
    """

    path: str
    format: str
    size_bytes: int
    total_bytes: int
    sha256: str
    manifest_verified: bool
    ir_version: int | None = None
    opsets: dict[str, int] = field(default_factory=dict)
    op_domains: dict[str, int] = field(default_factory=dict)
    external_data: tuple[ExternalData, ...] = ()
    local_functions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "path": self.path,
            "format": self.format,
            "size_bytes": self.size_bytes,
            "total_bytes": self.total_bytes,
            "sha256": self.sha256,
            "manifest_verified": self.manifest_verified,
            "ir_version": self.ir_version,
            "opsets": dict(self.opsets),
            "op_domains": dict(self.op_domains),
            "external_data": [vars(e) for e in self.external_data],
            "local_functions": list(self.local_functions),
        }


# ---------------------------------------------------------------------------------------------------
# A minimal protobuf wire-format reader
# ---------------------------------------------------------------------------------------------------


class _Corrupt(Exception):
    """The bytes are not well-formed protobuf (internal; becomes a ModelFileError with the path)."""


_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _varint(buf: Any, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise _Corrupt("a number runs past the end of its message (truncated file?)")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _Corrupt("a number is longer than 10 bytes")


def _fields(buf: Any, start: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(field number, wire type, value)``; LEN values are ``(start, end)`` offsets, not bytes."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Corrupt("field number 0")
        if wire == _VARINT:
            value, pos = _varint(buf, pos, end)
        elif wire == _LEN:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise _Corrupt("a field runs past the end of its message (truncated file?)")
            value, pos = (pos, pos + length), pos + length
        elif wire in (_I64, _I32):
            pos += 8 if wire == _I64 else 4
            if pos > end:
                raise _Corrupt("a fixed-size field runs past the end of its message (truncated file?)")
            value = None
        else:  # 3/4 are the long-deprecated groups; 6/7 do not exist
            raise _Corrupt(f"wire type {wire} in field {number}")
        yield number, wire, value


def _text(buf: Any, span: tuple[int, int]) -> str:
    try:
        return bytes(buf[span[0] : span[1]]).decode("utf-8")
    except UnicodeDecodeError:
        raise _Corrupt("a string field is not UTF-8") from None


def _expect(wire: int, expected: int, what: str) -> None:
    if wire != expected:
        raise _Corrupt(f"{what} has wire type {wire}; expected {expected}")


class _ModelWalk:
    """Walk the parts of an ONNX ModelProto that decide what ONNX Runtime will read and run.

    Field numbers are those of onnx/onnx.proto3 (ONNX 1.x), stable since IR version 3.
    """

    def __init__(self, buf: Any) -> None:
        self.buf = buf
        self.ir_version: int | None = None
        self.has_graph = False
        self.opsets: dict[str, int] = {}
        self.domains: Counter[str] = Counter()
        self.nodes: list[tuple[str, str, str]] = []  # (domain, op_type, overload)
        self.functions: set[tuple[str, str, str]] = set()
        self.external: list[ExternalData] = []

    def model(self, start: int, end: int) -> None:
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1:
                _expect(wire, _VARINT, "ir_version")
                self.ir_version = value
            elif number == 7:
                _expect(wire, _LEN, "graph")
                self.has_graph = True
                self.graph(*value, depth=1)
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
        domain, version = "", 0
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1 and wire == _LEN:
                domain = _text(self.buf, value)
            elif number == 2 and wire == _VARINT:
                version = value
        return domain, version

    def training_info(self, start: int, end: int) -> None:
        for number, wire, value in _fields(self.buf, start, end):
            if number in (1, 2):  # initialization, algorithm
                _expect(wire, _LEN, "training graph")
                self.graph(*value, depth=1)

    def function(self, start: int, end: int) -> None:
        name = domain = overload = ""
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1 and wire == _LEN:
                name = _text(self.buf, value)
            elif number == 10 and wire == _LEN:
                domain = _text(self.buf, value)
            elif number == 13 and wire == _LEN:
                overload = _text(self.buf, value)
            elif number == 7:
                _expect(wire, _LEN, "function node")
                self.node(*value, depth=1)
            elif number == 11:
                _expect(wire, _LEN, "function attribute")
                self.attribute(*value, depth=1)
        self.functions.add((domain, name, overload))

    def graph(self, start: int, end: int, depth: int) -> None:
        if depth > MAX_NESTING:
            raise _Corrupt(f"subgraphs nest deeper than {MAX_NESTING} levels")
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1:
                _expect(wire, _LEN, "node")
                self.node(*value, depth=depth)
            elif number == 5:
                _expect(wire, _LEN, "initializer")
                self.tensor(*value)
            elif number == 15:
                _expect(wire, _LEN, "sparse_initializer")
                self.sparse_tensor(*value)

    def node(self, start: int, end: int, depth: int) -> None:
        domain = op_type = overload = ""
        for number, wire, value in _fields(self.buf, start, end):
            if number == 4 and wire == _LEN:
                op_type = _text(self.buf, value)
            elif number == 7 and wire == _LEN:
                domain = _text(self.buf, value)
            elif number == 8 and wire == _LEN:
                overload = _text(self.buf, value)
            elif number == 5:
                _expect(wire, _LEN, "attribute")
                self.attribute(*value, depth=depth)
        self.nodes.append((domain, op_type, overload))

    def attribute(self, start: int, end: int, depth: int) -> None:
        for number, wire, value in _fields(self.buf, start, end):
            if number in (5, 10):  # t, tensors
                _expect(wire, _LEN, "attribute tensor")
                self.tensor(*value)
            elif number in (6, 11):  # g, graphs: If/Loop/Scan bodies
                _expect(wire, _LEN, "attribute graph")
                self.graph(*value, depth=depth + 1)
            elif number in (22, 23):  # sparse_tensor, sparse_tensors
                _expect(wire, _LEN, "attribute sparse tensor")
                self.sparse_tensor(*value)

    def sparse_tensor(self, start: int, end: int) -> None:
        for number, wire, value in _fields(self.buf, start, end):
            if number in (1, 2):  # values, indices
                _expect(wire, _LEN, "sparse tensor part")
                self.tensor(*value)

    def tensor(self, start: int, end: int) -> None:
        name = ""
        location_kind = 0
        entries: dict[str, str] = {}
        for number, wire, value in _fields(self.buf, start, end):
            if number == 8 and wire == _LEN:
                name = _text(self.buf, value)
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
        key = text = ""
        for number, wire, value in _fields(self.buf, start, end):
            if number == 1 and wire == _LEN:
                key = _text(self.buf, value)
            elif number == 2 and wire == _LEN:
                text = _text(self.buf, value)
        return key, text


def _external_entry(tensor: str, entries: dict[str, str]) -> ExternalData:
    location = entries.get("location")
    if not location:
        raise _Corrupt(f"tensor {tensor!r} stores its data externally but names no location")
    numbers: dict[str, int | None] = {}
    for key in ("offset", "length"):
        raw = entries.get(key)
        if raw is None:
            numbers[key] = None
            continue
        if not raw.isdigit():
            raise _Corrupt(f"tensor {tensor!r}: external-data {key} {raw!r} is not a non-negative integer")
        numbers[key] = int(raw)
    return ExternalData(tensor, location, numbers["offset"] or 0, numbers["length"])


class _OrtWalk:
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
            raise _Corrupt("an offset points past the end of the file (truncated file?)")
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
            raise _Corrupt("a string runs past the end of the file (truncated file?)")
        return _text(self.buf, (pos + 4, pos + 4 + length))

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
        session = self._int(0, 4)
        model = self._ref(session, 6)
        if not model:
            raise _Corrupt("the ORT-format file holds no model")
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
        if depth > MAX_NESTING:
            raise _Corrupt(f"subgraphs nest deeper than {MAX_NESTING} levels")
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


# ---------------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------------


def check_model_file(
    path: str | os.PathLike,
    *,
    allow_domains: Iterable[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    verify_manifest: bool = True,
) -> ModelFileReport:
    """Check a model file before handing it to ONNX Runtime.

    Checks, in order: the path is an existing regular file, not empty, not above ``max_bytes``; it
    parses as an ONNX ModelProto (or is an ORT-format file); every external-data location is a
    relative path inside the model's folder, reached without symbolic links, naming a regular file
    with one hard link, large enough for the recorded offset and length; model plus external data stay
    under ``max_bytes``; every operator's domain is an edgeseq one or in ``allow_domains``; the sha256
    recorded in the edgeseq manifest beside the model (``model.json`` for ``model.onnx``) matches.

    Args:
        path: the ``.onnx`` (or ``.ort``) file.
        allow_domains: further operator domains to accept (custom-op libraries you trust).
        max_bytes: most bytes of model plus external data.
        verify_manifest: compare the file's sha256 with the manifest's when there is one.

    Returns:
        A :class:`ModelFileReport` of what was found.

    Raises:
        ModelFileError: one line naming the file, what is wrong and what was expected.
    """
    path = Path(path)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ModelFileError(f"max_bytes: got {max_bytes!r}; expected a positive integer")
    allowed = DEFAULT_ALLOWED_DOMAINS | _domains(allow_domains)
    where = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ModelFileError(f"model file {where!r} not found; expected an .onnx file") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {where!r}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"model path {where!r} is not a file; expected an .onnx file")
    size = info.st_size
    if size == 0:
        raise ModelFileError(f"model file {where!r} is empty; expected an ONNX model")
    if size > max_bytes:
        raise ModelFileError(f"model file {where!r} has {size} bytes; expected at most {max_bytes} (max_bytes)")

    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            is_ort = buf[4:8] == _ORT_MAGIC
            walk: _ModelWalk | _OrtWalk = _OrtWalk(buf, size) if is_ort else _ModelWalk(buf)
            try:
                if isinstance(walk, _OrtWalk):
                    walk.model()
                else:
                    walk.model(0, size)
            except _Corrupt as exc:
                raise ModelFileError(f"cannot load model {where!r}: {exc}; expected a valid ONNX model") from None
            digest = hashlib.sha256(buf).hexdigest()
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {where!r}: {exc.strerror or exc}") from None

    if not walk.has_graph or walk.ir_version is None:
        missing = "graph" if not walk.has_graph else "ir_version"
        raise ModelFileError(f"cannot load model {where!r}: it has no {missing}; expected a valid ONNX model")
    domains = _check_domains(walk, allowed, where)
    total = size + _check_external(path, walk.external, max_bytes - size)
    verified = _check_manifest(path, digest) if verify_manifest else False
    return ModelFileReport(
        path=where,
        size_bytes=size,
        total_bytes=total,
        sha256=digest,
        manifest_verified=verified,
        format="ort" if is_ort else "onnx",
        ir_version=walk.ir_version,
        opsets=dict(walk.opsets),
        op_domains=domains,
        external_data=tuple(walk.external),
        local_functions=tuple(sorted(f"{d}::{n}" for d, n, _ in walk.functions)),
    )


def _domains(allow_domains: Iterable[str] | None) -> frozenset[str]:
    if allow_domains is None:
        return frozenset()
    if isinstance(allow_domains, str):  # a lone string would otherwise become a set of letters
        allow_domains = [allow_domains]
    values = list(allow_domains)
    bad = [d for d in values if not isinstance(d, str)]
    if bad:
        raise ModelFileError(f"allow_domains: got {bad[0]!r}; expected operator domain names (strings)")
    return frozenset(values)


def _check_domains(walk: _ModelWalk | _OrtWalk, allowed: frozenset[str], where: str) -> dict[str, int]:
    """Every node's domain must be allowed, or name a function the model defines (its body is checked too)."""
    counts: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for domain, op_type, overload in walk.nodes:
        counts[domain or "ai.onnx"] += 1
        if domain in allowed or (domain, op_type, overload) in walk.functions:
            continue
        refused[domain] += 1
        examples.setdefault(domain, op_type)
    if refused:
        listed = ", ".join(
            f"{d!r} ({n} node{'s' if n != 1 else ''}, e.g. {examples[d]})" for d, n in sorted(refused.items())
        )
        raise ModelFileError(
            f"model {where!r} uses operators from domains {listed}; expected only "
            f"{', '.join(repr(d) for d in sorted(allowed))} (opt in with allow_domains / --allow-domain)"
        )
    return dict(sorted(counts.items()))


def _check_external(model_path: Path, entries: list[ExternalData], budget: int) -> int:
    """Containment and size of external data; returns the bytes of the distinct external files."""
    if not entries:
        return 0
    folder = Path(os.path.abspath(model_path)).parent
    real_folder = os.path.realpath(folder)
    sizes: dict[str, int] = {}
    for entry in entries:
        target, size = _external_file(folder, real_folder, entry, str(model_path))
        sizes[target] = size
        length = entry.length if entry.length is not None else size - entry.offset
        if entry.offset + max(length, 0) > size or entry.offset > size:
            raise ModelFileError(
                f"model {str(model_path)!r}: tensor {entry.tensor!r} reads bytes {entry.offset}.."
                f"{entry.offset + length} of {entry.location!r}, which has {size}; expected the data inside the file"
            )
    total = sum(sizes.values())
    if total > budget:
        raise ModelFileError(
            f"model {str(model_path)!r} has {total} bytes of external data, over the max_bytes limit "
            f"({budget} bytes left after the model file)"
        )
    return total


def _external_file(folder: Path, real_folder: str, entry: ExternalData, where: str) -> tuple[str, int]:
    """Resolve one location inside ``folder``, refusing every way out; returns (real path, size)."""
    location = entry.location

    def refuse(why: str) -> ModelFileError:
        return ModelFileError(
            f"model {where!r}: tensor {entry.tensor!r} has external data {location!r}, {why}; "
            "expected a plain file inside the model's folder"
        )

    if "\x00" in location or "\\" in location:
        raise refuse("with a NUL or backslash character")
    if location.startswith("/") or (len(location) > 1 and location[1] == ":"):
        raise refuse("an absolute path")
    parts = [p for p in location.split("/") if p not in ("", ".")]
    if not parts:
        raise refuse("which names no file")
    if ".." in parts:
        raise refuse("which climbs out with '..'")
    current = folder
    for i, part in enumerate(parts):
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            raise refuse("which does not exist") from None
        except OSError as exc:
            raise refuse(f"which cannot be read ({exc.strerror})") from None
        if stat.S_ISLNK(info.st_mode):
            raise refuse("reached through a symbolic link" if i < len(parts) - 1 else "a symbolic link")
    if not stat.S_ISREG(info.st_mode):
        raise refuse("which is not a regular file")
    if info.st_nlink != 1:
        # A second name may be anywhere on the file system: onnxruntime would read it (docs/traps.md #20).
        raise refuse(f"a file with {info.st_nlink} hard links")
    real = os.path.realpath(current)
    if os.path.commonpath([real, real_folder]) != real_folder:
        raise refuse("which resolves outside the model's folder")
    return real, info.st_size


def _check_manifest(path: Path, digest: str) -> bool:
    """Compare with the sha256 in edgeseq's manifest (``<stem>.json``); True when it was there and matched.

    The manifest layout is edgeseq.manifest's (key ``sha256``, and ``file`` naming the model); that module
    needs onnx, so the two keys are read here directly.
    """
    manifest = path.with_suffix(".json")
    if manifest == path or not manifest.is_file():
        return False
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"manifest {str(manifest)!r} is not readable JSON ({exc}); expected edgeseq's manifest"
        ) from None
    if not isinstance(data, dict):
        raise ModelFileError(f"manifest {str(manifest)!r}: got {type(data).__name__}; expected a JSON object")
    recorded = data.get("sha256")
    if recorded is None:
        return False
    if data.get("file") not in (None, path.name):
        # The manifest describes another file (a renamed model): its hash says nothing about this one.
        return False
    if not isinstance(recorded, str) or recorded.lower() != digest:
        raise ModelFileError(
            f"model {str(path)!r} has sha256 {digest[:16]}…, but its manifest {manifest.name} records "
            f"{str(recorded)[:16]}…; expected the file the manifest describes (modified or replaced? "
            "pass verify_manifest=False / --no-verify-manifest to skip)"
        )
    return True


# ---------------------------------------------------------------------------------------------------
# Session creation in a child process
# ---------------------------------------------------------------------------------------------------

# Runs in a fresh interpreter that imports only onnxruntime and numpy. It creates the session with
# the caller's options, prints CREATED, then (when asked) feeds zeros once — the given shape for the
# first input, else the declared shapes with dynamic axes at 1 for the first and 32 for the others,
# which fits edgeseq's image models — and prints RAN, or PROBE-FAILED with the exception. What a
# failed run means is the caller's call: untrusted-model probing only needs creation to succeed,
# the optimizer's variant check needs the run too.
_CHILD_CODE = r"""
import json, sys
import numpy as np
import onnxruntime as ort
path, options = sys.argv[1], json.loads(sys.argv[2])
so = ort.SessionOptions()
so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, options["level"])
so.intra_op_num_threads = 1
so.log_severity_level = 3
def first_line(exc):
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:400]
try:
    sess = ort.InferenceSession(path, so, providers=options["providers"])
except Exception as exc:
    sys.stderr.write(first_line(exc))
    sys.exit(3)
print("CREATED", flush=True)
if options["probe"]:
    types = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
             "tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(int32)": np.int32,
             "tensor(int64)": np.int64, "tensor(bool)": np.bool_}
    feeds = {}
    for k, inp in enumerate(sess.get_inputs()):
        shape = [d if isinstance(d, int) and d > 0 else (1 if i == 0 else 32) for i, d in enumerate(inp.shape)]
        if k == 0 and options.get("shape") is not None:
            shape = options["shape"]
        feeds[inp.name] = np.zeros(shape, dtype=types.get(inp.type, np.float32))
    try:
        sess.run(None, feeds)
        print("RAN", flush=True)
    except Exception as exc:
        print("PROBE-FAILED", first_line(exc).replace("\n", " "), flush=True)
"""

GRAPH_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


@dataclass(frozen=True)
class ChildResult:
    """What happened to a child Python process: exit status and output, or a timeout."""

    returncode: int | None  # None: killed after the timeout
    stdout: str = ""
    stderr: str = ""

    @property
    def timed_out(self) -> bool:
        """The child was killed after the timeout."""
        return self.returncode is None

    @property
    def crashed(self) -> bool:
        """The child died by a signal (a native crash)."""
        return self.returncode is not None and self.returncode < 0

    def last_error_line(self) -> str:
        """The last non-empty stderr line (at most 300 characters), or ``"no message"``."""
        return (self.stderr.strip().splitlines() or ["no message"])[-1][:300]


def run_python_child(code: str, args: Sequence[str], timeout_s: float) -> ChildResult:
    """Run ``python -c code args...`` in an empty temporary folder; never raises for the child's fate.

    The empty folder keeps a stray ``onnxruntime.py`` or ``numpy.py`` in the caller's current folder
    from shadowing the real packages (``python -c`` puts the current folder first on ``sys.path``);
    the environment is kept, since a user-site or PYTHONPATH install may provide onnxruntime.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="edgeseq-probe-") as empty:
            proc = subprocess.run(
                [sys.executable, "-c", code, *args],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
                cwd=empty,
            )
    except subprocess.TimeoutExpired:
        return ChildResult(None)
    return ChildResult(proc.returncode, proc.stdout, proc.stderr)


def open_session_in_child(
    path: str | os.PathLike,
    graph_level: str,
    providers: Sequence[str],
    *,
    run_once: bool = True,
    input_shape: Sequence[int] | None = None,
    timeout_s: float = DEFAULT_ISOLATION_TIMEOUT_S,
) -> ChildResult:
    """Create an onnxruntime session for ``path`` in a child process and (optionally) run it once on zeros.

    Args:
        path: the model file.
        graph_level: a ``GraphOptimizationLevel`` member name, e.g. ``"ORT_ENABLE_ALL"``.
        providers: provider names, in order.
        run_once: also feed zeros once; stdout then holds ``RAN`` or ``PROBE-FAILED <error>``.
        input_shape: the first input's shape for that run (default: its declared shape, dynamic axes filled).
        timeout_s: kill the child after this many seconds.

    Returns:
        The child's fate; stdout holds ``CREATED`` when the session was created.
    """
    options = {
        "level": graph_level,
        "providers": list(providers),
        "probe": bool(run_once),
        "shape": None if input_shape is None else [int(d) for d in input_shape],
    }
    return run_python_child(_CHILD_CODE, [os.path.abspath(path), json.dumps(options)], timeout_s)


def describe_returncode(returncode: int) -> str:
    """``-11`` → ``"signal 11, SIGSEGV"``; ``3`` → ``"exit code 3"``."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        return f"signal {-returncode}, {name}"
    return f"exit code {returncode}"


def probe_in_subprocess(
    path: str | os.PathLike,
    *,
    graph_optimization: str = "all",
    providers: Iterable[str] = ("CPUExecutionProvider",),
    run_once: bool = True,
    timeout_s: float = DEFAULT_ISOLATION_TIMEOUT_S,
) -> str:
    """Create a session for ``path`` in a child Python (and run it once on zeros); raise if that dies.

    Args:
        path: the model file (check it with :func:`check_model_file` first).
        graph_optimization: "disable", "basic", "extended" or "all", as in SessionConfig.
        providers: ONNX Runtime provider names, in order.
        run_once: also feed zeros of the declared input shapes once.
        timeout_s: give up after this many seconds.

    Returns:
        "ran" (created and ran), "created" (created; the probe run raised or was skipped).

    Raises:
        ModelFileError: the child crashed (naming the signal), hung, or could not create the session.
    """
    if graph_optimization not in GRAPH_LEVELS:
        raise ModelFileError(
            f"graph_optimization: got {graph_optimization!r}; expected one of {', '.join(GRAPH_LEVELS)}"
        )
    where = str(path)
    child = open_session_in_child(
        path, GRAPH_LEVELS[graph_optimization], list(providers), run_once=run_once, timeout_s=timeout_s
    )
    if child.timed_out:
        raise ModelFileError(
            f"creating a session for {where!r} did not finish within {timeout_s:g} s in a child process; "
            "expected a model ONNX Runtime can open"
        )
    if child.crashed:
        stage = "running it once" if "CREATED" in child.stdout else "creating a session"
        raise ModelFileError(
            f"ONNX Runtime crashed ({describe_returncode(child.returncode)}) while {stage} for {where!r} "
            "in a child process; this model would have killed the caller"
        )
    if child.returncode != 0:
        raise ModelFileError(f"cannot load model {where!r}: {child.last_error_line()}; expected a valid ONNX model")
    return "ran" if "RAN" in child.stdout else "created"


def create_session_isolated(
    path: str | os.PathLike,
    config: Any = None,
    *,
    allow_domains: Iterable[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    verify_manifest: bool = True,
    run_once: bool = True,
    timeout_s: float = DEFAULT_ISOLATION_TIMEOUT_S,
):
    """Check an unknown model, open it in a child process, and only then in this one.

    Costs one extra interpreter start and session creation (about a second for a small model), so
    use it for models you did not make; :func:`check_model_file` alone is cheap.

    Args:
        path: the model file.
        config: a :class:`edgeseq.runtime.session.SessionConfig` (default: its defaults).
        allow_domains, max_bytes, verify_manifest: passed to :func:`check_model_file`.
        run_once: let the child also run the model once on zeros.
        timeout_s: most seconds the child may take.

    Returns:
        An ``onnxruntime.InferenceSession`` created by :func:`edgeseq.runtime.session.create_session`.

    Raises:
        ModelFileError: a check failed, or the child crashed (the message names the signal), hung or failed.
    """
    from edgeseq.runtime.session import SessionConfig, create_session, requested_providers

    config = config if config is not None else SessionConfig()
    # create_session checks the file again with the config's settings: give it the caller's, so a
    # domain allowed here is not refused there
    config = dataclasses.replace(
        config,
        allow_domains=tuple(dict.fromkeys([*config.allow_domains, *(allow_domains or ())])),
        verify_manifest=config.verify_manifest and verify_manifest,
    )
    check_model_file(path, allow_domains=config.allow_domains, max_bytes=max_bytes, verify_manifest=verify_manifest)
    providers = [p if isinstance(p, str) else p[0] for p in requested_providers(config)]
    probe_in_subprocess(
        path,
        graph_optimization=config.graph_optimization,
        providers=providers,
        run_once=run_once,
        timeout_s=timeout_s,
    )
    return create_session(path, config)
