"""The CLI: every verb is listed, errors are one line with the right exit code, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgeseq.cli import VERBS, build_parser, main

ROOT = Path(__file__).parents[2]


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgeseq", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )


def test_help_lists_every_verb() -> None:
    text = build_parser().format_help()
    for verb in VERBS:
        assert verb in text, f"verb {verb!r} missing from edgeseq --help"


def test_no_verb_prints_help_and_exits_2(capsys) -> None:
    assert main([]) == 2
    assert "usage: edgeseq" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "missing.toml", "--out", "{tmp}/run"], "config file 'missing.toml' not found"),
        (
            ["train", "models/digits-rows-lstm.toml", "--out", "{tmp}/run", "--set", "train.epochs=-1"],
            "train.epochs: got -1; expected a positive number",
        ),
        (
            ["train", "models/digits-rows-lstm.toml", "--out", "{tmp}/file", "--set", "train.epochs=1"],
            "is a file; expected a folder",
        ),
        (["evaluate", "{tmp}/nothing.pt"], "not found"),
    ],
)
def test_errors_are_one_line_exit_2_and_write_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "file").write_text("x")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = _cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_models_lists_registries() -> None:
    result = _cli("models")
    assert result.returncode == 0
    for name in ("smallcnn", "resnet18", "rows", "columns", "lstm", "gru", "last", "ctc"):
        assert name in result.stdout
