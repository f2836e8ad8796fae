"""Datasets: the bundled digits, image folders, deterministic splits, one preprocessing definition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeseq.config import load_config
from edgeseq.data import build_datasets
from edgeseq.data.digits import load_digits_uint8
from edgeseq.data.splits import split_indices
from edgeseq.errors import InputError
from edgeseq.runtime.preprocess import preprocess_image


def test_split_is_deterministic_disjoint_and_stratified() -> None:
    labels = [i % 3 for i in range(300)]
    a = split_indices(300, 0.1, 0.2, seed=7, stratify=labels)
    assert a == split_indices(300, 0.1, 0.2, seed=7, stratify=labels)
    assert a != split_indices(300, 0.1, 0.2, seed=8, stratify=labels)
    train, val, test = map(set, a)
    assert not (train & val or train & test or val & test) and len(train | val | test) == 300
    assert {labels[i] for i in test} == {0, 1, 2} and len(test) == 60


def test_digits_splits_cover_all_classes() -> None:
    cfg = load_config("models/digits-rows-lstm.toml")
    splits = build_datasets(cfg)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1259, 179, 359)
    image, target = splits.test[0]
    assert tuple(image.shape) == (1, 32, 32) and image.dtype.is_floating_point
    assert splits.labels == [str(d) for d in range(10)] and splits.num_outputs == 10
    assert {splits.test[i][1] for i in range(len(splits.test))} == set(range(10))


def test_dataset_tensor_equals_runtime_preprocessing_of_the_same_pixels() -> None:
    """Training and runtime share one preprocessing implementation: exact equality."""
    cfg = load_config("models/digits-rows-lstm.toml")
    splits = build_datasets(cfg)
    pixels, _ = load_digits_uint8()
    index = splits.test.indices[5]
    np.testing.assert_array_equal(
        splits.test.dataset[index][0].numpy(), preprocess_image(pixels[index], cfg.preprocess)
    )


def _write_folder(root: Path, classes: dict[str, int]) -> None:
    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(root / name / f"{i}.png")


def test_image_folder_dataset(tmp_path: Path) -> None:
    _write_folder(tmp_path, {"cat": 10, "dog": 10})
    cfg = load_config(None, ["data.dataset='folder'", f"data.root='{tmp_path}'", "preprocess.color='RGB'"])
    splits = build_datasets(cfg)
    assert splits.labels == ["cat", "dog"]
    assert len(splits.train) + len(splits.val) + len(splits.test) == 20
    image, target = splits.train[0]
    assert tuple(image.shape) == (3, 32, 32) and target in (0, 1)


@pytest.mark.parametrize(
    ("layout", "match"),
    [({}, "no class subfolders"), ({"empty": 0}, "has no images")],
)
def test_image_folder_errors(tmp_path: Path, layout: dict[str, int], match: str) -> None:
    for name in layout:
        (tmp_path / name).mkdir()
    cfg = load_config(None, ["data.dataset='folder'", f"data.root='{tmp_path}'"])
    with pytest.raises(InputError, match=match):
        build_datasets(cfg)


def test_random_shift_translates_training_images_only() -> None:
    import torch

    from edgeseq.data.images import RandomShift

    cfg = load_config("models/digits-rows-lstm.toml", ["data.augment_shift=2"])
    splits = build_datasets(cfg)
    assert isinstance(splits.train, RandomShift) and not isinstance(splits.test, RandomShift)
    image = torch.arange(16.0).reshape(1, 4, 4)
    torch.manual_seed(0)
    shifted = [RandomShift([(image, 3)], 1)[0] for _ in range(20)]
    assert all(t == 3 and tuple(x.shape) == (1, 4, 4) for x, t in shifted)
    assert any(not torch.equal(x, image) for x, _ in shifted)
    # a translation: the centre of the original appears somewhere in each shifted image unchanged
    for x, _ in shifted:
        assert any(torch.equal(x[:, i : i + 2, j : j + 2], image[:, 1:3, 1:3]) for i in range(3) for j in range(3))
