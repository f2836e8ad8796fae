"""Samples for calibration and the gate: folders preprocessed with the model's spec, arrays, splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeseq.errors import InputError
from edgeseq.optimization import OptimizeConfig, load_samples
from edgeseq.optimization.samples import SampleReader, from_arrays, load_folder, samples_from_splits, split
from edgeseq.runtime.metadata import ModelMetadata

SPEC = {
    "height": 16,
    "width": 16,
    "color": "L",
    "mean": [0.5],
    "std": [0.5],
    "resize": "height",
    "min_width": 8,
    "max_width": 64,
}


def _png(path: Path, width: int, value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, width), value, np.uint8), "L").save(path)


def test_text_line_folder_keeps_widths_and_strings(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", 32)
    _png(tmp_path / "b.png", 48)
    (tmp_path / "labels.tsv").write_text("a.png\t12\nb.png\t345\n", encoding="utf-8")
    samples = load_folder(tmp_path, ModelMetadata(task="ctc", alphabet="0123456789", preprocess=SPEC))
    assert [x.shape for x in samples.inputs] == [(1, 16, 32), (1, 16, 48)]
    assert samples.targets == ["12", "345"]
    assert [b.shape for b in samples.batches(8)] == [(1, 1, 16, 32), (1, 1, 16, 48)]  # widths never mixed
    assert samples.inputs[0].dtype == np.float32
    expected = (128 / 255 - 0.5) / 0.5
    assert float(samples.inputs[0][0, 0, 0]) == pytest.approx(expected, abs=1e-6)  # float32 rounding


def test_image_folder_labels_must_be_the_models(tmp_path: Path) -> None:
    meta = ModelMetadata(labels=["cat", "dog"], preprocess={**SPEC, "resize": "stretch"})
    _png(tmp_path / "dog" / "1.png", 20)
    _png(tmp_path / "cat" / "1.png", 20)
    samples = load_folder(tmp_path, meta)
    assert samples.targets == [0, 1] and samples.inputs[0].shape == (1, 16, 16)
    _png(tmp_path / "cow" / "1.png", 20)
    with pytest.raises(InputError, match="folder 'cow' is not one of the model's labels"):
        load_folder(tmp_path, meta)


def test_empty_or_missing_folder(tmp_path: Path) -> None:
    meta = ModelMetadata(labels=["a"], preprocess=SPEC)
    with pytest.raises(InputError, match="not a folder"):
        load_folder(tmp_path / "nope", meta)
    with pytest.raises(InputError, match="no images found"):
        load_folder(tmp_path, meta)


def test_arrays_split_and_reader() -> None:
    samples = from_arrays(np.zeros((10, 1, 4, 4), np.float32), list(range(10)))
    first, rest = split(samples, 3)
    assert len(first) == 3 and len(rest) == 7 and sorted(first.targets + rest.targets) == list(range(10))
    reader = SampleReader(first, "images")
    feeds = [reader.get_next() for _ in range(4)]
    assert feeds[-1] is None and feeds[0]["images"].shape == (1, 1, 4, 4)
    with pytest.raises(InputError, match="expected equal"):
        from_arrays(np.zeros((2, 1, 4, 4), np.float32), [1])


def test_load_samples_holds_out_what_calibration_does_not_use(tiny_lstm: Path, tmp_path: Path) -> None:
    for label in "0123":
        for i in range(3):
            _png(tmp_path / "data" / label / f"{i}.png", 16, value=40 * i)
    calib, held_out = load_samples(tiny_lstm, OptimizeConfig(calibration_samples=5), tmp_path / "data")
    assert len(calib) == 5 and len(held_out) == 7 and "not used for calibration" in held_out.source
    with pytest.raises(InputError, match="expected one source of samples"):
        load_samples(tiny_lstm, OptimizeConfig(), tmp_path / "data", checkpoint=tmp_path / "x.pt")


def test_load_samples_preprocesses_no_more_than_it_uses(tiny_lstm: Path, tmp_path: Path) -> None:
    for label in "0123":
        for i in range(5):
            _png(tmp_path / "data" / label / f"{i}.png", 16, value=20 * i)
    config = OptimizeConfig(calibration_samples=4, max_eval_samples=6)
    calib, held_out = load_samples(tiny_lstm, config, tmp_path / "data")  # 20 images, 10 usable
    assert (len(calib), len(held_out)) == (4, 6)
    calib, held_out = load_samples(tiny_lstm, config, tmp_path / "data", eval_dir=tmp_path / "data")
    assert (len(calib), len(held_out)) == (4, 6)


def test_samples_from_splits_converts_targets() -> None:
    import types

    x = np.zeros((1, 16, 20), np.float32)
    splits = types.SimpleNamespace(train=[(x, "1")] * 6, test=[(x, "12"), (x, np.array([2, 0, 3]))])
    meta = ModelMetadata(task="ctc", alphabet="0123456789")
    calib, test = samples_from_splits(splits, meta, calibration_samples=4)
    assert len(calib) == 4 and test.targets == ["12", "12"]  # encoded targets decoded: class i+1 is alphabet[i]
