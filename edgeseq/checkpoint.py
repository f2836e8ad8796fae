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
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from edgeseq import __version__
from edgeseq.budget import check_memory_budget
from edgeseq.config import ExperimentConfig, config_from_dict
from edgeseq.data import DataSplits, build_datasets
from edgeseq.errors import ConfigError, InputError, ModelFileError, first_line
from edgeseq.fileio import write_bytes_atomic
from edgeseq.nn import ImageSequenceModel, build_model

CHECKPOINT_FORMAT = "edgeseq-checkpoint/1"
REQUIRED_KEYS = ("format", "config", "task", "preprocess", "state_dict")
TASKS = ("classification", "ctc")
# load_state_dict puts "Error(s) in loading state_dict for X:" on its first line and the useful
# detail on the next ones; these markers find the line worth showing.
_STATE_DICT_DETAIL = ("size mismatch", "Missing", "Unexpected")


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write a checkpoint dict atomically (temporary file, fsync, rename).

    Args:
        path: destination ``.pt`` file.
        payload: the checkpoint fields (see the module docstring); ``format`` and ``edgeseq`` are added.
    """
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
        ModelFileError: missing, not a checkpoint, unsafe, not an edgeseq checkpoint, or its config and
            weights disagree.
    """
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
        detail = first_line(exc, 200) if str(exc).strip() else "unsafe content"
        raise ModelFileError(
            f"refusing to load checkpoint {str(path)!r}: it needs more than weights_only loading allows "
            f"({detail}); edgeseq never unpickles arbitrary objects"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError) as exc:
        raise ModelFileError(f"cannot read checkpoint {str(path)!r}: {first_line(exc, 200)}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError(
            f"{str(path)!r} is not an edgeseq checkpoint (expected format {CHECKPOINT_FORMAT!r}); "
            "for a plain nn.Module use edgeseq.export_onnx from Python"
        )
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise ModelFileError(f"checkpoint {str(path)!r} is missing {', '.join(missing)}")
    validate_checkpoint(ckpt, str(path))
    check_weights_fit(ckpt, str(path))
    ckpt["path"] = str(path)
    return ckpt


def validate_checkpoint(ckpt: dict[str, Any], where: str) -> None:
    """Check the types of a loaded checkpoint's fields, so later code never meets a KeyError or AttributeError.

    Args:
        ckpt: the checkpoint dict.
        where: the file it came from, for the message.

    Raises:
        ModelFileError: a field is missing or of the wrong type, or the config is not a valid edgeseq config.
    """

    def bad(what: str) -> ModelFileError:
        return ModelFileError(f"checkpoint {where!r} is malformed: {what}")

    for key in ("config", "state_dict", "preprocess"):
        if not isinstance(ckpt.get(key), dict):
            raise bad(f"{key} is {_describe(ckpt.get(key))}, expected a dict")
    odd = [k for k, v in ckpt["state_dict"].items() if not isinstance(v, torch.Tensor)]
    if odd:
        raise bad(f"state_dict[{odd[0]!r}] is {_describe(ckpt['state_dict'][odd[0]])}, expected a tensor")
    task = ckpt.get("task")
    if task not in TASKS:
        raise bad(f"task is {task!r}, expected one of {', '.join(TASKS)}")
    if task == "classification":
        labels = ckpt.get("labels")
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            raise bad(f"labels is {_describe(labels)}, expected a non-empty list of class names")
    else:
        alphabet = ckpt.get("alphabet")
        if not isinstance(alphabet, str) or not alphabet:
            raise bad(f"alphabet is {_describe(alphabet)}, expected a non-empty string of characters")
    try:
        cfg = config_from_dict(ckpt["config"])
    except ConfigError as exc:
        raise bad(f"its config is invalid ({first_line(exc, 1000)})") from None
    epoch = ckpt.get("epoch", 0)
    # a resumed run starts at this epoch: a negative one or one past the run's end is no run of this config
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= cfg.train.epochs:
        raise bad(f"epoch is {_describe(epoch)}, expected an integer from 0 to train.epochs ({cfg.train.epochs})")


def _describe(value: Any) -> str:
    """A short description of a bad value: missing, its type, or a truncated repr."""
    if value is None:
        return "missing"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def state_dict_error_line(exc: Exception) -> str:
    """The line of a ``load_state_dict`` error that says what is wrong: a size mismatch, missing or unexpected keys."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if any(marker in line for marker in _STATE_DICT_DETAIL):
            return line[:300]
    return first_line(exc, 300)


def _model_config(ckpt: dict[str, Any]) -> ExperimentConfig:
    """The checkpoint's config, without the pretrained-weights source (the checkpoint carries the weights)."""
    cfg = config_from_dict(ckpt["config"])
    cfg.model.weights_path = None
    cfg.model.pretrained = None
    return cfg


