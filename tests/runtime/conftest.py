"""Fixtures for the runtime tests: tiny exported models (classification, CTC, in-graph preprocessing,
no metadata) and digit PNG files.

The models are exported here with the TorchScript exporter (``dynamo=False``, which keeps batch
and width dynamic: docs/traps.md #1) and tagged with :class:`ModelMetadata`, so these tests do not
depend on the export module.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
from runtime_testlib import ALPHABET, DIGIT_LABELS, digits_uint8, export_with_metadata, save_pngs


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
