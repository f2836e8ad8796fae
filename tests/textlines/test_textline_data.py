"""Synthetic line generator, labels-file loader, collate and width batching."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image

from edgeseq.config import DataConfig, ExperimentConfig, ModelConfig, PreprocessConfig
from edgeseq.data.textlines import (
    LineFolder,
    SyntheticTextLines,
    background_value,
    collate_textlines,
    equal_width_batches,
    font_sources,
    make_textline_collate,
    random_text,
    read_line_labels,
    render_line,
    system_fonts,
    text_splits,
    textline_split_sizes,
)
from edgeseq.errors import ConfigError, InputError
from edgeseq.runtime.preprocess import preprocess_image


def line_cfg(**data: object) -> ExperimentConfig:
    base = {"dataset": "textlines", "num_samples": 60}
    base.update(data)
    return ExperimentConfig(
        model=ModelConfig(sequencer="columns", head="ctc"),
        data=DataConfig(**base),
        preprocess=PreprocessConfig(height=32, resize="height", invert=True, min_width=8, max_width=400),
    )


@pytest.mark.parametrize("make_rng", [random.Random, np.random.default_rng])
def test_render_is_deterministic_by_seed(make_rng) -> None:
    cfg = DataConfig(dataset="textlines")
    a = np.asarray(render_line("0123456789", make_rng(7), cfg, 32))
    b = np.asarray(render_line("0123456789", make_rng(7), cfg, 32))
    c = np.asarray(render_line("0123456789", make_rng(8), cfg, 32))
    assert a.shape[0] == 32
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_render_draws_ink_and_blank_lines_have_none() -> None:
    cfg = DataConfig(dataset="textlines")
    gen = np.random.default_rng(0)
    text = np.asarray(render_line("888", gen, cfg, 32), dtype=np.float32)
    blank = np.asarray(render_line("", np.random.default_rng(0), cfg, 32), dtype=np.float32)
    # ink is at least INK_CONTRAST[0] = 110 grey levels below the paper; noise sigma is at most 12
    assert np.median(text) - text.min() > 60
    assert np.median(blank) - np.percentile(blank, 1) < 40


def test_render_rejects_bad_height() -> None:
    with pytest.raises(InputError, match="height"):
        render_line("1", random.Random(0), DataConfig(dataset="textlines"), 0)


def test_random_text_respects_alphabet_lengths_and_edge_spaces() -> None:
    cfg = DataConfig(dataset="textlines", alphabet="ab ", min_chars=2, max_chars=5)
    gen = np.random.default_rng(0)
    texts = [random_text(gen, cfg) for _ in range(300)]
    assert all(2 <= len(t) <= 5 and set(t) <= set("ab ") for t in texts)
    assert all(t[0] != " " and t[-1] != " " for t in texts)
    assert any(" " in t for t in texts)


def test_synthetic_dataset_same_index_same_sample_and_items_match_runtime_preprocessing() -> None:
    cfg = line_cfg()
    first, second = SyntheticTextLines(cfg, "train"), SyntheticTextLines(cfg, "train")
    image, text = second[5]  # read out of order: per-index seeds do not depend on access order
    again, text_again = first[5]
    assert text == text_again and torch.equal(image, again)
    assert image.dtype == torch.float32 and image.shape[:2] == (1, 32)
    gen = np.random.default_rng(np.random.SeedSequence([cfg.data.split_seed, 0, 5]))
    expected_text = random_text(gen, cfg.data)
    expected = preprocess_image(render_line(expected_text, gen, cfg.data, 32), cfg.preprocess)
    assert text == expected_text
    assert np.array_equal(image.numpy(), expected)


def test_splits_have_sizes_from_fractions_and_differ() -> None:
    cfg = line_cfg(num_samples=50, val_fraction=0.1, test_fraction=0.2)
    train, val, test, alphabet = text_splits(cfg)
    assert (len(train), len(val), len(test)) == (35, 5, 10)
    assert textline_split_sizes(cfg.data) == {"train": 35, "val": 5, "test": 10}
    assert alphabet == "0123456789"
    # different streams per split: the first images differ
    assert not torch.equal(train[0][0], test[0][0]) or train[0][1] != test[0][1]
    other_seed = SyntheticTextLines(line_cfg(split_seed=1), "train", size=3)
    assert [other_seed.text(i) for i in range(3)] != [train.text(i) for i in range(3)]


# ---------------------------------------------------------------------------------------------
# labels-file loader


def write_folder(root, labels: str, images=("a.png", "b.png")) -> None:
    root.mkdir(exist_ok=True)
    for name in images:
        Image.new("L", (40, 16), 255).save(root / name)
    (root / "labels.tsv").write_text(labels, encoding="utf-8")


def test_line_folder_reads_good_file(tmp_path) -> None:
    write_folder(tmp_path, "a.png\t123\n\nb.png\t4 5\r\n")
    entries = read_line_labels(tmp_path, "labels.tsv", "0123456789 ")
    assert [(e.path.name, e.text) for e in entries] == [("a.png", "123"), ("b.png", "4 5")]
    ds = LineFolder(entries, PreprocessConfig(height=32, resize="height", invert=True))
    image, text = ds[0]
    assert text == "123" and image.shape == (1, 32, 80)  # 40x16 scaled to height 32
    assert ds.width(0) == 80


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ("a.png 123\n", r"labels.tsv:1: .*expected 'filename<TAB>text'"),
        ("a.png\t1\n\t2\n", r"labels.tsv:2: empty file name"),
        ("a.png\t1\nmissing.png\t2\n", r"labels.tsv:2: image .*missing.png' not found"),
        ("a.png\t12x\n", r"labels.tsv:1: .*'x' outside data.alphabet"),
        ("../a.png\t1\n", r"labels.tsv:1: .*leaves data.root"),
        ("\n\n", r"has no lines"),
    ],
)
def test_line_folder_rejects_bad_labels(tmp_path, labels: str, match: str) -> None:
    write_folder(tmp_path / "data", labels)
    with pytest.raises(InputError, match=match):
        read_line_labels(tmp_path / "data", "labels.tsv", "0123456789")


def test_line_folder_missing_folder_file_and_bad_encoding(tmp_path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        read_line_labels(tmp_path / "nope", "labels.tsv", "01")
    with pytest.raises(InputError, match="labels file .* not found"):
        read_line_labels(tmp_path, "labels.tsv", "01")
    (tmp_path / "labels.tsv").write_bytes(b"a.png\t\xff\xfe\n")
    with pytest.raises(InputError, match="not UTF-8"):
        read_line_labels(tmp_path, "labels.tsv", "01")


def test_lines_dataset_split_is_deterministic(tmp_path) -> None:
    names = [f"{i}.png" for i in range(20)]
    write_folder(tmp_path, "".join(f"{n}\t{i}\n" for i, n in enumerate(names)), names)
    cfg = ExperimentConfig(
        model=ModelConfig(sequencer="columns", head="ctc"),
        data=DataConfig(
            dataset="lines", root=str(tmp_path), val_fraction=0.1, test_fraction=0.2, alphabet="0123456789"
        ),
        preprocess=PreprocessConfig(resize="height", invert=True),
    )
    a, b = text_splits(cfg), text_splits(cfg)
    for part_a, part_b in zip(a[:3], b[:3], strict=True):
        assert [part_a.text(i) for i in range(len(part_a))] == [part_b.text(i) for i in range(len(part_b))]
    assert [len(p) for p in a[:3]] == [14, 2, 4]
    every = sorted(p.text(i) for p in a[:3] for i in range(len(p)))
    assert every == sorted(str(i) for i in range(20))


# ---------------------------------------------------------------------------------------------
# batching


def test_collate_pads_right_with_background_value() -> None:
    spec = PreprocessConfig(height=4, resize="height", invert=True, mean=[0.5], std=[0.5])
    assert background_value(spec) == [-1.0]  # white paper -> inverted 0 -> (0 - 0.5) / 0.5
    items = [(torch.full((1, 4, w), float(w)), str(w)) for w in (3, 7, 5)]
    images, texts, widths = make_textline_collate(spec)(items)
    assert images.shape == (3, 1, 4, 7) and texts == ["3", "7", "5"]
    assert widths.dtype == torch.long and widths.tolist() == [3, 7, 5]
    for i, (img, _) in enumerate(items):
        w = img.shape[2]
        assert torch.equal(images[i, :, :, :w], img)
        assert torch.all(images[i, :, :, w:] == -1.0)


def test_collate_default_repeats_the_last_column_and_checks_shapes() -> None:
    img = torch.arange(6, dtype=torch.float32).reshape(1, 2, 3)
    images, _, _ = collate_textlines([(img, "a"), (torch.zeros(1, 2, 5), "b")])
    assert torch.equal(images[0, :, :, 3:], img[:, :, 2:3].expand(1, 2, 2))
    with pytest.raises(InputError, match="expected \\(1, 2, W\\)"):
        collate_textlines([(img, "a"), (torch.zeros(1, 3, 5), "b")])
    with pytest.raises(InputError, match="empty batch"):
        collate_textlines([])


def test_equal_width_batches() -> None:
    assert equal_width_batches([5, 3, 5, 5, 3], 2) == [[1, 4], [0, 2], [3]]
    with pytest.raises(InputError, match="batch_size"):
        equal_width_batches([1], 0)


def test_fonts_select_builtin_and_installed_files_and_refuse_unknown_patterns() -> None:
    assert font_sources(("builtin",)) == (None,)
    installed = system_fonts()
    if installed:
        name = installed[0].rsplit("/", 1)[-1]
        assert font_sources(("builtin", name)) == (None, installed[0])
    with pytest.raises(ConfigError, match="data.fonts: 'NoSuchFont-\\*.ttf' matches no font"):
        font_sources(("NoSuchFont-*.ttf",))
    with pytest.raises(ConfigError, match="data.fonts"):
        DataConfig(fonts=[])
