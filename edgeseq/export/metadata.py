"""The edgeseq metadata an export embeds in the graph's ``metadata_props``, and the metadata of a checkpoint."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgeseq import __version__
from edgeseq.export.options import INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME, ExportOptions
from edgeseq.export.plan import ExportPlan
from edgeseq.fileio import sha256_file
from edgeseq.runtime.metadata import InputSpec, ModelMetadata, OutputSpec


def preprocess_spec(metadata: ModelMetadata | None, model: Any) -> dict[str, Any]:
    """The preprocessing spec: the metadata's, else the model's ``preprocess_cfg``, else ``{}``."""
    spec = dict(metadata.preprocess) if metadata is not None else {}
    pre = getattr(model, "preprocess_cfg", None)
    if not spec and pre is not None:
        spec = dataclasses.asdict(pre)
    return spec


def export_metadata(
    metadata: ModelMetadata | None,
    model: Any,
    options: ExportOptions,
    plan: ExportPlan,
    strategy: str,
    rewrites: list[str],
) -> ModelMetadata | None:
    """The ModelMetadata to embed for one strategy (None for a plain module without metadata).

    The caller's metadata is copied, never changed; input/outputs, version and exporter fields are filled in here.
    """
    import torch

    if metadata is None:
        task = getattr(model, "task", None)
        if task is None:
            return None
        pre = getattr(model, "preprocess_cfg", None)
        cfg = getattr(model, "model_cfg", None)
        metadata = ModelMetadata(
            task=task,
            preprocess=dataclasses.asdict(pre) if pre is not None else {},
            model=dataclasses.asdict(cfg) if cfg is not None else {},
        )
    meta = copy.deepcopy(metadata)
    meta.preprocess = preprocess_spec(meta, model)  # the runtime needs the spec
    meta.preprocess = {**meta.preprocess, "in_graph": options.preprocess_in_graph}
    meta.input = InputSpec(
        name=INPUT_NAME,
        layout="NHWC" if options.preprocess_in_graph else "NCHW",
        dtype="uint8" if options.preprocess_in_graph else "float32",
        dynamic_axes={str(a): n for a, n in sorted(plan.axes[INPUT_NAME].items())},
    )
    meta.outputs = OutputSpec(logits=LOGITS_NAME, probabilities=PROBABILITIES_NAME if options.probabilities else None)
    meta.version = __version__
    meta.exporter = {
        "path": strategy,
        "opset": plan.opset,
        "torch": torch.__version__,
        "static": plan.static,
        "rewrites": rewrites,
        "simplified": options.simplify,
    }
    return meta


def embed_metadata(proto: Any, meta: ModelMetadata) -> None:
    """Write ``meta`` into ``proto.metadata_props``: its keys replaced, other keys (the exporter's) kept."""
    props = meta.to_props()
    kept = [p for p in proto.metadata_props if p.key not in props]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)


def checkpoint_metadata(ckpt: Mapping[str, Any]) -> ModelMetadata:
    """The ModelMetadata of a loaded checkpoint (labels/alphabet, preprocessing, metrics, sha256)."""
    source = ckpt.get("path")
    return ModelMetadata(
        task=ckpt["task"],
        labels=[str(v) for v in ckpt.get("labels") or []],
        alphabet=str(ckpt.get("alphabet") or ""),
        blank_index=0,
        preprocess=dict(ckpt["preprocess"]),
        version=__version__,
        source_sha256=sha256_file(source) if source and Path(source).is_file() else "",
        metrics=dict(ckpt.get("metrics") or {}),
        model=dict(ckpt["config"].get("model", {})),
    )
