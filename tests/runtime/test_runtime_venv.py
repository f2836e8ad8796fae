"""The base install (no extras, so no torch) in a fresh virtualenv is enough for `edgeseq predict`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from testkit import REPO, SHIPPED_MODEL, digits_uint8, save_pngs

pytestmark = pytest.mark.slow

INSTALL_TIMEOUT_S = 600  # pip resolves numpy/onnxruntime/pillow from the configured index or wheel cache
PACKAGED_MODEL = REPO / "edgeseq" / "assets" / SHIPPED_MODEL.name


def _copy_source(dest):
    """Copy what a source distribution holds, so pip's in-tree build leaves the checkout untouched."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "setup.cfg"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "edgeseq", dest / "edgeseq", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def test_fresh_venv_base_install_runs_predict(tmp_path, tiny_classifier):
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=120)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(_copy_source(tmp_path / "src"))],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        env=clean_env,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    no_torch = subprocess.run([str(python), "-c", "import torch"], capture_output=True, env=clean_env, cwd=tmp_path)
    assert no_torch.returncode != 0, "the base install pulled in torch"

    pixels, labels = digits_uint8()
    sevens = np.flatnonzero(labels == 7)[:3]
    pngs = save_pngs(pixels[sevens], tmp_path / "pngs")
    model = SHIPPED_MODEL if SHIPPED_MODEL.is_file() else tiny_classifier.onnx
    proc = subprocess.run(
        [str(bindir / "edgeseq"), "predict", str(model), str(tmp_path / "pngs"), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env,
        cwd=tmp_path,  # not the checkout: the installed package must be the one that runs
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["file"] for r in records] == [str(p) for p in pngs]
    if model == SHIPPED_MODEL:
        assert sum(r["label"] == "7" for r in records) >= 2  # a trained model reads typical 7s

    if PACKAGED_MODEL.is_file():  # shipped as package data: usable right after `pip install edgeseq`
        where = subprocess.run(
            [str(python), "-c", "from edgeseq.runtime import reference_model; print(reference_model())"],
            capture_output=True,
            text=True,
            env=clean_env,
            cwd=tmp_path,
        )
        assert where.returncode == 0 and str(env_dir) in where.stdout, where.stderr
