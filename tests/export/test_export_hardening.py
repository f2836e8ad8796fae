"""Export and validate under hostile conditions (issue 20): killed exports, huge sizes, full disks.

* A work folder left by a killed export (SIGKILL: nothing can clean up) is removed by the next export;
  one whose export is still running is not (its flock is held).
* ``validate --sizes 1000000`` is refused by the memory estimate before any input is made.
* ``validate --report`` onto a full disk exits 2 with one line and keeps the earlier report.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from child_limits import REPO, run_limited

pytest.importorskip("torch")

from edgeseq.cli import main  # noqa: E402
from edgeseq.export.staging import remove_stale_staging, staging_dir  # noqa: E402
from edgeseq.fileio import UNLOCKED_STALE_AFTER_S  # noqa: E402

HOLD = """
import sys, time
from pathlib import Path
from edgeseq.export.staging import staging_dir
with staging_dir(Path(sys.argv[1])) as work:
    (work / "candidate.onnx").write_bytes(b"x" * 1000)
    print(work.parent, flush=True)
    time.sleep(600)
"""


def _holder(target: Path) -> tuple[subprocess.Popen, Path]:
    """A child process inside ``staging_dir(target)``; returns it and its work folder."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(target)], stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline().strip() if proc.stdout else ""
    return proc, Path(line)


def test_work_folders_of_killed_exports_are_removed_and_running_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    killed, killed_folder = _holder(target)
    running, running_folder = _holder(target)
    try:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(30)
        assert killed_folder.is_dir() and running_folder.is_dir()  # SIGKILL left its folder behind
        assert remove_stale_staging(target) == [killed_folder]
        assert not killed_folder.exists() and running_folder.is_dir()
        with staging_dir(target) as work:  # the next export cleans up too, and never touches a live one
            assert work.is_dir() and running_folder.is_dir()
    finally:
        running.kill()
        running.wait(30)
    assert remove_stale_staging(target) == [running_folder]
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_lockless_work_folder_is_removed_only_when_old(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    young = tmp_path / ".model.onnx.abc123.export"
    young.mkdir()
    assert remove_stale_staging(target) == []  # may be an export between mkdtemp and its lock
    old = time.time() - UNLOCKED_STALE_AFTER_S - 10
    os.utime(young, (old, old))
    assert remove_stale_staging(target) == [young]
    other = tmp_path / ".other.onnx.abc123.export"
    other.mkdir()
    os.utime(other, (old, old))
    assert remove_stale_staging(target) == [] and other.is_dir()  # another model's work folder


@pytest.mark.slow
def test_a_real_export_killed_midway_is_cleaned_by_the_next(tmp_path: Path, tiny_checkpoint: Path) -> None:
    out = tmp_path / "m.onnx"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "edgeseq", "export", str(tiny_checkpoint), "-o", str(out)], env=env)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".m.onnx.*.export")):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert list(tmp_path.glob(".m.onnx.*.export")), "the export was killed before it staged anything"
    assert main(["export", str(tiny_checkpoint), "-o", str(out)]) == 0
    assert out.is_file() and not list(tmp_path.glob(".m.onnx.*"))


@pytest.fixture
def exported(tmp_path: Path, tiny_checkpoint: Path, capsys) -> Path:
    out = tmp_path / "out" / "tiny.onnx"
    assert main(["export", str(tiny_checkpoint), "-o", str(out)]) == 0
    capsys.readouterr()
    return out


@pytest.mark.slow
def test_validate_refuses_sizes_that_cannot_fit_before_making_them(exported: Path, tiny_checkpoint: Path) -> None:
    argv = ["validate", str(exported), "--checkpoint", str(tiny_checkpoint), "--samples", "0", "--sizes", "1000000"]
    # 2 x 16 x 16 x 1,000,000 floats per feature map (2 GiB each): a cap of 8 GiB of address space
    # (importing torch alone reserves 3.3 GiB of it) makes a failing estimate kill the child, not the machine
    child = run_limited(cli=argv, address_space=8 * 1024**3, env={"EDGESEQ_MEMORY_LIMIT": "1G"})
    assert child.returncode == 2, child.stderr
    (line,) = child.stderr.strip().splitlines()
    assert (
        line.startswith("edgeseq validate: error: sizes 1000000 (model ")
        and "above the memory limit of 1.0 GiB" in line
    )


@pytest.mark.slow
def test_validate_report_onto_a_full_disk_keeps_the_earlier_report(exported: Path, tiny_checkpoint: Path) -> None:
    report = exported.with_name("report.json")
    argv = ["validate", str(exported), "--checkpoint", str(tiny_checkpoint), "--samples", "0", "--report", str(report)]
    assert main(argv) == 0
    earlier = report.read_bytes()
    manifest = exported.with_suffix(".json").read_bytes()
    child = run_limited(cli=argv, file_size=len(earlier) // 2)
    assert child.returncode == 2, child.stderr
    last = child.stderr.strip().splitlines()[-1]
    assert last.startswith("edgeseq validate: error: cannot write ") and "nothing was written under that name" in last
    assert report.read_bytes() == earlier and exported.with_suffix(".json").read_bytes() == manifest
    assert not [p for p in exported.parent.iterdir() if p.name.endswith(".tmp")]


def test_validate_report_onto_a_device_is_refused(exported: Path, tiny_checkpoint: Path, capsys) -> None:
    argv = ["validate", str(exported), "--checkpoint", str(tiny_checkpoint), "--samples", "0", "--report", "/dev/null"]
    assert main(argv) == 2
    assert "cannot write '/dev/null': it is a device, FIFO or socket" in capsys.readouterr().err
    assert Path("/dev/null").is_char_device()


@pytest.mark.slow
def test_validate_refuses_a_memory_bomb_before_onnxruntime_runs_it(tmp_path: Path, tiny_checkpoint: Path) -> None:
    from memory_bombs import bomb_model

    bomb = bomb_model(tmp_path, "ConstantOfShape")
    child = run_limited(
        cli=["validate", str(bomb), "--checkpoint", str(tiny_checkpoint), "--samples", "0"],
        address_space=8 * 1024**3,  # torch alone reserves 3.3 GiB of address space; the bomb wants 12 GB more
        env={"EDGESEQ_MEMORY_LIMIT": "2G"},
    )
    assert child.returncode == 2, child.stderr
    (line,) = child.stderr.strip().splitlines()
    assert line.startswith("edgeseq validate: error: model ") and "ConstantOfShape 'huge' makes 11.2 GiB" in line
