"""Interruptions: SIGKILL a training mid-epoch (and once while a checkpoint is being written), resume, and
SIGKILL exports at several moments. Nothing under a final name is ever half-written.

Training uses the digits recipe shrunk to run about a second per epoch on one thread (8/16 channels, hidden
32, 16x16 input, batch 8): uninterrupted, 6 epochs reach 0.983 test accuracy here (measured 2026-11-29), so
the resumed run must land in the same band, ACCURACY_FLOOR.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reliability_testlib import REPO, SUMMARY_FILE, tally

from edgeseq.checkpoint import load_checkpoint
from edgeseq.runtime.safety import check_model_file

pytestmark = pytest.mark.slow

RECIPE = REPO / "models" / "digits-rows-lstm.toml"
EPOCHS = 6
# Shrunk recipe: ~1 s per epoch on one thread, so a kill can land mid-epoch; 0.983 test accuracy uninterrupted.
SMALL = [
    "train.threads=1",
    "train.progress=false",
    "train.batch_size=8",
    "train.lr=0.003",
    "model.backbone_args={channels=[8,16],pools=[[2,2],[2,2]]}",
    "model.hidden_size=32",
    "preprocess.height=16",
    "preprocess.width=16",
    "data.augment_shift=0",  # the band below was measured without augmentation; this test is about kills
]
# Uninterrupted this recipe scored 0.983; killed twice and resumed, 0.972 (before the shuffle order was
# made a function of seed and epoch). The band is that spread with a margin.
ACCURACY_FLOOR = 0.95
POLL_S = 0.002


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _start(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "edgeseq", *args], cwd=REPO, env=_env(), stdout=fh, stderr=subprocess.STDOUT
        )


def _epochs(run: Path) -> list[int]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line)["epoch"] for line in path.read_text().splitlines() if line.strip()]


def _wait(proc: subprocess.Popen, condition, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended (code {proc.returncode}) before it could be interrupted")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the process")
        time.sleep(POLL_S)


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _record(fields: dict) -> None:
    """Keep the figures for the closing note beside the session summary."""
    try:
        SUMMARY_FILE.with_name("edgeseq-reliability-interrupt.json").write_text(json.dumps(fields, indent=2) + "\n")
    except OSError:
        pass


def _check_run_folder(run: Path) -> int:
    """Every final-named checkpoint loads; returns the epoch in last.pt. Temp files may remain (.*.tmp)."""
    finals = sorted(p for p in run.iterdir() if p.suffix == ".pt" and not p.name.startswith("."))
    assert finals, "no checkpoint under a final name"
    for path in finals:
        ckpt = load_checkpoint(path)  # raises on a truncated or corrupt file
        assert {"state_dict", "config", "epoch"} <= set(ckpt)
    leftovers = [p.name for p in run.iterdir() if p.name.startswith(".")]
    assert all(name.endswith(".tmp") for name in leftovers), leftovers
    return int(load_checkpoint(run / "last.pt")["epoch"])


def test_sigkill_mid_epoch_and_mid_save_then_resume(tmp_path):
    run = tmp_path / "run"
    log = tmp_path / "train.log"
    sets = [arg for s in [f"train.epochs={EPOCHS}", *SMALL] for arg in ("--set", s)]

    # 1. kill mid-epoch: epoch 1 is saved, epoch 2 is running
    proc = _start(["train", str(RECIPE), "--out", str(run), *sets], log)
    _wait(proc, lambda: len(_epochs(run)) >= 1)
    time.sleep(0.3)
    _kill(proc)
    saved = _check_run_folder(run)
    logged = _epochs(run)
    assert logged == list(range(1, len(logged) + 1))
    assert saved in (len(logged), len(logged) + 1)  # killed between saving last.pt and logging: one behind
    tally("interrupt: SIGKILL mid-epoch", "survived")
    kills = [saved]

    # 2. resume, and kill while last.pt is being written (its temporary file exists), else right after an epoch
    before = len(logged)
    proc = _start(["train", "--resume", "--out", str(run), "--set", "train.progress=false"], log)

    def writing() -> bool:
        return any(p.name.startswith(".last.pt.") for p in run.iterdir()) or len(_epochs(run)) >= before + 2

    _wait(proc, writing)
    during_write = any(p.name.startswith(".last.pt.") for p in run.iterdir())
    _kill(proc)
    resumed_from = saved
    saved = _check_run_folder(run)
    kills.append(saved)
    logged = _epochs(run)
    assert logged[before:] == list(range(resumed_from + 1, resumed_from + 1 + len(logged) - before)), logged
    assert saved >= resumed_from
    tally("interrupt: SIGKILL while last.pt was written", "survived" if during_write else "missed (after an epoch)")

    # 3. resume to the end
    before = len(logged)
    proc = subprocess.run(
        [sys.executable, "-m", "edgeseq", "train", "--resume", "--out", str(run), "--json"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout[proc.stdout.index("{") :])
    logged = _epochs(run)
    assert logged[before:] == list(range(saved + 1, EPOCHS + 1)), logged
    assert _check_run_folder(run) == EPOCHS
    assert result["epochs"] == EPOCHS
    _record(
        {
            "killed_after_epochs": kills,
            "resumed_epochs": logged,
            "test_accuracy_after_resume": result["metrics"]["test_accuracy"],
        }
    )
    assert result["metrics"]["test_accuracy"] >= ACCURACY_FLOOR, result["metrics"]
    history = [record["epoch"] for record in load_checkpoint(run / "last.pt")["train_state"]["history"]]
    assert history == list(range(1, EPOCHS + 1))  # the checkpoint's own history is complete and in order


@pytest.fixture(scope="module")
def small_checkpoint(tiny_classifier) -> Path:
    """The kit's tiny digits checkpoint (read only: the exports below write elsewhere)."""
    return tiny_classifier.checkpoint


