"""Checkpoints: atomic save, safe load (``weights_only=True``, never a fallback), model rebuild.

A checkpoint is a dict of plain tensors and plain Python data, no custom classes:

    format        "edgeseq-checkpoint/1"
    edgeseq       edgeseq version that wrote it
    config        ExperimentConfig.to_dict() (the resolved config)
    task          "classification" | "ctc"
    labels        class names (classification)
    alphabet      characters (ctc; output index i+1 is alphabet[i], 0 is the blank)
    preprocess    the preprocessing spec (a dict of PreprocessConfig fields)
    state_dict    model weights
    metrics       {"val_accuracy": ..., "test_accuracy": ..., ...}
    epoch         epochs completed
    train_state   optimizer/scheduler/RNG state for --resume (only in last.pt)
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from edgeseq import __version__
from edgeseq.errors import ModelFileError
from edgeseq.fileio import write_bytes_atomic

CHECKPOINT_FORMAT = "edgeseq-checkpoint/1"
REQUIRED_KEYS = ("format", "config", "task", "preprocess", "state_dict")


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write a checkpoint dict atomically (temporary file, fsync, rename).

    Args:
        path: destination ``.pt`` file.
        payload: the checkpoint fields (see the module docstring); ``format`` and ``edgeseq`` are added.
    """
    import torch

    payload = {"format": CHECKPOINT_FORMAT, "edgeseq": __version__, **payload}
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ValueError(f"checkpoint payload is missing {missing}")
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely with ``torch.load(weights_only=True)``.

    A file that needs arbitrary unpickling (custom classes, code) is refused, never retried unsafely.

    Raises:
        ModelFileError: missing, not a checkpoint, unsafe, or not an edgeseq checkpoint.
    """
    import pickle
    import zipfile

    import torch

    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise ModelFileError(f"checkpoint folder {str(path)!r} has no best.pt or last.pt")
    if not path.is_file():
        raise ModelFileError(f"checkpoint {str(path)!r} not found; expected a .pt file written by `edgeseq train`")
    if not zipfile.is_zipfile(path):  # torch.save has written zip archives since 1.6; edgeseq always does
        raise ModelFileError(f"cannot read checkpoint {str(path)!r}: not a zip archive written by torch.save")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
        raise ModelFileError(
            f"refusing to load checkpoint {str(path)!r}: it needs more than weights_only loading allows "
            f"({first[:200]}); edgeseq never unpickles arbitrary objects"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError) as exc:
        raise ModelFileError(f"cannot read checkpoint {str(path)!r}: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError(
            f"{str(path)!r} is not an edgeseq checkpoint (expected format {CHECKPOINT_FORMAT!r}); "
            "for a plain nn.Module use edgeseq.export_onnx from Python"
        )
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise ModelFileError(f"checkpoint {str(path)!r} is missing {', '.join(missing)}")
    ckpt["path"] = str(path)
    return ckpt


def num_outputs(ckpt: dict[str, Any]) -> int:
    """Width of the model's class axis: labels, or alphabet + blank for CTC."""
    if ckpt["task"] == "ctc":
        return len(ckpt["alphabet"]) + 1
    return len(ckpt["labels"])


def model_from_checkpoint(source: str | Path | dict[str, Any]):
    """Rebuild the model of a checkpoint (a path or a loaded dict), weights loaded, in eval mode.

    Returns:
        (model, checkpoint dict)
    """
    from edgeseq.config import config_from_dict
    from edgeseq.nn import build_model

    ckpt = source if isinstance(source, dict) else load_checkpoint(source)
    cfg = config_from_dict(ckpt["config"])
    cfg.model.weights_path = None  # the checkpoint carries the trained weights; no need for the original file
    cfg.model.pretrained = None
    model = build_model(cfg.model, cfg.preprocess, num_outputs(ckpt))
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise ModelFileError(f"checkpoint weights do not fit its config: {str(exc).splitlines()[0]}") from None
    model.eval()
    return model, ckpt
