"""`edgeseq optimize` end to end on an image folder, and the --strict exit code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from edgeseq.cli import main


def _image_folder(root: Path, per_class: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for label in ("0", "1", "2"):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8), "L").save(root / label / f"{i}.png")
    return root


def test_cli_writes_variants_report_and_table(tiny_lstm: Path, tmp_path: Path, capsys) -> None:
    data = _image_folder(tmp_path / "data")
    out = tmp_path / "out"
    argv = [
        "optimize",
        str(tiny_lstm),
        "--profile",
        str(Path(__file__).resolve().parents[2] / "export" / "cpu-int8.toml"),
        "--calibration",
        str(data),
        "--variants",
        "fp32,int8-mixed",
        "--set",
        "optimize.calibration_samples=4",
        "--set",
        "optimize.latency_runs=3",
        "--set",
        "optimize.max_accuracy_drop=100.0",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "| int8-mixed | int8 |" in table and "Recommended for cpu:" in table
    report = json.loads((out / "optimize_report.json").read_text())
    assert [v["name"] for v in report["variants"]] == ["fp32", "int8-mixed"]
    assert "image folder" in report["calibration"] and "5 samples not used" in report["evaluation"]
    assert (out / "int8-mixed.onnx").is_file() and (out / "int8-mixed.json").is_file()


def test_cli_strict_exits_1_when_everything_is_rejected(tiny_lstm: Path, tmp_path: Path, capsys) -> None:
    argv = [
        "optimize",
        str(tiny_lstm),
        "--variants",
        "int8-static",
        "--set",
        "optimize.latency_runs=0",
        "-o",
        str(tmp_path / "out"),
    ]
    # without calibration data int8-static cannot be built: its row is rejected (a negative
    # optimize.max_accuracy_drop, which used to force rejections here, is refused as a config error)
    assert main(argv) == 0  # rejected rows alone do not fail the command
    assert main([*argv, "--strict"]) == 1
    assert "every variant other than fp32 was rejected" in capsys.readouterr().err
    assert main([*argv, "--set", "optimize.max_accuracy_drop=-1.0"]) == 2
    assert "optimize.max_accuracy_drop: got -1.0; expected points from 0 to 100" in capsys.readouterr().err


def test_cli_config_errors_exit_2(tiny_lstm: Path, tmp_path: Path, capsys) -> None:
    assert main(["optimize", str(tiny_lstm), "--variants", "int9", "-o", str(tmp_path)]) == 2
    assert "optimize.variants: got 'int9'" in capsys.readouterr().err
    assert main(["optimize", str(tiny_lstm), "--set", "train.epochs=1", "-o", str(tmp_path)]) == 2
