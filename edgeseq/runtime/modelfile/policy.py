"""The checks an untrusted model file must pass before ONNX Runtime sees it: :func:`check_model_file`.

ONNX Runtime opens whatever a model points at. A model from someone else can point its external data
(weights in side files) at any file on the machine: ``/etc/shadow``, ``../../secret``, a symbolic link,
or a *hard link* to an outside file. ``onnx.load`` refuses the hard link but ``onnxruntime.InferenceSession``
reads it (docs/traps.md #20), so the containment check has to be ours. It can also use operators from
custom domains (which run code from whatever custom-op library the process registered), or be truncated,
corrupt, huge, or not ONNX at all.

The file is read through :mod:`~edgeseq.runtime.modelfile.onnx_reader` (protobuf wire format) or
:mod:`~edgeseq.runtime.modelfile.ort_reader` (ORT flatbuffers); this module decides what is allowed.
Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import stat
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.errors import ModelFileError
from edgeseq.runtime.modelfile.onnx_reader import CorruptModel, ExternalData, OnnxWalk, walk_onnx
from edgeseq.runtime.modelfile.ort_reader import OrtWalk, is_ort_format, walk_ort

# Protobuf cannot serialise a message of 2 GiB or more, so no single .onnx file is larger; external
# data can be, but edge models are megabytes. The cap counts the model file plus every external file
# once; raise it with ``max_bytes`` for a bigger model you trust.
DEFAULT_MAX_BYTES = 2 * 1024**3

# Operator domains edgeseq's exporter and optimizer produce: the standard ONNX operators ("" and its
# alias "ai.onnx"), the classic-ML operators, ONNX Runtime's contrib operators (quantized and fused
# variants: QLinear*, DynamicQuantizeLSTM, FusedConv, ...) and its NCHWc layout operators (written into
# graphs optimized at ORT_ENABLE_ALL). Anything else needs a custom-op library: the caller must opt in.
DEFAULT_ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.microsoft.nchwc"})


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
    size = _model_size(path, max_bytes)
    walk, digest = _read_model(path, size)
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
        format="ort" if isinstance(walk, OrtWalk) else "onnx",
        ir_version=walk.ir_version,
        opsets=dict(walk.opsets),
        op_domains=domains,
        external_data=tuple(walk.external),
        local_functions=tuple(sorted(f"{d}::{n}" for d, n, _ in walk.functions)),
    )


def _model_size(path: Path, max_bytes: int) -> int:
    """The size of the regular, non-empty file at ``path``, at most ``max_bytes``."""
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
    return size


def _read_model(path: Path, size: int) -> tuple[OnnxWalk | OrtWalk, str]:
    """Walk the model (ONNX or ORT format, by its bytes) and hash it, reading it once through mmap."""
    where = str(path)
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            try:
                walk = walk_ort(buf, size) if is_ort_format(buf) else walk_onnx(buf, size)
            except CorruptModel as exc:
                if looks_like_torch_checkpoint(buf[:4]):
                    raise ModelFileError(
                        f"cannot load model {where!r}: it looks like a PyTorch checkpoint, not an ONNX model; "
                        f"export it first: edgeseq export {where} -o model.onnx"
                    ) from None
                raise ModelFileError(f"cannot load model {where!r}: {exc}; expected a valid ONNX model") from None
            digest = hashlib.sha256(buf).hexdigest()
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {where!r}: {exc.strerror or exc}") from None
    return walk, digest


def looks_like_torch_checkpoint(head: bytes) -> bool:
    """Whether a file's first bytes are those of ``torch.save``: a zip archive (torch >= 1.6) or a pickle."""
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")


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


def _check_domains(walk: OnnxWalk | OrtWalk, allowed: frozenset[str], where: str) -> dict[str, int]:
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
