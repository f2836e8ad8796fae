"""The JSON manifest beside every ONNX model (``model.onnx`` -> ``model.json``).

It records what the model is (inputs/outputs with symbolic shapes, opset, op histogram, parameter
count, file size and sha256) and how it was made (exporter path, time, source checkpoint); later
stages add their figures (parity, accuracy, optimization) with :func:`update_manifest`.

Keys written by :func:`describe_onnx`: ``file``, ``size_bytes``, ``sha256``, ``inputs``, ``outputs``,
``opset``, ``opsets``, ``ir_version``, ``producer``, ``op_histogram``, ``num_nodes``, ``parameters``,
``rnn_nodes``, ``external_data``, ``metadata_keys``. Everything else comes from the caller.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from edgeseq.errors import ModelFileError, first_line
from edgeseq.fileio import sha256_file, write_json_atomic
from edgeseq.graphs import io_specs, load_graph, op_histogram, rnn_node_counts

MANIFEST_FORMAT = "edgeseq-manifest/1"


def manifest_path(onnx_path: str | Path) -> Path:
    """The manifest's path for a model: same folder, same stem, ``.json``."""
    return Path(onnx_path).with_suffix(".json")


def describe_onnx(path: str | Path) -> dict[str, Any]:
    """Describe an ONNX file without loading its weights' data.

    Returns:
        inputs/outputs (name, dtype, shape with symbolic names kept), opset (default domain),
        op histogram (:func:`edgeseq.graphs.op_histogram`: subgraphs included, sorted by op name),
        parameter count (initializer elements), file size and sha256.

    Raises:
        ModelFileError: the file is missing or not an ONNX model.
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"ONNX model {str(path)!r} not found")
    try:
        model = load_graph(path)
    except Exception as exc:  # onnx raises DecodeError/ValueError/... depending on the damage
        raise ModelFileError(f"cannot read ONNX model {str(path)!r}: {first_line(exc, 200)}") from None
    opsets = {imp.domain or "ai.onnx": int(imp.version) for imp in model.opset_import}
    external = any(init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer)
    histogram = op_histogram(model)
    return {
        "file": path.name,
        "size_bytes": path.stat().st_size,
        "sha256": sha256_file(path),
        **io_specs(model),
        "opset": opsets.get("ai.onnx"),
        "opsets": opsets,
        "ir_version": int(model.ir_version),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "op_histogram": histogram,
        "num_nodes": sum(histogram.values()),
        "parameters": int(sum(math.prod(init.dims) for init in model.graph.initializer)),
        "rnn_nodes": rnn_node_counts(model),
        "external_data": external,
        "metadata_keys": sorted(p.key for p in model.metadata_props),
    }


def read_manifest(onnx_path: str | Path) -> dict[str, Any]:
    """The manifest beside ``onnx_path``, or ``{}`` when there is none.

    Raises:
        ModelFileError: the manifest exists but is not a JSON object.
    """
    path = manifest_path(onnx_path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"manifest {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"manifest {str(path)!r}: got {type(data).__name__}; expected a JSON object")
    return data


def write_manifest(onnx_path: str | Path, **extra: Any) -> dict[str, Any]:
    """Describe ``onnx_path`` and write the manifest beside it (atomically), replacing any old one.

    Args:
        onnx_path: the model file.
        **extra: caller fields (exporter path, export time, source checkpoint, parity, ...),
            merged over the description.

    Returns:
        The manifest dict as written.
    """
    manifest = {"format": MANIFEST_FORMAT, **describe_onnx(onnx_path), **extra}
    write_json_atomic(manifest_path(onnx_path), manifest)
    return manifest


def update_manifest(onnx_path: str | Path, **fields: Any) -> dict[str, Any]:
    """Add or replace top-level fields of a model's manifest (created first if missing).

    An existing manifest's sha256 must still match the file: recording figures (parity, accuracy) must
    not also bless a model that was swapped since it was written — the runtime checks that sha256.

    Returns:
        The manifest dict as written.

    Raises:
        ModelFileError: the manifest describes a different file than the one now at ``onnx_path``.
    """
    manifest = read_manifest(onnx_path)
    described = describe_onnx(onnx_path)
    if manifest.get("sha256") and manifest["sha256"] != described.get("sha256"):
        raise ModelFileError(
            f"{manifest_path(onnx_path)} records sha256 {manifest['sha256'][:12]}... but {onnx_path} is "
            f"{str(described.get('sha256'))[:12]}...: the model changed since export; re-export it (or delete "
            "the stale manifest) before recording new figures"
        )
    manifest.update({"format": MANIFEST_FORMAT, **described})
    manifest.update(fields)
    write_json_atomic(manifest_path(onnx_path), manifest)
    return manifest
