"""The recipes and export profiles edgeseq ships, found by name from any folder.

They are package data (``edgeseq/assets/recipes/*.toml`` and ``edgeseq/assets/profiles/*.toml``; in the
repository those two folders link to ``models/`` and ``export/``), so ``--profile mobile`` and
``edgeseq train digits-rows-lstm`` work after ``pip install edgeseq`` without a checkout. A path that
exists always wins over a shipped name. Standard library only.
"""

from __future__ import annotations

from pathlib import Path

from edgeseq.errors import ConfigError

ASSETS = Path(__file__).resolve().parent / "assets"
RECIPES_DIR = ASSETS / "recipes"
PROFILES_DIR = ASSETS / "profiles"


def _names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def shipped_recipes() -> list[str]:
    """Names of the shipped training recipes (``digits-rows-lstm``, ...)."""
    return _names(RECIPES_DIR)


def shipped_profiles() -> list[str]:
    """Names of the shipped export profiles (``cpu-fp32``, ``cpu-int8``, ``cuda-fp16``, ``mobile``)."""
    return _names(PROFILES_DIR)


def _resolve(text: str | Path, folder: Path, repo_folder: str, kind: str, names: list[str], noun: str) -> Path:
    path = Path(text)
    if path.is_file():
        return path
    # "mobile", "mobile.toml" and the repository's "export/mobile.toml" (the README's spelling): the shipped
    # file of that name when no such path exists here; any other missing path is an error, never a guess
    shipped = folder / f"{path.stem}.toml"
    if path.suffix in ("", ".toml") and path.parent in (Path("."), Path(repo_folder)) and shipped.is_file():
        return shipped
    available = ", ".join(names) or "none (this install has no shipped files)"
    raise ConfigError(
        f"{noun} {str(text)!r} not found; expected a {kind} TOML file or the name of a shipped one: {available}"
    )


def recipe_path(text: str | Path) -> Path:
    """The recipe file for a path or a shipped recipe's name.

    Raises:
        ConfigError: neither a file nor a shipped recipe (the message lists the shipped ones).
    """
    return _resolve(text, RECIPES_DIR, "models", "recipe", shipped_recipes(), noun="config file")


def profile_path(text: str | Path) -> Path:
    """The export-profile file for a path or a shipped profile's name.

    Raises:
        ConfigError: neither a file nor a shipped profile (the message lists the shipped ones).
    """
    return _resolve(text, PROFILES_DIR, "export", "profile", shipped_profiles(), noun="profile")
