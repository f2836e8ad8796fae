"""The test kit: tiny models from the registered test variants, and helpers every test folder shares.

A plain module (``tests/`` is on ``sys.path`` because the root ``conftest.py`` lives there), so any test
can ``from testkit import ...``; the fixtures built on it are in ``tests/conftest.py``. Helpers live here
rather than in a conftest because ``from conftest import ...`` picks whichever folder's conftest was
imported first when several test folders run in one session.

Every tiny model comes from a variant registered in :mod:`edgeseq.nn.tiny` (``tiny_config(name)``): a
checkpoint written with :func:`edgeseq.checkpoint.save_checkpoint` from seeded random weights (no training,
so it is instant and bit-reproducible) and its ONNX file written by the real exporter
(:func:`edgeseq.export.export_checkpoint`: edgeseq metadata, a manifest, parity checked). Nothing here
imports torch at module level: the runtime tests run on the base install.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHIPPED_MODEL = REPO / "models" / "digits-rows-lstm.onnx"
DIGIT_LABELS = [str(d) for d in range(10)]
ALPHABET = "0123456789"  # edgeseq.nn.tiny.TINY_ALPHABET (kept here so the base install can read it)

# The variant the kit builds for each task (the shapes of the two shipped models).
TASK_VARIANTS = {"classification": "test_rows_lstm", "ctc": "test_columns_ctc"}
# Stand-in figures written into kit checkpoints (they are untrained; export copies them into the metadata).
KIT_METRICS = {"val_accuracy": 0.5, "test_accuracy": 0.25}

# Run before the code under test: any `import torch` (also from a dependency) raises ImportError.
TORCH_BLOCKER = "import sys; sys.modules['torch'] = None\n"


class TinyModel(NamedTuple):
    """One tiny model of the kit; ``[0]`` is the ONNX path (older tests index it that way)."""

    onnx: Path  # written by edgeseq.export.export_checkpoint, with its manifest (<stem>.json) beside it
    model: Any  # the torch model rebuilt from the checkpoint, eval mode
    preprocess: Any  # its PreprocessConfig
    checkpoint: Path  # the .pt file the ONNX file was exported from
    name: str  # the registered variant, e.g. "test_rows_lstm"
    task: str  # "classification" or "ctc"


def make_tiny_checkpoint(
    name: str,
    path: Path,
    *,
    seed: int = 0,
    preprocess: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
) -> Path:
    """Write an untrained checkpoint of the tiny variant ``name`` (seeded random weights) to ``path``.

    Args:
        name: a variant of :data:`edgeseq.nn.tiny.TINY_CONFIGS`.
        path: the ``.pt`` file to write.
        seed: torch seed for the weights (the global RNG state is left as it was).
        preprocess: PreprocessConfig fields to change, e.g. ``{"width": 32}``.
        metrics: the figures recorded in the checkpoint (default :data:`KIT_METRICS`).
    """
    import torch

    from edgeseq.checkpoint import save_checkpoint
    from edgeseq.nn import build_model, tiny_config, tiny_num_outputs

    cfg = tiny_config(name)
    if preprocess:
        cfg.preprocess = dataclasses.replace(cfg.preprocess, **preprocess)
    ctc = cfg.model.head == "ctc"
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(cfg.model, cfg.preprocess, tiny_num_outputs(cfg))
    payload = {
        "config": cfg.to_dict(),
        "task": "ctc" if ctc else "classification",
        "labels": [] if ctc else list(DIGIT_LABELS),
        "alphabet": cfg.data.alphabet if ctc else "",
        "preprocess": dataclasses.asdict(cfg.preprocess),
        "state_dict": model.state_dict(),
        "metrics": dict(KIT_METRICS if metrics is None else metrics),
        "epoch": 1,
    }
    return save_checkpoint(path, payload)


def build_tiny_model(name: str, folder: Path, *, seed: int = 0, **export_options: Any) -> TinyModel:
    """Checkpoint, ONNX file (``folder/tiny.onnx``) and torch model of the tiny variant ``name``.

    Args:
        name: a registered tiny variant.
        folder: where ``best.pt``, ``tiny.onnx`` and ``tiny.json`` go.
        seed: torch seed for the weights.
        export_options: :class:`edgeseq.export.ExportOptions` fields, e.g. ``preprocess_in_graph=True``.
    """
    from edgeseq.checkpoint import model_from_checkpoint
    from edgeseq.config import config_from_dict
    from edgeseq.export import ExportOptions, export_checkpoint

    checkpoint = make_tiny_checkpoint(name, folder / "best.pt", seed=seed)
    onnx_path = folder / "tiny.onnx"
    export_checkpoint(checkpoint, onnx_path, ExportOptions(**export_options))
    model, ckpt = model_from_checkpoint(checkpoint)
    preprocess = config_from_dict(ckpt["config"]).preprocess
    return TinyModel(onnx_path, model, preprocess, checkpoint, name, ckpt["task"])


class TinyKit:
    """Builds each tiny model at most once per test session, on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._built: dict[tuple[str, tuple[tuple[str, Any], ...]], TinyModel] = {}

    def get(self, name: str, **export_options: Any) -> TinyModel:
        """The tiny model of variant ``name`` exported with ``export_options`` (built on the first call).

        The result is shared by every test of the session: copy the files before changing them.
        """
        from edgeseq.export import ExportOptions

        defaults = ExportOptions()
        # options at their default values name the same model: one build for both spellings
        options = {k: v for k, v in export_options.items() if getattr(defaults, k) != v}
        key = (name, tuple(sorted(options.items())))
        if key not in self._built:
            folder = self.root / "-".join([name, *(f"{k}={v}" for k, v in key[1])])
            folder.mkdir(parents=True)
            self._built[key] = build_tiny_model(name, folder, **options)
        return self._built[key]

    def for_task(self, task: str, **export_options: Any) -> TinyModel:
        """The kit's model for ``task`` ("classification" or "ctc")."""
        return self.get(TASK_VARIANTS[task], **export_options)


def copy_model(src: Path, folder: Path, name: str | None = None) -> Path:
    """Copy an ONNX file and its manifest into ``folder`` (created); returns the copy's path."""
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / (name or src.name)
    shutil.copyfile(src, dst)
    if src.with_suffix(".json").is_file():
        shutil.copyfile(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


# ------------------------------------------------------------------------------------------ torch-free runs


def run_without_torch(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python where ``import torch`` fails; returns the completed process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", TORCH_BLOCKER + code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )


# ------------------------------------------------------------------------------------------ images


def digits_uint8() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as uint8 pixels, converted exactly as the training data module does."""
    try:
        from edgeseq.data.digits import load_digits_uint8
    except ImportError:  # the data module needs torch; same conversion without it
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return (bunch.images * 255 / 16).round().astype(np.uint8), bunch.target
    return load_digits_uint8()


def save_pngs(images: np.ndarray, folder: Path, prefix: str = "digit") -> list[Path]:
    """Save uint8 HxW images as PNG files (lossless) and return their paths, in order."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        path = folder / f"{prefix}_{i:04d}.png"
        Image.fromarray(image, mode="L").save(path)
        paths.append(path)
    return paths
