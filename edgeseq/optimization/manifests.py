"""What each variant file carries: the source model's edgeseq metadata and a ``<variant>.json`` manifest.

Quantization and conversion tools may drop ``metadata_props``; :func:`copy_metadata` puts the source's
back (plus ``edgeseq.variant``) so the runtime reads the variant like the model it came from.
:func:`write_variant_manifest` writes the shared manifest (:mod:`edgeseq.manifest`) with an ``optimize``
section: how the variant was made, its gate result, and the CPU it was made on. Its ``op_histogram`` has
the manifest's meaning (:func:`edgeseq.graphs.op_histogram`: the whole model, sorted by op name) and its
``session_graph_level`` is a short level name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeseq.cpu import CpuFacts
from edgeseq.fileio import atomic_path, sha256_file, write_json_atomic
from edgeseq.manifest import write_manifest
from edgeseq.optimization.report import VariantResult

MANIFEST_KIND = "edgeseq.optimization.variant"


def copy_metadata(src_props: dict[str, str], dst: Path, variant: dict[str, Any]) -> None:
    """Put the source model's edgeseq metadata (and which variant this is) into ``dst`` if a pass dropped it.

    Args:
        src_props: the source model's ``metadata_props``.
        dst: the variant's ONNX file, rewritten atomically only when something is missing.
        variant: stored as JSON under ``edgeseq.variant`` (its name and precision).
    """
    import onnx

    model = onnx.load(str(dst), load_external_data=False)  # weights in side files stay there, untouched
    have = {p.key: p.value for p in model.metadata_props}
    wanted = {**src_props, "edgeseq.variant": json.dumps(variant, sort_keys=True, default=str)}
    if all(have.get(k) == v for k, v in wanted.items()):
        return
    del model.metadata_props[:]
    for key, value in {**have, **wanted}.items():
        model.metadata_props.add(key=key, value=value)
    with atomic_path(dst) as tmp:
        onnx.save(model, str(tmp))


def variant_manifest(row: VariantResult, source: Path, source_sha: str, cpu: CpuFacts) -> dict[str, Any]:
    """The ``optimize`` section of a variant's manifest."""
    return {
        "kind": MANIFEST_KIND,
        "variant": row.name,
        "precision": row.precision,
        "file": Path(row.path).name if row.path else None,
        "sha256": sha256_file(row.path) if row.path else None,
        "size_bytes": row.size_bytes,
        "made_from": {"model": str(source), "sha256": source_sha},
        "settings": row.settings,
        "op_histogram": row.op_histogram,
        "ops_left_float": row.ops_left_float,
        "gate": {
            "status": row.status,
            "reason": row.reason,
            "score": row.score.to_json() if row.score else None,
            "delta": row.delta,
        },
        "session_graph_level": row.session_graph_level,
        "made_on_cpu": cpu.to_json(),
        "notes": row.notes,
    }


def write_variant_manifest(row: VariantResult, source: Path, source_sha: str, cpu: CpuFacts) -> None:
    """``<variant>.json`` beside the file: the shared manifest (edgeseq.manifest) plus an ``optimize`` section."""
    info = variant_manifest(row, source, source_sha, cpu)
    path = Path(row.path or "")
    if path.suffix == ".onnx":
        write_manifest(path, optimize=info)
    else:  # .ort is not ONNX: describe_onnx cannot read it
        write_json_atomic(
            path.with_suffix(".json"), {"format": "edgeseq-manifest/1", "file": path.name, "optimize": info}
        )
