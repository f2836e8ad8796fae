"""Tiny test variants, registered next to the real components (like timm's ``test_*`` models).

Each variant is a complete :class:`~edgeseq.config.ExperimentConfig` for a model of a few thousand
parameters (smallcnn with 4/8 channels, hidden size 8) on data that needs no download: the bundled
digits at 16x16 for classification, a few dozen synthetic lines for CTC. Together they cover every
sequencer, RNN kind and head, bidirectional and stacked RNNs, and a ``step`` above 1. Training settings
are CPU, one thread, one short epoch, no progress bar.

    cfg = tiny_config("test_columns_ctc")
    model = build_model(cfg.model, cfg.preprocess, tiny_num_outputs(cfg))

The variants are configs, not modules: this module itself needs only the standard library (importing it
through the ``edgeseq.nn`` package still imports torch).
"""

from __future__ import annotations

from typing import Any

from edgeseq.config import DataConfig, ExperimentConfig, ModelConfig, PreprocessConfig, TrainConfig
from edgeseq.registry import Registry

TINY_CONFIGS: Registry[ExperimentConfig] = Registry("tiny test variant")

# The alphabet of the tiny CTC variants: digits, so the synthetic lines render with any font.
TINY_ALPHABET = "0123456789"


def tiny_model_config(**overrides: Any) -> ModelConfig:
    """A tiny smallcnn model config for tests (timm-style test variant): 4/8 channels, hidden size 8.

    Keyword arguments override :class:`~edgeseq.config.ModelConfig` fields.
    """
    fields: dict[str, Any] = {
        "backbone": "smallcnn",
        "backbone_args": {"channels": [4, 8], "pools": [[2, 2], [2, 2]]},
        "hidden_size": 8,
    }
    fields.update(overrides)
    return ModelConfig(**fields)


def _train() -> TrainConfig:
    return TrainConfig(
        epochs=1, batch_size=16, max_steps_per_epoch=2, device="cpu", threads=1, progress=False, amp=False
    )


def _digits(name: str, **model: Any) -> ExperimentConfig:
    """A classification variant on the bundled digits, resized to 16x16."""
    return ExperimentConfig(
        name=name,
        model=tiny_model_config(**model),
        data=DataConfig(dataset="digits"),
        preprocess=PreprocessConfig(height=16, width=16),
        train=_train(),
    )


def _lines(name: str, **model: Any) -> ExperimentConfig:
    """A CTC variant on synthetic lines of 1-4 digits, 32 pixels high with variable width."""
    return ExperimentConfig(
        name=name,
        model=tiny_model_config(sequencer="columns", head="ctc", **model),
        data=DataConfig(dataset="textlines", alphabet=TINY_ALPHABET, max_chars=4, num_samples=40),
        preprocess=PreprocessConfig(height=32, width=64, resize="height", min_width=16, max_width=128, invert=True),
        train=_train(),
    )


@TINY_CONFIGS.register("test_rows_lstm")
def _rows_lstm() -> ExperimentConfig:
    """Rows → LSTM → last state: the shape of the shipped digits model."""
    return _digits("test_rows_lstm")


@TINY_CONFIGS.register("test_columns_ctc")
def _columns_ctc() -> ExperimentConfig:
    """Columns → LSTM → CTC on variable-width lines: the shape of the shipped text-line model."""
    return _lines("test_columns_ctc")


@TINY_CONFIGS.register("test_gru")
def _gru() -> ExperimentConfig:
    """Rows → GRU → mean over time."""
    return _digits("test_gru", rnn="gru", head="mean")


@TINY_CONFIGS.register("test_rnn")
def _rnn() -> ExperimentConfig:
    """Columns → Elman RNN → attention pooling."""
    return _digits("test_rnn", sequencer="columns", rnn="rnn", head="attention")


@TINY_CONFIGS.register("test_channels")
def _channels() -> ExperimentConfig:
    """Channels as timesteps → GRU → last state (no dynamic image axis)."""
    return _digits("test_channels", sequencer="channels", rnn="gru")


@TINY_CONFIGS.register("test_bidirectional")
def _bidirectional() -> ExperimentConfig:
    """Rows → two-layer bidirectional LSTM → last state (both directions of the top layer)."""
    return _digits("test_bidirectional", bidirectional=True, num_layers=2)


@TINY_CONFIGS.register("test_bidirectional_ctc")
def _bidirectional_ctc() -> ExperimentConfig:
    """Columns → bidirectional GRU → CTC, every second column (``step=2``)."""
    return _lines("test_bidirectional_ctc", rnn="gru", bidirectional=True, step=2)


def tiny_config(name: str) -> ExperimentConfig:
    """A fresh copy of the tiny test variant ``name`` (``TINY_CONFIGS.names()`` lists them).

    Raises:
        ConfigError: an unknown name (the message lists the registered ones).
    """
    return TINY_CONFIGS.get(name)()


def tiny_num_outputs(cfg: ExperimentConfig) -> int:
    """Width of a tiny variant's class axis: the alphabet plus the CTC blank, or the ten digits."""
    return len(cfg.data.alphabet) + 1 if cfg.model.head == "ctc" else 10
