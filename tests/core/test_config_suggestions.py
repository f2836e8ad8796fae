"""A mistyped key gets the whole dotted key it was probably meant to be, including a key missing its table."""

from __future__ import annotations

import pytest

from edgeseq.config import load_config
from edgeseq.errors import ConfigError


@pytest.mark.parametrize(
    ("override", "suggested"),
    [
        ("train.epoch=3", "train.epochs"),  # the whole key, not just "epochs"
        ("epochs=3", "train.epochs"),  # a train key written without its table (not "preprocess")
        ("lr=0.1", "train.lr"),
        ("data.split_seeds=1", "data.split_seed"),
        ("preprocss.height=40", "preprocess"),  # a misspelt table is still this level's key
    ],
)
def test_unknown_key_suggests_the_whole_key(override: str, suggested: str) -> None:
    with pytest.raises(ConfigError, match=rf"unknown key .*\(did you mean '{suggested}'\?\); expected one of"):
        load_config("digits-rows-lstm", [override])


def test_no_suggestion_when_nothing_is_close() -> None:
    with pytest.raises(ConfigError) as info:
        load_config("digits-rows-lstm", ["train.zzzzzz=1"])
    assert "did you mean" not in str(info.value) and "expected one of: epochs, batch_size" in str(info.value)
