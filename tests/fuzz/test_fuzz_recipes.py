"""Fuzz: recipe values and ``--set`` overrides (issue 20's fuzz tier).

Classes and expected outcomes:

* a ``[train]`` table whose every value has its key's type and range (integers where counts are
  meant, finite floats, known choices, seeds in 0..2**32-1) -> accepted, each value read back as given;
  any value outside that -> ``ConfigError`` naming ``train.<that key>``;
* ``--set train.epochs=TEXT``: TEXT with a line break or control character -> ``ConfigError`` (one
  line may not smuggle in a table); otherwise TEXT is read as TOML (or kept as text) and accepted iff it
  is an integer from 1 to ``MAX_EPOCHS``.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest
from fuzz_settings import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from edgeseq.config import MAX_EPOCHS, MAX_SEED, OPTIMIZERS, SCHEDULERS, load_config
from edgeseq.errors import ConfigError


def _count(minimum: int, maximum: float = math.inf):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and minimum <= v <= maximum


def _number(minimum: float, strict: bool = False):
    def ok(v) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return v > minimum if strict else v >= minimum

    return ok


# key -> what the recipe's [train] value must be
RULES = {
    "epochs": _count(1, MAX_EPOCHS),
    "batch_size": _count(1),
    "lr": _number(0, strict=True),
    "weight_decay": _number(0),
    "grad_clip": _number(0),
    "gamma": _number(0, strict=True),
    "step_size": _count(1),
    "seed": _count(0, MAX_SEED),
    "threads": _count(0),
    "max_steps_per_epoch": _count(0),
    "optimizer": lambda v: v in OPTIMIZERS,
    "scheduler": lambda v: v in SCHEDULERS,
    "amp": lambda v: isinstance(v, bool),
}
VALUES = (
    st.integers(-(2**70), 2**70)
    | st.integers(-3, 300)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.sampled_from([*OPTIMIZERS, *SCHEDULERS, "3", ""])
    | st.lists(st.integers(0, 3), max_size=2)
)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, list):
        return "[" + ", ".join(map(_toml_value, v)) + "]"
    return str(v)


@FUZZ
@given(table=st.dictionaries(st.sampled_from(sorted(RULES)), VALUES, min_size=1, max_size=4))
def test_recipe_train_values_are_accepted_or_refused_by_key(tmp_path: Path, table: dict) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text("[train]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in table.items()))
    parsed = tomllib.loads(recipe.read_text())["train"]  # what TOML itself made of the text
    bad = sorted(k for k, v in parsed.items() if not RULES[k](v))
    if bad:
        with pytest.raises(ConfigError) as info:
            load_config(recipe)
        assert any(f"train.{k}" in str(info.value) for k in bad) and "\n" not in str(info.value)
    else:
        cfg = load_config(recipe)
        for key, value in parsed.items():
            assert getattr(cfg.train, key) == value


def _expected_epochs(text: str):
    """What ``--set train.epochs=TEXT`` must give: an int, or None for a ConfigError."""
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in text):
        return None
    try:
        parsed = tomllib.loads(f"v = {text}")
        value = parsed["v"] if list(parsed) == ["v"] else text
    except tomllib.TOMLDecodeError:
        value = text
    return value if RULES["epochs"](value) else None


@FUZZ
@given(
    text=st.text(max_size=20) | st.sampled_from(["3", "1\n[model]\nrnn='gru'", " 7 ", "0x10", "1_000", "2.0", "[1]"])
)
def test_set_epochs_accepts_exactly_the_legal_values(text: str) -> None:
    expected = _expected_epochs(text)
    if expected is None:
        with pytest.raises(ConfigError) as info:
            load_config(None, [f"train.epochs={text}"])
        assert "--set" in str(info.value) or "train.epochs" in str(info.value)
    else:
        assert load_config(None, [f"train.epochs={text}"]).train.epochs == expected
