"""The shipped CRNN recipe loads, and every line it generates leaves CTC enough timesteps."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeseq.config import load_config
from edgeseq.data.textlines import SyntheticTextLines

RECIPE = Path(__file__).resolve().parents[2] / "models" / "crnn-textline.toml"
SAMPLES_CHECKED = 300  # ~0.2 s of rendering; covers every length 1..10 many times


def ctc_min_frames(text: str) -> int:
    """Fewest frames a CTC alignment of ``text`` needs: one per character plus a blank between doubles."""
    return len(text) + sum(a == b for a, b in zip(text, text[1:], strict=False))


def test_recipe_loads_as_a_variable_width_ctc_model() -> None:
    cfg = load_config(RECIPE)
    assert cfg.model.head == "ctc" and cfg.model.sequencer == "columns"
    assert cfg.preprocess.resize == "height" and cfg.data.dataset == "textlines"


@pytest.mark.parametrize("split", ["train", "test"])
def test_recipe_lines_fit_ctc(split: str) -> None:
    cfg = load_config(RECIPE)
    width_reduction = 1
    for _, pw in cfg.model.backbone_args["pools"]:
        width_reduction *= pw
    lines = SyntheticTextLines(cfg, split, size=SAMPLES_CHECKED)
    for i in range(len(lines)):
        width, text = lines.width(i), lines.text(i)
        assert cfg.preprocess.min_width <= width <= cfg.preprocess.max_width
        # an impossible alignment would be silently zeroed by ctc_loss(zero_infinity=True): refuse it here
        assert width // width_reduction >= ctc_min_frames(text), (i, text, width)
