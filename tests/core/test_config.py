"""Config loading: TOML, --set overrides, and errors that name the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeseq.config import ExperimentConfig, config_from_dict, load_config, parse_override
from edgeseq.errors import ConfigError

RECIPES = sorted((Path(__file__).parents[2] / "models").glob("*.toml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_shipped_recipes_load_and_round_trip(recipe: Path) -> None:
    cfg = load_config(recipe)
    assert isinstance(cfg, ExperimentConfig)
    assert config_from_dict(cfg.to_dict()) == cfg


def test_overrides_are_typed_by_toml() -> None:
    cfg = load_config(None, ["train.epochs=3", "model.bidirectional=true", "preprocess.mean=[0.1]", "name=x y"])
    assert cfg.train.epochs == 3 and cfg.model.bidirectional is True
    assert cfg.preprocess.mean == [0.1] and cfg.name == "x y"


def test_int_accepted_where_float_expected() -> None:
    assert load_config(None, ["train.lr=1"]).train.lr == 1.0


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["train.epoch=3"], r"unknown key 'train.epoch' \(did you mean 'train.epochs'\?\)"),
        (["bogus.x=1"], r"unknown key 'bogus'"),
        (["train.epochs=three"], r"train.epochs: got 'three'; expected an integer"),
        (["train.epochs=0"], r"train.epochs: got 0; expected a positive number"),
        (["model.rnn=lstn"], r"model.rnn: got 'lstn' \(did you mean 'lstm'\?\); expected one of: lstm, gru, rnn"),
        (["model.bidirectional=1"], r"model.bidirectional: got 1; expected true or false"),
        (["preprocess.color=RGB", "preprocess.mean=[0.1, 0.2]"], r"preprocess.mean: got 2 values; expected 1 or 3"),
        (["preprocess.std=[0]"], r"preprocess.std: got \[0.0\]; expected positive values"),
        (["data.val_fraction=0.6", "data.test_fraction=0.5"], r"expected a sum below 1"),
        (["data.dataset=folder"], r"data.root: required for dataset='folder'"),
        (["model.head=ctc"], r"model.head: 'ctc' needs a text-line dataset"),
        (["preprocess.resize=height"], r"only the 'columns' sequencer"),
        (["model.dropout=1.5"], r"model.dropout: got 1.5"),
        (["train"], r"expected KEY=VALUE"),
        (["train=3"], r"train: got int; expected a table"),
    ],
)
def test_config_errors_name_the_key(overrides: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(None, overrides)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nbackbone = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_parse_override_falls_back_to_string() -> None:
    assert parse_override("model.backbone=resnet18") == (["model", "backbone"], "resnet18")
    assert parse_override("train.lr=1e-3") == (["train", "lr"], 1e-3)
