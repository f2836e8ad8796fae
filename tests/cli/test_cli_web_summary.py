"""`edgeseq web` prints what it wrote, the runtime, its warnings and how to open the page; JSON only with --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeseq.cli import web_cmd
from edgeseq.web import build as build_module
from edgeseq.web.ortweb import assets_dir

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "digits-rows-lstm.onnx"

pytestmark = pytest.mark.skipif(assets_dir() is None, reason="edgeseq-web-assets is not installed")


def _web(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "edgeseq", "web", str(MODEL), *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_summary_names_the_page_the_warning_and_how_to_open_it(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    proc = _web("-o", "site", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("wrote site: a classification page for digits-rows-lstm.onnx, ")
    assert lines[1] == "runtime: onnxruntime-web 1.30.0 (WebGPU, else WebAssembly)"
    # the digits model's LSTM has no WebGPU kernel: the fallback is said on its own line, not buried in JSON
    assert any(line.startswith("warning: on WebGPU these operators run on the WebAssembly provider") for line in lines)
    index = (tmp_path / "site" / "index.html").resolve().as_uri()
    assert lines[-1] == f"open it: {index} (works from disk), or serve it with --serve"
    assert not proc.stdout.lstrip().startswith("{")


def test_no_embed_says_the_page_must_be_served(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    proc = _web("-o", "site", "--backend", "wasm", "--no-embed", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "cannot load from disk" in proc.stdout and "--serve" in proc.stdout and "warning" not in proc.stdout


def test_json_prints_the_record_only(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    proc = _web("-o", "site", "--backend", "wasm", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["backend"] == "wasm" and "page-data.js" in record["files"]


def test_the_cli_and_the_builder_agree_on_the_embedded_file_name() -> None:
    assert web_cmd.PAGE_DATA == build_module.PAGE_DATA
