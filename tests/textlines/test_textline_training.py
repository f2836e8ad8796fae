"""A short real CRNN training run on synthetic lines: its CER must fall well below an untrained model's."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgeseq.config import DataConfig, ExperimentConfig, ModelConfig, PreprocessConfig, TrainConfig  # noqa: E402

# An untrained CTC model reads almost nothing right (CER 0.9 measured here). Six epochs (~400 steps) of
# this tiny CRNN on 1-4 digit lines reached a test CER of 0.004-0.03 when this test was written (the CTC
# "all blank" plateau lasts ~1-2 epochs); < 0.25 and < 0.3 x untrained leaves room for thread and
# platform differences in when the plateau breaks, and still fails if training does not learn.
MAX_TRAINED_CER = 0.25
MAX_RATIO_TO_UNTRAINED = 0.3


def tiny_crnn_config() -> ExperimentConfig:
    return ExperimentConfig(
        name="tiny-crnn",
        model=ModelConfig(
            backbone="smallcnn",
            backbone_args={"channels": [16, 32, 48, 64], "pools": [[2, 2], [2, 2], [2, 1], [2, 1]]},
            sequencer="columns",
            rnn="lstm",
            hidden_size=48,
            num_layers=1,
            bidirectional=True,
            head="ctc",
        ),
        data=DataConfig(
            dataset="textlines", alphabet="0123456789", min_chars=1, max_chars=4, num_samples=1500, font_size=24
        ),
        preprocess=PreprocessConfig(height=32, width=64, resize="height", min_width=16, max_width=256, invert=True),
        train=TrainConfig(
            epochs=6, batch_size=16, lr=0.005, scheduler="cosine", seed=0, device="cpu", threads=1, progress=False
        ),
    )


@pytest.mark.slow
def test_short_training_run_beats_an_untrained_model(tmp_path) -> None:
    from edgeseq.data import build_datasets
    from edgeseq.nn import build_model
    from edgeseq.training import evaluate, train

    cfg = tiny_crnn_config()
    splits = build_datasets(cfg)
    torch.manual_seed(0)
    untrained = build_model(cfg.model, cfg.preprocess, splits.num_outputs)
    untrained_cer = evaluate(untrained, splits.test, splits)["cer"]

    result = train(cfg, tmp_path / "run", log=lambda _line: None)
    trained_cer = result.metrics["test_cer"]
    assert trained_cer < MAX_TRAINED_CER, (trained_cer, untrained_cer)
    assert trained_cer < MAX_RATIO_TO_UNTRAINED * untrained_cer, (trained_cer, untrained_cer)
    assert 0.0 <= result.metrics["test_exact_match"] <= 1.0