def _work_dirs(target: Path) -> set[str]:
    return {p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")}


def test_sigkill_during_export_leaves_no_half_file(tmp_path, small_checkpoint):
    """Kill `edgeseq export` at several moments after it starts writing: the final name is absent or complete."""
    import onnxruntime as ort

    target = tmp_path / "out" / "model.onnx"
    target.parent.mkdir()
    log = tmp_path / "export.log"
    # an uninterrupted export first: the complete case, and how long the writing phase lasts here
    started = _start(["export", str(small_checkpoint), "-o", str(target)], log)
    _wait(started, lambda: _work_dirs(target), timeout=120)
    t0 = time.monotonic()
    assert started.wait(timeout=180) == 0, log.read_text()[-2000:]
    span = time.monotonic() - t0
    assert check_model_file(target).manifest_verified
    outcomes = []
    for fraction in (0.1, 0.4, 0.7):
        delay = fraction * span
        for path in target.parent.iterdir():
            if not path.name.startswith("."):
                path.unlink()
        stale = _work_dirs(target)  # killed exports leave their private work folders behind
        proc = _start(["export", str(small_checkpoint), "-o", str(target)], log)
        # the exporter's private work folder (.model.onnx.*.export) appears once the export itself starts
        _wait(proc, lambda stale=stale: _work_dirs(target) - stale, timeout=120)
        time.sleep(delay)
        if proc.poll() is None:
            _kill(proc)
            outcomes.append("killed")
        else:
            outcomes.append("finished")
        tally("interrupt: SIGKILL during export", f"survived ({outcomes[-1]})")
        finals = {p.name for p in target.parent.iterdir() if not p.name.startswith(".")}
        assert finals <= {"model.onnx", "model.json"}, finals
        if "model.onnx" in finals:
            report = check_model_file(target)  # parses completely; sha256 matches when the manifest is there
            assert report.manifest_verified == ("model.json" in finals)
            ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
        else:
            assert "model.json" not in finals
    assert "killed" in outcomes
