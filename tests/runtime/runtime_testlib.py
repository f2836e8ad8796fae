"""Helpers shared by the runtime tests (imported as a plain module: tests/runtime is on sys.path)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = REPO / "models" / "digits-rows-lstm.onnx"
DIGIT_LABELS = [str(d) for d in range(10)]
ALPHABET = "0123456789"

# Run before the code under test: any `import torch` (also from a dependency) raises ImportError.
TORCH_BLOCKER = "import sys; sys.modules['torch'] = None\n"


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


def digits_uint8() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as uint8 pixels, converted exactly as the training data module does."""
    try:
        from edgeseq.data.digits import load_digits_uint8
    except ImportError:  # the data module is optional here; same conversion
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


def export_with_metadata(module, example, path: Path, meta, dynamic_axes: dict, input_name="images") -> Path:
    """Export ``module`` with the TorchScript exporter and attach ``meta`` (a ModelMetadata or None)."""
    import onnx
    import torch

    module.eval()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation/tracer warnings are expected here
        warnings.simplefilter("ignore")
        _export(torch, module, example, path, dynamic_axes, input_name)
    model = onnx.load(str(path))
    if meta is not None:
        for key, value in meta.to_props().items():
            model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def _export(torch, module, example, path: Path, dynamic_axes: dict, input_name: str) -> None:
    torch.onnx.export(
        module,
        (example,),
        str(path),
        input_names=[input_name],
        output_names=["logits"],
        dynamic_axes=dynamic_axes,
        opset_version=17,
        dynamo=False,
    )
