"""The README embedding example runs with torch blocked and reads a real digit correctly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from testkit import SHIPPED_MODEL, digits_uint8, run_without_torch, save_pngs

EXAMPLE = Path(__file__).with_name("readme_example.py")


def test_readme_example_runs_without_torch(tmp_path):
    if not SHIPPED_MODEL.is_file():
        pytest.skip(f"the shipped model {SHIPPED_MODEL} is not built yet")
    pixels, labels = digits_uint8()
    # a clean, typical 7 from the data set: the first 7 (any trained model reads it)
    index = int(np.flatnonzero(labels == 7)[0])
    (png,) = save_pngs(pixels[index : index + 1], tmp_path)
    proc = run_without_torch(EXAMPLE.read_text(), str(png))
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert first.split()[0] == "7"
    assert second.endswith("['7', '7']")
