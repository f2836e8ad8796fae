"""The shipped sample images are read right by the shipped models, and the input conventions hold on them.

The conventions the README and `edgeseq predict --help` state are checked here on the samples:
inverting the ink polarity, or framing a line so its glyphs fill the image, changes the answer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from edgeseq.runtime import Predictor

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
DIGITS = REPO / "models" / "digits-rows-lstm.onnx"
LINES = REPO / "models" / "crnn-textline.onnx"
MAX_SAMPLE_BYTES = 5_000  # small enough for the repository and the sdist


def test_samples_are_small_and_documented() -> None:
    images = sorted(SAMPLES.glob("*.png"))
    assert [p.name for p in images] == ["digit-3.png", "digit-7.png", "line-2024.png", "line-3141592653.png"]
    assert all(p.stat().st_size <= MAX_SAMPLE_BYTES for p in images)
    listed = (SAMPLES / "README.md").read_text()
    assert all(p.name in listed for p in images)


@pytest.mark.parametrize(("name", "label"), [("digit-7.png", "7"), ("digit-3.png", "3")])
def test_digit_scans_are_classified_and_polarity_matters(name: str, label: str) -> None:
    predictor = Predictor(DIGITS)
    image = Image.open(SAMPLES / name)
    assert image.size == (8, 8)  # the real scans, at the size the data set has them
    result = predictor.predict(image)
    assert result.label == label and result.score > 0.9
    assert predictor.predict(ImageOps.invert(image)).label != label  # dark ink on light paper is misread


@pytest.mark.parametrize(("name", "text"), [("line-3141592653.png", "3141592653"), ("line-2024.png", "2024")])
def test_text_lines_are_read_and_framing_matters(name: str, text: str) -> None:
    predictor = Predictor(LINES)
    image = Image.open(SAMPLES / name)
    assert predictor.predict(image).text == text
    assert predictor.predict(ImageOps.invert(image)).text != text  # light ink on dark paper is misread
    # glyphs filling ~90 % of the height (cropped tight) instead of ~50 %: outside what the model was trained on
    tight = image.crop((0, image.height // 4 - 2, image.width, image.height - image.height // 4 + 2))
    assert predictor.predict(tight).text != text


def test_predict_help_states_the_input_conventions() -> None:
    proc = subprocess.run([sys.executable, "-m", "edgeseq", "predict", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "light ink on a dark background" in proc.stdout and "dark ink on light paper" in proc.stdout
    assert "35-55 % of the image height" in proc.stdout


def test_readme_uses_only_files_the_repository_has() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "digit.png" not in readme
    for name in ("samples/digit-7.png", "samples/line-3141592653.png"):
        assert name in readme and (REPO / name).is_file()
