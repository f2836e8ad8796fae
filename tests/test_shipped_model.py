"""The shipped reference model: the package copy equals models/, and it is small and documented."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).parents[1]
NAMES = ("digits-rows-lstm.onnx", "digits-rows-lstm.json")
MAX_SHIPPED_BYTES = 512 * 1024  # "a few hundred KB at most" (issue 4)


def test_package_copy_equals_models_folder() -> None:
    for name in NAMES:
        assert (ROOT / "edgeseq" / "assets" / name).read_bytes() == (ROOT / "models" / name).read_bytes(), name


def test_shipped_model_is_small_and_its_manifest_matches() -> None:
    from edgeseq.fileio import sha256_file

    model = ROOT / "models" / NAMES[0]
    assert model.stat().st_size <= MAX_SHIPPED_BYTES
    manifest = json.loads((ROOT / "models" / NAMES[1]).read_text())
    assert manifest["sha256"] == sha256_file(model)
