"""Export/deployment profiles: TOML files; the shipped ones (``export/`` in the repository, package data
when installed: ``cpu-fp32``, ``cpu-int8``, ``cuda-fp16``, ``mobile``) are found by name from any folder.

Schema (every table optional except ``[profile]``; unknown tables or keys are a ConfigError naming them)::

    [profile]
    name = "cpu-fp32"                 # required, a short identifier
    description = "FP32 on ONNX Runtime CPU"   # optional, one line

    [export]                          # edgeseq.export.ExportOptions; omitted keys keep their defaults
    opset = 18                        # 14..20 (dynamo paths need >= 18)
    exporter = "auto"                 # "auto" | "torchscript" | "dynamo"
    static = false                    # fix every axis to the example's shape
    preprocess_in_graph = false       # uint8 NHWC pixels in, normalisation inside the graph
    probabilities = false             # softmax output beside logits
    simplify = false                  # onnxslim, then a parity re-check
    verify = true                     # parity check of every candidate graph

    [optimize]                        # kept as a dict; load_profile_optimize validates it (OptimizeConfig)

Only the standard library and torch-free edgeseq modules are imported here (the CLI reads profiles before
importing torch).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.config import read_toml
from edgeseq.errors import ConfigError
from edgeseq.export.options import ExportOptions  # torch-free: the CLI reads profiles before importing torch
from edgeseq.optimization.config import OptimizeConfig  # torch-free too (onnx only inside functions)
from edgeseq.presets import profile_path

TABLES = ("profile", "export", "optimize")
PROFILE_KEYS = ("name", "description")


@dataclass
class Profile:
    """A named export (and optimization) recipe."""

    name: str
    description: str = ""
    export: Any = None  # edgeseq.export.ExportOptions
    optimize: dict[str, Any] = field(default_factory=dict)  # the raw [optimize] table
    path: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "name": self.name,
            "description": self.description,
            "export": self.export.to_dict() if self.export is not None else None,
            "optimize": self.optimize,
            "path": self.path,
        }


def _unknown(kind: str, key: str, valid: tuple[str, ...]) -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"unknown {kind} {key!r}{hint}; expected one of: {', '.join(valid)}")


def profile_from_dict(data: dict[str, Any], path: str | None = None) -> Profile:
    """Build a :class:`Profile` from a parsed TOML document.

    Raises:
        ConfigError: an unknown table or key, a missing ``[profile].name`` or an invalid export option.
    """
    where = f" in {path!r}" if path else ""
    for key, value in data.items():
        if key not in TABLES:
            raise ConfigError(str(_unknown("table", key, TABLES)) + where)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: got {type(value).__name__}{where}; expected a table [{key}]")
    head = data.get("profile")
    if head is None:
        raise ConfigError(f'profile{where}: missing [profile] table; expected name = "..."')
    for key in head:
        if key not in PROFILE_KEYS:
            raise ConfigError(
                str(_unknown("key", f"profile.{key}", tuple(f"profile.{k}" for k in PROFILE_KEYS))) + where
            )
    name = head.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"profile.name{where}: got {name!r}; expected a non-empty string")
    description = head.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"profile.description{where}: got {description!r}; expected a string")
    export = ExportOptions.from_dict(data.get("export", {}), prefix="export")
    return Profile(
        name=name, description=description, export=export, optimize=dict(data.get("optimize", {})), path=path
    )


def load_profile(path: str | Path) -> Profile:
    """Load a profile TOML file (see the module docstring for the schema).

    Args:
        path: a ``.toml`` file, or the name of a shipped profile (``"cpu-fp32"``, ``"mobile"``; see
            :mod:`edgeseq.presets`), found from any folder.

    Raises:
        ConfigError: the file is missing (the message lists the shipped profiles) or malformed, or has
            unknown tables/keys.
    """
    path = profile_path(path)
    return profile_from_dict(read_toml(path), str(path))


def load_profile_optimize(path: str | Path) -> OptimizeConfig:
    """Load an export profile (:func:`load_profile`) and validate its ``[optimize]`` table.

    Raises:
        ConfigError: a missing or malformed file, or a bad ``optimize.<key>``.
    """
    return OptimizeConfig.from_dict(load_profile(path).optimize)
