"""Export profiles (TOML under export/): the shipped cpu-fp32 profile and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeseq.errors import ConfigError
from edgeseq.export import ExportOptions
from edgeseq.profiles import load_profile, profile_from_dict

REPO = Path(__file__).resolve().parents[2]


def test_cpu_fp32_profile_loads():
    profile = load_profile(REPO / "export" / "cpu-fp32.toml")
    assert profile.name == "cpu-fp32" and profile.description
    assert profile.export == ExportOptions()  # the defaults are the cpu-fp32 recipe
    assert profile.optimize == {}
    assert profile.to_json()["export"]["opset"] == 18


def _write(tmp_path, text):
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[profile]\nname = "x"\n[exprot]\nopset = 18\n', r"unknown table 'exprot' \(did you mean 'export'\?\)"),
        ('[profile]\nname = "x"\n[export]\nopsett = 18\n', "unknown key 'export.opsett'"),
        ('[profile]\nname = "x"\n[export]\nopset = 9\n', "export.opset: got 9"),
        ('[profile]\nname = "x"\n[export]\nstatic = "yes"\n', "export.static"),
        ('[profile]\nname = "x"\ncolour = 1\n', "unknown key 'profile.colour'"),
        ('[profile]\ndescription = "no name"\n', "profile.name"),
        ("[export]\nopset = 18\n", r"missing \[profile\] table"),
        ("profile = 3\n", "expected a table"),
        ("[profile\n", "not valid TOML"),
    ],
)
def test_profile_errors_name_the_key(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_profile(_write(tmp_path, text))


def test_missing_profile_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_profile(tmp_path / "nope.toml")


def test_optimize_table_is_passed_through_untouched():
    profile = profile_from_dict({"profile": {"name": "int8"}, "optimize": {"quantize": "static", "anything": [1, 2]}})
    assert profile.optimize == {"quantize": "static", "anything": [1, 2]}
