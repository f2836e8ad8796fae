"""Fixtures for the runtime tests: the kit's tiny models in the forms the runtime meets (in-graph
preprocessing, no metadata), and digit PNG files.

The models come from the root kit (``tests/conftest.py``): written by the real exporter, as users deploy them.
"""

from __future__ import annotations

import numpy as np
import pytest
from testkit import TinyModel, digits_uint8, save_pngs


@pytest.fixture(scope="session")
def raw_model(tmp_path_factory, tiny_classifier: TinyModel):
    """The tiny classifier's graph without any edgeseq metadata."""
    import onnx

    model = onnx.load(str(tiny_classifier.onnx))
    del model.metadata_props[:]
    out = tmp_path_factory.mktemp("models") / "raw.onnx"
    onnx.save(model, str(out))
    return out


@pytest.fixture(scope="session")
def in_graph_classifier(tiny_kit) -> TinyModel:
    """The tiny classifier exported with the normalisation in the graph: input uint8 NHWC pixels (already resized)."""
    return tiny_kit.for_task("classification", preprocess_in_graph=True)


@pytest.fixture(scope="session")
def digit_pngs(tmp_path_factory):
    """(paths, labels, pixels): 40 real digits from scikit-learn saved as 8x8 PNG files."""
    pixels, labels = digits_uint8()
    pick = np.arange(0, 1797, 45)[:40]
    folder = tmp_path_factory.mktemp("digits")
    return save_pngs(pixels[pick], folder), labels[pick], pixels[pick]
