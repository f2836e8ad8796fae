"""Fixtures for the export and parity tests: tiny models, a tiny checkpoint, ONNX helpers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from edgeseq.config import DataConfig, ExperimentConfig, PreprocessConfig, TrainConfig  # noqa: E402
from edgeseq.nn import build_model, tiny_model_config  # noqa: E402

TINY_SIZE = (16, 32)  # (height, width): smallcnn's two 2x2 pools leave a 4x8 feature map


def tiny_preprocess(height: int = TINY_SIZE[0], width: int = TINY_SIZE[1], color: str = "L") -> PreprocessConfig:
    """A grayscale (or RGB) preprocessing spec at a tiny size."""
    channels = 1 if color == "L" else 3
    return PreprocessConfig(height=height, width=width, color=color, mean=[0.5] * channels, std=[0.25] * channels)


def _make_model(num_outputs: int = 5, pre: PreprocessConfig | None = None, **overrides):
    """A tiny edgeseq model in eval mode (seeded, so failures reproduce)."""
    torch.manual_seed(0)
    model = build_model(tiny_model_config(**overrides), pre or tiny_preprocess(), num_outputs)
    return model.eval()


def _graph_dims(path: Path) -> dict[str, list]:
    """{input/output name: declared dims (ints or symbolic names)}."""
    from edgeseq.graphs import dims

    proto = onnx.load(str(path), load_external_data=False)
    return {v.name: dims(v) for v in list(proto.graph.input) + list(proto.graph.output)}


def _metadata_of(path: Path):
    """The edgeseq ModelMetadata embedded in an ONNX file."""
    from edgeseq.runtime.metadata import ModelMetadata

    proto = onnx.load(str(path), load_external_data=False)
    return ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props})


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    """A digits-classification checkpoint of a tiny rows-LSTM model (random weights, 16x32 input)."""
    from edgeseq.checkpoint import save_checkpoint

    pre = tiny_preprocess()
    cfg = ExperimentConfig(
        name="tiny",
        model=tiny_model_config(sequencer="rows", head="last"),
        data=DataConfig(dataset="digits"),
        preprocess=pre,
        train=TrainConfig(epochs=1),
    )
    labels = [str(d) for d in range(10)]
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.preprocess, len(labels))
    path = tmp_path / "ckpt" / "best.pt"
    save_checkpoint(
        path,
        {
            "config": cfg.to_dict(),
            "task": "classification",
            "labels": labels,
            "alphabet": "",
            "preprocess": dataclasses.asdict(pre),
            "state_dict": model.state_dict(),
            "metrics": {"val_accuracy": 0.5, "test_accuracy": 0.25},
            "epoch": 1,
        },
    )
    return path


def _perturb_initializer(src: Path, dst: Path, name_contains: str = "", delta: float = 0.5) -> str:
    """Copy an ONNX model with one float weight changed by ``delta``; returns the initializer's name."""
    import numpy as np
    from onnx import numpy_helper

    proto = onnx.load(str(src))
    for init in proto.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.float32 and arr.size > 4 and name_contains in init.name:
            arr = arr.copy()
            arr.flat[0] += delta
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
            onnx.save(proto, str(dst))
            return init.name
    raise AssertionError(f"no float initializer matching {name_contains!r}")


@pytest.fixture
def make_model():
    """Factory: ``make_model(num_outputs=5, pre=None, **ModelConfig overrides)`` -> tiny model in eval mode."""
    return _make_model


@pytest.fixture
def graph_dims():
    """Factory: ``graph_dims(path)`` -> {input/output name: declared dims}."""
    return _graph_dims


@pytest.fixture
def metadata_of():
    """Factory: ``metadata_of(path)`` -> the embedded ModelMetadata."""
    return _metadata_of


@pytest.fixture
def perturb_initializer():
    """Factory: ``perturb_initializer(src, dst, name_contains="", delta=0.5)`` -> changed initializer name."""
    return _perturb_initializer


@pytest.fixture
def preprocess_spec():
    """Factory: ``preprocess_spec(height=16, width=32, color="L")`` -> PreprocessConfig."""
    return tiny_preprocess
