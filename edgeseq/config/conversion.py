"""Generic dict → dataclass conversion with key and type checks (standard library only).

``from_dict`` builds a config dataclass from plain data, refusing unknown keys (with the whole key it was
probably meant to be) and values of the wrong type; ``check_field_types`` applies the same checks to a
dataclass built in Python, from its ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any

from edgeseq.errors import ConfigError


def check_field_types(obj: Any, prefix: str) -> None:
    """Check (and normalise) every field of a config dataclass against its annotation, by dotted key.

    ``from_dict`` checks TOML values this way; ``__post_init__`` calls this too, so a config built in
    Python (``TrainConfig(epochs="3")``, ``lr=float("nan")``) is refused the same way. Ints become
    floats where a float is expected; floats must be finite.

    Raises:
        ConfigError: a value of the wrong type, naming ``prefix.field``.
    """
    hints = _type_hints(obj)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        tp = hints[f.name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, tp):
            continue  # a nested table, already checked by its own __post_init__
        setattr(obj, f.name, _coerce(f"{prefix}.{f.name}" if prefix else f.name, value, tp))


_HINTS: dict[type, dict[str, Any]] = {}


def _type_hints(obj: Any) -> dict[str, Any]:
    """The resolved annotations of ``obj``'s class (resolved once per class)."""
    cls = type(obj)
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(key, value, arg)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if tp is Any:
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: got {type(value).__name__}; expected a table")
        return from_dict(tp, value, prefix=key)
    if origin is list:
        (item_tp,) = typing.get_args(tp) or (Any,)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: got {value!r}; expected a list of {_type_name(item_tp)}")
        return [_coerce(f"{key}[{i}]", v, item_tp) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: got {value!r}; expected a table")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: got {value!r}; expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: got {value!r}; expected an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: got {value!r}; expected a number")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: got {value!r}; expected a finite number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: got {value!r}; expected a string")
        return value
    return value


def _near_miss(cls: type, key: str, prefix: str) -> str:
    """`` (did you mean 'train.epochs'?)``: the closest whole dotted key, or "" when nothing is close.

    Candidates are this table's keys and, for a key that belongs one table down (``epochs`` written
    without ``train.``), the keys of the tables inside it; the closest spelling wins.
    """
    base = f"{prefix}." if prefix else ""
    hints = typing.get_type_hints(cls)
    candidates: dict[str, str] = {}  # the spelling compared with `key` -> the whole dotted key
    for f in reversed(dataclasses.fields(cls)):  # this table's own keys win a tie (set last)
        inner = hints[f.name]
        if isinstance(inner, type) and dataclasses.is_dataclass(inner):
            candidates.update({sub.name: f"{base}{f.name}.{sub.name}" for sub in dataclasses.fields(inner)})
    candidates.update({f.name: f"{base}{f.name}" for f in dataclasses.fields(cls)})
    close = difflib.get_close_matches(key, list(candidates), n=1)
    return f" (did you mean {candidates[close[0]]!r}?)" if close else ""


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and wrong types by name.

    Args:
        cls: a dataclass type.
        data: the parsed TOML table.
        prefix: the dotted key of this table, for error messages.

    Raises:
        ConfigError: an unknown key, a wrong type or an invalid value.
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in names:
            raise ConfigError(
                f"unknown key {dotted!r}{_near_miss(cls, key, prefix)}; expected one of: {', '.join(names)}"
            )
        kwargs[key] = _coerce(dotted, value, hints[key])
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a missing required field
        raise ConfigError(f"{prefix or cls.__name__}: {exc}") from None
