"""Fixtures for the runtime tests: tiny exported models (classification, CTC, in-graph preprocessing,
no metadata), digit PNG files, and a helper that runs Python with torch made unimportable.

The models are exported here with the TorchScript exporter (``dynamo=False``, which keeps batch
and width dynamic: ONNX-TRAPS #1) and tagged with :class:`ModelMetadata`, so these tests do not
depend on the export module.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

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
    model = onnx.load(str(path))
    if meta is not None:
        for key, value in meta.to_props().items():
            model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def _classification_meta(pre, in_graph: bool = False):
    from edgeseq.runtime.metadata import InputSpec, ModelMetadata, OutputSpec

    layout, dtype = ("NHWC", "uint8") if in_graph else ("NCHW", "float32")
    return ModelMetadata(
        task="classification",
        labels=DIGIT_LABELS,
        preprocess={**asdict(pre), "in_graph": in_graph},
        input=InputSpec(name="images", layout=layout, dtype=dtype, dynamic_axes={"0": "batch"}),
        outputs=OutputSpec(logits="logits"),
        version="test",
    )


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory):
    """(onnx path, torch model, preprocess spec): an untrained tiny digits classifier, 16x16 grayscale."""
    import torch

    from edgeseq.config import PreprocessConfig
    from edgeseq.nn import build_model, tiny_model_config

    torch.manual_seed(0)
    pre = PreprocessConfig(height=16, width=16)
    model = build_model(tiny_model_config(), pre, len(DIGIT_LABELS)).eval()
    path = tmp_path_factory.mktemp("models") / "tiny-classifier.onnx"
    export_with_metadata(model, torch.zeros(2, 1, 16, 16), path, _classification_meta(pre), {"images": {0: "batch"}})
    return path, model, pre


@pytest.fixture(scope="session")
def raw_model(tmp_path_factory, tiny_classifier):
    """The tiny classifier's graph without any edgeseq metadata."""
    import onnx

    path, _, _ = tiny_classifier
    model = onnx.load(str(path))
    del model.metadata_props[:]
    out = tmp_path_factory.mktemp("models") / "raw.onnx"
    onnx.save(model, str(out))
    return out


@pytest.fixture(scope="session")
def in_graph_classifier(tmp_path_factory, tiny_classifier):
    """The tiny classifier behind an in-graph normalisation: input uint8 NHWC pixels (already resized)."""
    import torch

    _, model, pre = tiny_classifier

    class Pixels(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, pixels):
            x = pixels.permute(0, 3, 1, 2).float() / 255.0
            return self.inner((x - pre.mean[0]) / pre.std[0])

    path = tmp_path_factory.mktemp("models") / "in-graph.onnx"
    example = torch.zeros(2, 16, 16, 1, dtype=torch.uint8)
    meta = _classification_meta(pre, in_graph=True)
    return export_with_metadata(Pixels(model), example, path, meta, {"images": {0: "batch"}})


@pytest.fixture(scope="session")
def tiny_ctc(tmp_path_factory):
    """(onnx path, torch model, preprocess spec): an untrained tiny CTC model, height 16, variable width."""
    import torch

    from edgeseq.config import PreprocessConfig
    from edgeseq.nn import build_model, tiny_model_config
    from edgeseq.runtime.metadata import InputSpec, ModelMetadata, OutputSpec

    torch.manual_seed(1)
    pre = PreprocessConfig(height=16, width=32, resize="height", min_width=8, max_width=64)
    model = build_model(tiny_model_config(sequencer="columns", head="ctc"), pre, len(ALPHABET) + 1).eval()
    meta = ModelMetadata(
        task="ctc",
        alphabet=ALPHABET,
        blank_index=0,
        preprocess={**asdict(pre), "in_graph": False},
        input=InputSpec(dynamic_axes={"0": "batch", "3": "width"}),
        outputs=OutputSpec(logits="logits"),
    )
    path = tmp_path_factory.mktemp("models") / "tiny-ctc.onnx"
    axes = {"images": {0: "batch", 3: "width"}, "logits": {0: "batch", 1: "time"}}
    export_with_metadata(model, torch.zeros(2, 1, 16, 32), path, meta, axes)
    return path, model, pre


@pytest.fixture(scope="session")
def digit_pngs(tmp_path_factory):
    """(paths, labels, pixels): 40 real digits from scikit-learn saved as 8x8 PNG files."""
    pixels, labels = digits_uint8()
    pick = np.arange(0, 1797, 45)[:40]
    folder = tmp_path_factory.mktemp("digits")
    return save_pngs(pixels[pick], folder), labels[pick], pixels[pick]
