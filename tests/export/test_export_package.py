"""The export package's import surface: old module paths still work (with a warning), profiles stay torch-free."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("old", "names", "new"),
    [
        (
            "edgeseq.export_rewrites",
            ["rewrite_for_export", "InGraphPreprocess", "WithProbabilities"],
            "edgeseq.export.rewrites",
        ),
        ("edgeseq.onnx_checks", ["frozen_axes", "unrolled_loops", "check_graph"], "edgeseq.export.verify"),
        ("edgeseq.onnx_checks", ["iter_nodes", "op_histogram", "dims", "io_specs", "rnn_nodes"], "edgeseq.graphs"),
    ],
)
def test_old_modules_warn_and_reexport_the_new_objects(monkeypatch, old, names, new):
    pytest.importorskip("torch")
    monkeypatch.delitem(sys.modules, old, raising=False)  # a module warns when it is first imported
    with pytest.warns(DeprecationWarning, match=old.replace(".", r"\.")):
        module = importlib.import_module(old)
    target = importlib.import_module(new)
    for name in names:
        assert getattr(module, name) is getattr(target, name), name


def test_public_names_resolve_from_the_packages():
    pytest.importorskip("torch")
    import edgeseq
    import edgeseq.export
    import edgeseq.parity

    for name in edgeseq.export.__all__:
        assert getattr(edgeseq.export, name) is not None, name
    for name in edgeseq.parity.__all__:
        assert getattr(edgeseq.parity, name) is not None, name
    assert edgeseq.export_onnx is edgeseq.export.export_onnx
    assert edgeseq.export_checkpoint is edgeseq.export.export_checkpoint
    assert edgeseq.ExportOptions is edgeseq.export.ExportOptions
    assert edgeseq.check_parity is edgeseq.parity.check_parity


def test_loading_a_profile_does_not_import_torch():
    code = (
        "import sys\n"
        "from edgeseq.profiles import load_profile\n"
        "import edgeseq.export\n"
        f"options = load_profile({str(REPO / 'export' / 'cpu-fp32.toml')!r}).export\n"
        "assert type(options) is edgeseq.export.ExportOptions, options\n"
        "assert 'torch' not in sys.modules and 'onnx' not in sys.modules, 'imported torch or onnx'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
