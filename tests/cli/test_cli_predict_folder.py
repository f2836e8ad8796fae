"""`edgeseq predict DIR`: an unreadable file is reported and skipped, the others are predicted, exit 2 at the end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "digits-rows-lstm.onnx"


def _predict(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "edgeseq", "predict", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_one_unreadable_file_does_not_stop_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    shutil.copy(REPO / "samples" / "digit-3.png", folder / "a-three.png")
    (folder / "b-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    shutil.copy(REPO / "samples" / "digit-7.png", folder / "c-seven.png")
    proc = _predict(str(MODEL), str(folder), "--json", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(Path(r["file"]).name, r["label"]) for r in records] == [("a-three.png", "3"), ("c-seven.png", "7")]
    lines = proc.stderr.splitlines()
    assert any(line.startswith("edgeseq predict: skipped ") and "b-broken.png" in line for line in lines)
    assert lines[-1].startswith("edgeseq predict: error: 1 of 3 image(s) could not be read; first: ")


def test_table_output_keeps_the_readable_rows(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    proc = _predict(str(MODEL), str(REPO / "samples" / "digit-7.png"), str(tmp_path / "empty.png"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "digit-7.png  7" in proc.stdout and "empty.png" not in proc.stdout


def test_a_pytorch_checkpoint_as_the_model_points_to_export(tmp_path: Path) -> None:
    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(b"PK\x03\x04" + b"\0" * 64)  # what torch.save writes: a zip archive
    proc = _predict(str(ckpt), str(REPO / "samples" / "digit-7.png"), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "looks like a PyTorch checkpoint, not an ONNX model" in proc.stderr
    assert f"edgeseq export {ckpt} -o model.onnx" in proc.stderr
