"""Recipes into configs: TOML reading, dict → dataclass conversion with key and type checks, ``--set`` overrides.

Standard library only. Every check raises :class:`~edgeseq.errors.ConfigError` naming the bad key.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from edgeseq.config.conversion import from_dict
from edgeseq.config.schema import MAX_TOML_DEPTH, ExperimentConfig
from edgeseq.errors import ConfigError
from edgeseq.presets import recipe_path


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``key.sub=value``; the value is read as TOML (``3``, ``true``, ``[1, 2]``, ``"x"``) or else a string.

    Raises:
        ConfigError: no ``=``, an empty key or key part, a line break or other control character (one
            ``--set`` is one ``key=value`` line: a newline could smuggle in a TOML table), or a value
            nested deeper than :data:`MAX_TOML_DEPTH`.
    """
    if not isinstance(text, str):
        raise ConfigError(f"--set {text!r}: expected a KEY=VALUE string")
    if any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in text):
        raise ConfigError(f"--set {text!r}: got a line break or control character; expected one KEY=VALUE line")
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, for example train.epochs=3")
    key, raw = text.split("=", 1)
    parts = [part.strip() for part in key.split(".")]
    if not all(parts):
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE with a dotted key such as train.epochs")
    try:
        parsed = tomllib.loads(f"v = {raw}")
        value = parsed["v"] if list(parsed) == ["v"] else raw
    except tomllib.TOMLDecodeError:
        value = raw
    except RecursionError:
        raise ConfigError(
            f"--set {parts[-1]}: the value nests too deep; expected at most {MAX_TOML_DEPTH} levels"
        ) from None
    check_depth(value, f"--set {key.strip()}")
    return parts, value


def check_depth(value: Any, what: str, limit: int = MAX_TOML_DEPTH) -> None:
    """Refuse tables/arrays nested deeper than ``limit`` (iteratively: a hostile file must not exhaust the stack).

    Raises:
        ConfigError: naming ``what``.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise ConfigError(f"{what}: nests tables or arrays deeper than {limit} levels; expected a recipe")
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of the raw config table with ``--set`` overrides applied.

    Raises:
        ConfigError: a malformed override (see :func:`parse_override`), or one that goes through a value that is not a table.
    """
    check_depth(data, "config")
    data = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        table = data
        for part in path[:-1]:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise ConfigError(f"--set {text!r}: {part!r} is not a table")
        table[path[-1]] = value
    return data


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file into a dict, with clear errors for a missing, malformed or absurdly nested file.

    Raises:
        ConfigError: naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found; expected a .toml file")
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text; expected a .toml file") from None
    except RecursionError:
        raise ConfigError(
            f"config file {str(path)!r}: nests tables or arrays too deep; expected at most {MAX_TOML_DEPTH} levels"
        ) from None
    check_depth(data, f"config file {str(path)!r}")
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Load an :class:`ExperimentConfig` from a TOML recipe, applying ``--set`` overrides.

    Args:
        path: the recipe file, or the name of a shipped recipe (``"digits-rows-lstm"``; see
            :mod:`edgeseq.presets`); ``None`` starts from the defaults.
        overrides: ``["train.epochs=3", ...]``.
    """
    data = read_toml(recipe_path(path)) if path is not None else {}
    data = apply_overrides(data, overrides or [])
    return from_dict(ExperimentConfig, data)


def config_from_dict(data: dict[str, Any]) -> ExperimentConfig:
    """Rebuild an :class:`ExperimentConfig` from :meth:`ExperimentConfig.to_dict` output (e.g. a checkpoint)."""
    return from_dict(ExperimentConfig, data)
