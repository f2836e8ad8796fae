"""The tiny test variants (edgeseq.nn.tiny): each registered one builds, runs forward and backward, and covers the components."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgeseq.config import ExperimentConfig  # noqa: E402
from edgeseq.errors import ConfigError  # noqa: E402
from edgeseq.nn import HEADS, RNNS, SEQUENCERS, TINY_CONFIGS, build_model, tiny_config, tiny_num_outputs  # noqa: E402
from edgeseq.nn.model import tiny_model_config as tiny_model_config_old_path  # noqa: E402
from edgeseq.nn.tiny import tiny_model_config  # noqa: E402

# A second size on the dynamic axis of each sequencer (the configured size is 16x16, or 32 high for lines).
OTHER_SIZE = {"rows": (24, 16), "columns": (16, 24), "channels": (16, 16)}
MAX_TINY_PARAMETERS = 20_000


@pytest.mark.parametrize("name", TINY_CONFIGS.names())
def test_every_tiny_variant_builds_runs_and_learns(name: str) -> None:
    cfg = tiny_config(name)
    assert isinstance(cfg, ExperimentConfig) and cfg.name == name and name.startswith("test_")
    assert cfg.train.device == "cpu" and cfg.train.threads == 1 and not cfg.train.progress
    torch.manual_seed(0)
    num_outputs = tiny_num_outputs(cfg)
    model = build_model(cfg.model, cfg.preprocess, num_outputs)
    assert sum(p.numel() for p in model.parameters()) < MAX_TINY_PARAMETERS

    pre = cfg.preprocess
    other = (pre.height, 80) if pre.resize == "height" else OTHER_SIZE[cfg.model.sequencer]
    for height, width in ((pre.height, pre.width), other):
        x = torch.randn(2, pre.channels, height, width)
        out = model(x)
        steps = model.sequence_shape(height, width)[0]
        assert tuple(out.shape) == ((2, steps, num_outputs) if model.task == "ctc" else (2, num_outputs))
        assert torch.isfinite(out).all()
        out.float().square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_tiny_variants_cover_every_sequencer_rnn_and_head() -> None:
    configs = [tiny_config(name).model for name in TINY_CONFIGS.names()]
    assert {c.sequencer for c in configs} == set(SEQUENCERS.names())
    assert {c.rnn for c in configs} == set(RNNS.names())
    assert {c.head for c in configs} == set(HEADS.names())
    assert any(c.bidirectional and c.num_layers > 1 for c in configs) and any(c.step > 1 for c in configs)
    assert {"test_rows_lstm", "test_columns_ctc", "test_gru", "test_bidirectional"} <= set(TINY_CONFIGS.names())


def test_tiny_config_returns_a_fresh_copy_and_names_unknown_variants() -> None:
    first = tiny_config("test_rows_lstm")
    first.model.hidden_size = 99
    assert tiny_config("test_rows_lstm").model.hidden_size == 8
    with pytest.raises(
        ConfigError, match=r"unknown tiny test variant 'test_rows_lsmt' \(did you mean 'test_rows_lstm'\?\)"
    ):
        tiny_config("test_rows_lsmt")


def test_tiny_model_config_keeps_its_old_import_path() -> None:
    assert tiny_model_config_old_path is tiny_model_config
    assert tiny_model_config(rnn="gru").rnn == "gru" and tiny_model_config().hidden_size == 8
