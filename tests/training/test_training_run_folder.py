"""Training into a folder that holds a run is refused unless the run is continued or replaced."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from edgeseq.errors import ConfigError  # noqa: E402
from edgeseq.nn import tiny_config  # noqa: E402
from edgeseq.training import train  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
QUIET = {"log": lambda _line: None}


def test_a_second_run_into_the_same_folder_is_refused_and_loses_nothing(tmp_path: Path) -> None:
    cfg = tiny_config("test_rows_lstm")
    train(cfg, tmp_path, **QUIET)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ConfigError, match=r"already holds a run \(best.pt, last.pt, metrics.jsonl, summary.json\)"):
        train(cfg, tmp_path, **QUIET)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_overwrite_replaces_the_run_and_resume_continues_it(tmp_path: Path) -> None:
    cfg = tiny_config("test_rows_lstm")
    train(cfg, tmp_path, **QUIET)
    (tmp_path / "notes.txt").write_text("mine")  # not a run file: left alone
    replaced = train(cfg, tmp_path, overwrite=True, **QUIET)
    assert replaced.epochs == 1 and (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(ConfigError, match="--resume continues .* --force replaces"):
        train(cfg, tmp_path, resume=True, overwrite=True, **QUIET)


def test_cli_refuses_a_run_folder_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "best.pt").write_bytes(b"a 98.6 % model")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "edgeseq", "train", "digits-rows-lstm", "--out", str(out), "--set", "train.epochs=1"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "already holds a run (best.pt)" in proc.stderr
    assert "--resume" in proc.stderr and "--force" in proc.stderr
    assert (out / "best.pt").read_bytes() == b"a 98.6 % model"
