"""``edgeseq export`` and ``edgeseq validate`` end to end on a tiny checkpoint (exit codes 0, 1, 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from edgeseq.cli import main  # noqa: E402

PROFILE = Path(__file__).resolve().parents[2] / "export" / "cpu-fp32.toml"


@pytest.fixture
def exported(tmp_path, tiny_checkpoint, capsys):
    out = tmp_path / "out" / "tiny.onnx"
    assert main(["export", str(tiny_checkpoint), "-o", str(out), "--profile", str(PROFILE)]) == 0
    capsys.readouterr()
    return out


def test_export_prints_a_summary(tmp_path, tiny_checkpoint, capsys, metadata_of):
    out = tmp_path / "m.onnx"
    code = main(["export", str(tiny_checkpoint), "-o", str(out), "--opset", "17", "--probabilities"])
    text = capsys.readouterr().out
    assert code == 0
    assert f"exported {out}" in text and "exporter torchscript, opset 17, RNN nodes: LSTM=1" in text
    assert "images[batch, 1, height, 32]" in text and "parity passed" in text
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert metadata_of(out).outputs.probabilities == "probabilities"


def test_validate_passes_with_real_samples(exported, capsys):
    code = main(["validate", str(exported), "--checkpoint", str(exported.parent.parent / "ckpt" / "best.pt")])
    text = capsys.readouterr().out
    assert code == 0
    assert "parity PASSED" in text and "sample" in text
    report = json.loads(exported.with_suffix(".parity.json").read_text())
    assert report["passed"] is True and report["samples"] > 0
    manifest = json.loads(exported.with_suffix(".json").read_text())
    assert manifest["parity"]["passed"] is True and manifest["parity"]["samples"] == report["samples"]


def test_validate_json_output_and_report_path(exported, tmp_path, capsys):
    report_path = tmp_path / "r" / "report.json"
    ckpt = exported.parent.parent / "ckpt" / "best.pt"
    code = main(
        [
            "validate",
            str(exported),
            "--checkpoint",
            str(ckpt),
            "--json",
            "--samples",
            "0",
            "--report",
            str(report_path),
            "--batch-sizes",
            "1,3",
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(report_path.read_text())
    assert {r["input_shape"][0] for r in printed["rows"] if r["case"] == "random"} == {1, 3}


def test_validate_exits_1_on_a_broken_model(exported, tmp_path, capsys, perturb_initializer):
    broken = tmp_path / "broken.onnx"
    perturb_initializer(exported, broken, delta=1.0)
    ckpt = exported.parent.parent / "ckpt" / "best.pt"
    code = main(["validate", str(broken), "--checkpoint", str(ckpt), "--samples", "0"])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAIL" in captured.out
    assert captured.err.count("\n") == 1 and "parity problem(s)" in captured.err
    assert json.loads(broken.with_suffix(".parity.json").read_text())["passed"] is False


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "{model}", "--checkpoint", "{missing}"],
        ["validate", "{missing}", "--checkpoint", "{ckpt}"],
        ["validate", "{notonnx}", "--checkpoint", "{ckpt}"],
        ["export", "{missing}", "-o", "{out}"],
        ["export", "{ckpt}", "-o", "{out}", "--opset", "9"],
        ["export", "{ckpt}", "-o", "{tmp}/m.txt"],
        ["export", "{ckpt}", "-o", "{out}", "--profile", "{notonnx}"],
        ["validate", "{model}", "--checkpoint", "{ckpt}", "--sizes", "2,64"],  # below the smallest legal height
    ],
)
def test_bad_inputs_exit_2(exported, tmp_path, capsys, argv):
    notonnx = tmp_path / "not.onnx"
    notonnx.write_text("hello")
    values = {
        "model": exported,
        "missing": tmp_path / "missing.pt",
        "ckpt": exported.parent.parent / "ckpt" / "best.pt",
        "notonnx": notonnx,
        "out": tmp_path / "x.onnx",
        "tmp": tmp_path,
    }
    code = main([a.format(**values) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("edgeseq ") and err.count("\n") == 1


def test_optimize_with_checkpoint_data_feeds_a_uint8_model_pixels(tmp_path, tiny_checkpoint, capsys):
    """Preprocessing in the graph (uint8 NHWC input): the checkpoint's normalised samples are turned back into pixels."""
    model = tmp_path / "u8.onnx"
    assert main(["export", str(tiny_checkpoint), "-o", str(model), "--preprocess-in-graph"]) == 0
    out = tmp_path / "opt"
    code = main(["optimize", str(model), "--checkpoint", str(tiny_checkpoint), "-o", str(out),
                 "--variants", "fp32,int8-dynamic", "--set", "optimize.max_eval_samples=32"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    report = json.loads((out / "optimize_report.json").read_text())
    fp32 = next(v for v in report["variants"] if v["name"] == "fp32")
    assert fp32["status"] == "reference" and fp32["score"]["samples"] == 32  # ran on the test split's pixels