def check_weights_fit(ckpt: dict[str, Any], where: str) -> None:
    """Check that the weights have exactly the names and shapes of the model the checkpoint's config builds.

    The model is built on PyTorch's meta device: no memory is allocated, so a config that describes a
    huge model costs nothing here.

    Raises:
        ModelFileError: a missing, unexpected or differently shaped tensor, or a config that builds no model.
    """
    cfg = _model_config(ckpt)
    try:
        with torch.device("meta"):
            expected = build_model(cfg.model, cfg.preprocess, num_outputs(ckpt)).state_dict()
    except ConfigError as exc:
        raise ModelFileError(f"checkpoint {where!r} is malformed: its config builds no model ({exc})") from None
    weights = ckpt["state_dict"]
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    shapes = [k for k in expected if k in weights and tuple(weights[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        if shapes:
            key = shapes[0]
            detail = (
                f"size mismatch for {key}: shape {tuple(weights[key].shape)} in the checkpoint, "
                f"{tuple(expected[key].shape)} in the model its config builds"
            )
        else:
            detail = f"missing keys {missing[:3]}" if missing else f"unexpected keys {unexpected[:3]}"
        raise ModelFileError(f"checkpoint {where!r}: its weights do not fit its config's model: {detail}")


def checkpoint_datasets(ckpt: dict[str, Any]) -> DataSplits:
    """The data splits of the run a checkpoint came from, checked against the checkpoint first.

    A checkpoint from elsewhere names its data folder: it must exist and, before any file is read,
    hold the checkpoint's classes (an image folder) or its labels file (text lines); after reading,
    the classes or the alphabet must be the checkpoint's.

    Raises:
        InputError: the data folder is missing, is not the checkpoint's data, or holds other classes.
    """
    cfg = config_from_dict(ckpt["config"])
    data, where = cfg.data, str(ckpt.get("path", "<checkpoint dict>"))
    if data.dataset in ("folder", "lines"):
        root = Path(str(data.root))
        if not root.is_dir():
            raise InputError(f"checkpoint {where!r}: its data.root {str(root)!r} is not a folder; expected its data")
        if data.dataset == "folder":
            classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
            if classes != list(ckpt.get("labels", [])):
                raise InputError(
                    f"checkpoint {where!r}: its data.root {str(root)!r} holds classes {_describe(classes)}; "
                    f"expected the checkpoint's labels {_describe(ckpt.get('labels'))}"
                )
    splits = build_datasets(cfg)
    found = splits.alphabet if splits.task == "ctc" else splits.labels
    wanted = ckpt.get("alphabet") if splits.task == "ctc" else ckpt.get("labels")
    if splits.task != ckpt["task"] or found != wanted:
        raise InputError(
            f"checkpoint {where!r}: its data gives {splits.task} targets {_describe(found)}; "
            f"expected the checkpoint's {ckpt['task']} targets {_describe(wanted)}"
        )
    return splits


def num_outputs(ckpt: dict[str, Any]) -> int:
    """Width of the model's class axis: labels, or alphabet + blank for CTC."""
    if ckpt["task"] == "ctc":
        return len(ckpt["alphabet"]) + 1
    return len(ckpt["labels"])


def model_from_checkpoint(source: str | Path | dict[str, Any]) -> tuple[ImageSequenceModel, dict[str, Any]]:
    """Rebuild the model of a checkpoint (a path or a loaded dict), weights loaded, in eval mode.

    Returns:
        (model, checkpoint dict)

    Raises:
        ModelFileError: the checkpoint is missing, unsafe or malformed, or its weights do not fit its config's model.
        ResourceLimitError: its config's sizes need more memory than the limit (``edgeseq.memory``).
    """
    if isinstance(source, dict):
        validate_checkpoint(source, str(source.get("path", "<checkpoint dict>")))
        ckpt = source
    else:
        ckpt = load_checkpoint(source)
    cfg = _model_config(ckpt)  # the checkpoint carries the trained weights; no need for the original file
    check_memory_budget(cfg)
    model = build_model(cfg.model, cfg.preprocess, num_outputs(ckpt))
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        where = str(ckpt.get("path", "<checkpoint dict>"))
        raise ModelFileError(
            f"checkpoint {where!r}: its weights do not fit its config's model: {state_dict_error_line(exc)}"
        ) from None
    model.eval()
    return model, ckpt
