"""Recipes and ``--set`` values whose type says more than their value (issue 20), and the memory budget of sizes.

Each case states its outcome: refused with one line naming the key (``ConfigError`` /
``ResourceLimitError``, CLI exit 2), or accepted with the value it means.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from edgeseq.budget import check_memory_budget, memory_estimate
from edgeseq.cli import main
from edgeseq.config import (
    MAX_EPOCHS,
    MAX_SEED,
    MAX_TOML_DEPTH,
    ModelConfig,
    PreprocessConfig,
    TrainConfig,
    load_config,
    parse_override,
)
from edgeseq.errors import ConfigError, ResourceLimitError

RECIPE = "models/digits-rows-lstm.toml"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('train.epochs="3"', "train.epochs: got '3'; expected an integer"),
        ("train.epochs=2.5", "train.epochs: got 2.5; expected an integer"),
        ("train.epochs=-1", "train.epochs: got -1; expected a positive number"),
        ("train.epochs=0", "train.epochs: got 0; expected a positive number"),
        (f"train.epochs={MAX_EPOCHS + 1}", f"train.epochs: got {MAX_EPOCHS + 1}; expected at most {MAX_EPOCHS}"),
        ("train.lr=nan", "train.lr: got nan; expected a finite number"),
        ("train.lr=inf", "train.lr: got inf; expected a finite number"),
        ("train.weight_decay=nan", "train.weight_decay: got nan; expected a finite number"),
        ("train.gamma=-0.5", "train.gamma: got -0.5; expected a positive number"),
        ("train.seed=-1", f"train.seed: got -1; expected an integer from 0 to {MAX_SEED}"),
        ("train.seed=18446744073709551616", "train.seed: got 18446744073709551616; expected an integer"),
        ("data.split_seed=4294967296", "data.split_seed: got 4294967296; expected an integer from 0"),
        ("preprocess.mean=[nan]", "preprocess.mean[0]: got nan; expected a finite number"),
        ("preprocess.height=1e6", "preprocess.height: got 1000000.0; expected an integer"),
        (
            "data.labels_file='../../etc/passwd'",
            "data.labels_file: got '../../etc/passwd'; expected a file name inside",
        ),
        ("data.labels_file='/etc/passwd'", "data.labels_file: got '/etc/passwd'"),
    ],
)
def test_bad_values_are_refused_naming_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(RECIPE, [override])
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": "3"}, "train.epochs: got '3'; expected an integer"),
        ({"epochs": 2.5}, "train.epochs: got 2.5; expected an integer"),
        ({"lr": float("nan")}, "train.lr: got nan; expected a finite number"),
        ({"seed": True}, "train.seed: got True; expected an integer"),
        ({"amp": "yes"}, "train.amp: got 'yes'; expected true or false"),
    ],
)
def test_configs_built_in_python_are_checked_the_same_way(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        TrainConfig(**kwargs)


def test_ints_where_floats_are_expected_become_floats() -> None:
    config = TrainConfig(lr=1, weight_decay=0)
    assert config.lr == 1.0 and isinstance(config.lr, float) and config.weight_decay == 0.0


@pytest.mark.parametrize(
    "text",
    [
        'train.epochs=1\n[model]\nrnn="gru"',  # a newline would smuggle in a table
        "train.epochs=1\r",
        "train.epochs=\x001",
        "train.lr=1e-3\x1b[31m",
    ],
)
def test_set_is_one_key_value_line(text: str) -> None:
    with pytest.raises(ConfigError, match="got a line break or control character; expected one KEY=VALUE line"):
        parse_override(text)
    assert main(["train", RECIPE, "--set", text, "--out", "/nonexistent/never"]) == 2


@pytest.mark.parametrize("text", ["=3", ".epochs=3", "train..epochs=3", "train.epochs"])
def test_set_needs_a_dotted_key_and_a_value(text: str) -> None:
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override(text)


def test_set_values_are_read_as_toml_or_kept_as_text() -> None:
    assert parse_override("train.epochs=3") == (["train", "epochs"], 3)
    assert parse_override("model.backbone_args={channels=[4,8]}") == (["model", "backbone_args"], {"channels": [4, 8]})
    assert parse_override("name=my run") == (["name"], "my run")  # not TOML: the text itself
    assert parse_override("train.epochs=\t3")[1] == 3  # a tab is whitespace, not a control character


def test_deeply_nested_toml_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    recipe = tmp_path / "deep.toml"
    recipe.write_text("x = " + "[" * 1000 + "]" * 1000 + "\n")
    with pytest.raises(ConfigError, match="nests tables or arrays too deep|deeper than"):
        load_config(recipe)
    nested = tmp_path / "nested.toml"
    nested.write_text("x = " + "[" * (MAX_TOML_DEPTH + 2) + "]" * (MAX_TOML_DEPTH + 2) + "\n")
    with pytest.raises(ConfigError, match=f"deeper than {MAX_TOML_DEPTH} levels"):
        load_config(nested)
    with pytest.raises(ConfigError, match="nests too deep|deeper than"):
        parse_override("model.backbone_args=" + "[" * 1000 + "]" * 1000)


# ------------------------------------------------------------------ memory budget


def test_estimate_counts_rnn_weights_and_images() -> None:
    cfg = load_config(RECIPE)
    parts = memory_estimate(cfg, training=False, batch=1)
    hidden = cfg.model.hidden_size
    assert parts["model.hidden_size"] == 4 * 4 * hidden * (1 + hidden + 2)  # lstm gates x floats, input >= 1
    assert parts["preprocess.height/width"] == 1 * 32 * 32 * 4 * 2
    training = memory_estimate(cfg, training=True, batch=64)
    assert training["model.hidden_size"] == 4 * parts["model.hidden_size"]
    assert training["preprocess.height/width"] == 64 * 2 * parts["preprocess.height/width"]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.hidden_size=30000", "model.hidden_size: got hidden_size=30000"),
        ("preprocess.height=1000000", "preprocess.height/width: got 1000000x32 pixels"),
    ],
)
def test_sizes_over_the_budget_are_refused_before_anything_is_allocated(override: str, key: str) -> None:
    cfg = load_config(RECIPE, [override])
    with pytest.raises(ResourceLimitError) as info:
        check_memory_budget(cfg, training=True, batch=cfg.train.batch_size, limit="8G")
    message = str(info.value)
    assert message.startswith(key) and "above the limit of 8.0 GiB" in message and "\n" not in message


def test_training_refuses_a_budget_breaking_recipe_at_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EDGESEQ_MEMORY_LIMIT", "4G")
    out = tmp_path / "run"
    code = main(["train", RECIPE, "--set", "model.hidden_size=30000", "--out", str(out)])
    assert code == 2 and not (out / "last.pt").exists()


def test_budget_follows_the_limit(monkeypatch) -> None:
    cfg = load_config(RECIPE)
    check_memory_budget(cfg, training=True, batch=64, limit="1G")  # the shipped recipe: a few MB
    monkeypatch.setenv("EDGESEQ_MEMORY_LIMIT", "100K")
    with pytest.raises(ResourceLimitError, match=r"above the limit of 100\.0 KiB \(EDGESEQ_MEMORY_LIMIT\)"):
        check_memory_budget(cfg, training=True, batch=64)


def test_model_and_preprocess_configs_check_counts_and_finite_values() -> None:
    with pytest.raises(ConfigError, match="model.hidden_size: got 0"):
        ModelConfig(hidden_size=0)
    with pytest.raises(ConfigError, match=r"preprocess.std\[0\]: got inf; expected a finite number"):
        PreprocessConfig(std=[math.inf])
