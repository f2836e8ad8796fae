"""Shipped recipes and export profiles are package data, found by name from any folder; a miss lists them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeseq.config import load_config
from edgeseq.errors import ConfigError
from edgeseq.presets import profile_path, recipe_path, shipped_profiles, shipped_recipes
from edgeseq.profiles import load_profile

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_files_are_the_repository_ones() -> None:
    assert shipped_profiles() == sorted(p.stem for p in (REPO / "export").glob("*.toml"))
    assert shipped_recipes() == sorted(p.stem for p in (REPO / "models").glob("*.toml"))
    assert {"cpu-fp32", "cpu-int8", "cuda-fp16", "mobile"} <= set(shipped_profiles())
    assert profile_path("mobile").read_bytes() == (REPO / "export" / "mobile.toml").read_bytes()


@pytest.mark.parametrize("spelling", ["mobile", "mobile.toml", "export/mobile.toml"])
def test_a_profile_is_found_by_name_from_another_folder(spelling: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_profile(spelling).name == "mobile"


def test_a_recipe_is_found_by_name_from_another_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config("digits-rows-lstm").name == "digits-rows-lstm"
    assert load_config("models/crnn-textline.toml").model.head == "ctc"  # the README's spelling


def test_a_local_file_wins_over_a_shipped_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mobile.toml").write_text('[profile]\nname = "my-mobile"\n')
    assert load_profile("mobile.toml").name == "my-mobile"


def test_a_missing_profile_or_recipe_lists_the_shipped_ones(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"profile 'mobil' not found; .* cpu-fp32, cpu-int8, cuda-fp16, mobile"):
        load_profile("mobil")
    with pytest.raises(
        ConfigError, match=r"config file 'digits' not found; expected a recipe .* crnn-textline, digits-rows-lstm"
    ):
        recipe_path("digits")
    # a path in some other folder is never silently replaced by a shipped file of the same name
    with pytest.raises(ConfigError, match="profile 'elsewhere/mobile.toml' not found"):
        load_profile("elsewhere/mobile.toml")


def test_cli_optimize_profile_by_name_from_another_folder(tmp_path: Path) -> None:
    """`edgeseq optimize --profile mobile` outside the checkout (the profile is package data)."""
    pytest.importorskip("onnx")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    model = REPO / "models" / "digits-rows-lstm.onnx"
    cmd = [sys.executable, "-m", "edgeseq", "optimize", str(model), "--profile", "mobile", "-o", "out", "--json"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert '"target": "mobile"' in proc.stdout
