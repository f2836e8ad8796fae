"""In the base install (no torch, no onnx), every verb that needs more says, in one line, which extra to install.

The base install is simulated in a fresh Python where importing torch, onnx and their friends fails
(``sys.modules[name] = None``), so the test needs no second virtualenv (tests/runtime/test_runtime_venv.py
installs the real wheel). Every verb runs in that one process; exit code 2 and one stderr line each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "digits-rows-lstm.onnx"
BLOCKED = ("torch", "torchvision", "onnx", "onnxscript", "onnxslim", "sklearn", "edgeseq_web_assets")

RUN_VERBS = """
import contextlib, io, json, sys
for name in BLOCKED:
    sys.modules[name] = None  # `import name` now fails as if it were not installed
from edgeseq.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    out.append({"argv": argv, "code": code, "stderr": err.getvalue()})
print(json.dumps(out))
"""

# verb arguments -> the one-line message's install hint
CASES = [
    (["train", "digits-rows-lstm", "--out", "{tmp}/run"], "torch is required", "edgeseq[train]"),
    (["train", "--resume", "--out", "{tmp}/run"], "torch is required", "edgeseq[train]"),
    (["evaluate", "{tmp}/best.pt"], "torch is required", "edgeseq[train]"),
    (["export", "{tmp}/best.pt", "-o", "{tmp}/m.onnx"], "torch is required", "edgeseq[train]"),
    (["validate", "{model}", "--checkpoint", "{tmp}/best.pt"], "torch is required", "edgeseq[train]"),
    (["pipeline", "--out", "{tmp}/p"], "torch is required", "edgeseq[train]"),
    (["models"], "torch is required", "edgeseq[train]"),
    (["optimize", "{model}", "-o", "{tmp}/o"], "onnx is required", "edgeseq[optimize]"),
    (["optimize", "{model}", "--profile", "mobile", "-o", "{tmp}/o"], "onnx is required", "edgeseq[optimize]"),
    (["web", "{model}", "-o", "{tmp}/w"], "onnx is required", "edgeseq[web]"),
    (["bench", "{model}", "--checkpoint", "{tmp}/best.pt"], "torch is required", "edgeseq[train]"),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    tmp = tmp_path_factory.mktemp("base")
    (tmp / "best.pt").write_bytes(b"a stand-in: each verb stops at the missing extra before reading it")
    argvs = [[a.format(tmp=tmp, model=MODEL) for a in argv] for argv, _, _ in CASES]
    code = f"BLOCKED = {BLOCKED!r}\n" + RUN_VERBS
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(argvs)], capture_output=True, text=True, env=env, cwd=tmp, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)), ids=[" ".join(c[0][:1] + c[0][1:2]) for c in CASES])
def test_a_missing_extra_is_one_line_naming_it_with_exit_2(outcomes: list[dict], index: int, case) -> None:
    _, needed, extra = case
    result = outcomes[index]
    verb = result["argv"][0]
    assert result["code"] == 2, result
    assert result["stderr"].count("\n") == 1, result["stderr"]
    assert result["stderr"].startswith(f"edgeseq {verb}: error: {needed}")
    assert f"pip install '{extra}'" in result["stderr"] and "internal error" not in result["stderr"]


def test_bench_and_predict_need_no_extra(outcomes: list[dict], tmp_path: Path) -> None:
    """The base install measures and runs ONNX models (the runtime verbs)."""
    code = f"BLOCKED = {BLOCKED!r}\n" + RUN_VERBS
    quick = ["--in-process", "--no-profile", "--min-time", "0.02", "--min-runs", "3", "--warmup", "1"]
    argvs = [["predict", str(MODEL), str(REPO / "samples")], ["bench", str(MODEL), *quick]]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(argvs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["code"] for r in json.loads(proc.stdout)] == [0, 0]


def test_web_names_the_assets_distribution_when_only_onnx_is_there(tmp_path: Path) -> None:
    """onnx installed, edgeseq-web-assets not: the message names edgeseq[web] and the offline --ort-dist path."""
    pytest.importorskip("onnx")
    code = 'BLOCKED = ("edgeseq_web_assets",)\n' + RUN_VERBS
    argvs = [["web", str(MODEL), "-o", str(tmp_path / "w")]]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(argvs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = json.loads(proc.stdout)
    assert result["code"] == 2 and result["stderr"].count("\n") == 1
    assert "edgeseq-web-assets" in result["stderr"] and "pip install 'edgeseq[web]'" in result["stderr"]
    assert "--ort-dist DIR" in result["stderr"]
    assert not (tmp_path / "w").exists()  # refused before the folder was touched


def test_the_python_api_names_the_extra_too() -> None:
    code = "import sys\nfor n in ('torch', 'torchvision'): sys.modules[n] = None\nimport edgeseq\nedgeseq.train"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert "DependencyError: edgeseq.train needs torch; install it with: pip install 'edgeseq[train]'" in proc.stderr
