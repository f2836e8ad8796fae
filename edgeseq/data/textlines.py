"""Text-line data for CTC models: a synthetic line renderer, a real line-folder loader, and batching.

* :func:`render_line` draws a string with Pillow (its built-in scalable font and the system's TrueType
  fonts), with random spacing, contrast, rotation, blur, noise and margins; deterministic by seed.
* :class:`SyntheticTextLines` is a dataset of rendered lines; index ``i`` of a split always gives the
  same image and text (per-index seeds), so splits are reproducible and disjoint by construction.
* :class:`LineFolder` reads real lines: a folder of images plus a labels file of ``filename<TAB>text``.
* :func:`collate_textlines` pads a batch of variable-width images on the right.

Images are dark text on light paper; the recipe sets ``preprocess.invert = true`` so the paper
becomes 0 after inversion. Every image goes through :func:`edgeseq.runtime.preprocess.preprocess_image`
(here split into ``to_pixels`` + ``normalize``, which is the same function), as at run time.
"""

from __future__ import annotations

import fnmatch
import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from torch.utils.data import Dataset

from edgeseq.config import DataConfig, ExperimentConfig, PreprocessConfig
from edgeseq.data.splits import split_indices
from edgeseq.errors import ConfigError, InputError
from edgeseq.runtime.preprocess import load_image, normalize, spec_dict, target_size, to_pixels

# Where system fonts are looked for; listed recursively and sorted, so the font list (and with it
# every rendered pixel) is the same for the same seed on machines with the same fonts installed.
FONT_DIRS = ("/usr/share/fonts",)
FONT_SUFFIXES = (".ttf", ".otf")
SPLITS = ("train", "val", "test")
PAPER = 255  # the background pixel value of rendered lines (before contrast jitter) and of padding

# Rendering ranges: chosen by eye so that lines look like scanned/photographed print, stay readable
# at height 32, and each character spans >= 2 output columns of a width/4 CNN (CTC needs a frame per
# character plus a blank between doubled characters).
FONT_SIZE_JITTER = 0.15  # font size varies by ±15 % around data.font_size
SPACING_RANGE = (-1.0, 4.0)  # extra pixels between characters, at the rendering font size
MARGIN_X = (2, 16)  # left/right margin in pixels, at the rendering font size
MARGIN_Y = (1, 6)  # top/bottom margin
PAPER_RANGE = (170, 255)  # background grey level
INK_CONTRAST = (110, 230)  # paper minus ink grey level
MAX_ROTATION_DEG = 2.0
BLUR_PROBABILITY = 0.5
MAX_BLUR_RADIUS = 1.0
MAX_NOISE_SIGMA = 12.0


# ---------------------------------------------------------------------------------------------
# rendering


def system_fonts(dirs: Sequence[str] = FONT_DIRS) -> list[str]:
    """TrueType/OpenType font files under ``dirs``, sorted (deterministic order)."""
    found: list[str] = []
    for folder in dirs:
        root = Path(folder)
        if root.is_dir():
            found += [str(p) for p in root.rglob("*") if p.suffix.lower() in FONT_SUFFIXES and p.is_file()]
    return sorted(found)


@functools.lru_cache(maxsize=16)
def font_sources(patterns: tuple[str, ...]) -> tuple[str | None, ...]:
    """The fonts ``data.fonts`` selects: ``None`` for "builtin", then the system fonts whose file names match.

    Raises:
        ConfigError: a pattern matches no installed font (it would silently shrink the font set).
    """
    files = system_fonts()
    sources: list[str | None] = []
    for pattern in patterns:
        if pattern == "builtin":
            sources.append(None)  # Pillow's built-in scalable font (Pillow >= 10.1), always available
            continue
        matched = [f for f in files if fnmatch.fnmatch(Path(f).name, pattern)]
        if not matched:
            raise ConfigError(
                f"data.fonts: {pattern!r} matches no font under {', '.join(FONT_DIRS)}; "
                "expected an installed font's file name pattern (or 'builtin')"
            )
        sources += [f for f in matched if f not in sources]
    return tuple(sources)


@functools.lru_cache(maxsize=512)
def _font(source: str | None, size: int) -> ImageFont.FreeTypeFont:
    if source is None:
        # Given a size, Pillow (>= 10.1, built with FreeType as its wheels are) returns its scalable font.
        return cast(ImageFont.FreeTypeFont, ImageFont.load_default(size=size))
    return ImageFont.truetype(source, size=size)


def _as_generator(rng: random.Random | np.random.Generator) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, random.Random):
        return np.random.default_rng(rng.getrandbits(64))
    raise InputError(f"rng: got {type(rng).__name__}; expected random.Random or numpy.random.Generator")


def random_text(rng: random.Random | np.random.Generator, cfg: DataConfig) -> str:
    """A random string of ``min_chars..max_chars`` characters drawn uniformly from ``cfg.alphabet``.

    A space is never drawn first or last: leading/trailing spaces are invisible, so no model could read them.
    """
    gen = _as_generator(rng)
    length = int(gen.integers(cfg.min_chars, cfg.max_chars + 1))
    chars = [cfg.alphabet[i] for i in gen.integers(0, len(cfg.alphabet), size=length)]
    visible = [c for c in cfg.alphabet if not c.isspace()]
    if visible:
        for end in (0, -1):
            if chars[end].isspace():
                chars[end] = visible[int(gen.integers(0, len(visible)))]
    return "".join(chars)


def render_line(text: str, rng: random.Random | np.random.Generator, cfg: DataConfig, height: int) -> Image.Image:
    """Render ``text`` as a grayscale ("L") line image ``height`` pixels high, dark ink on light paper.

    Random font (Pillow's built-in or a system font), size, character spacing, margins, contrast,
    rotation (±2°), blur and Gaussian noise, all drawn from ``rng``: the same rng state and font set
    give identical pixels. The width follows the text (aspect ratio kept when scaling to ``height``).

    Args:
        text: the characters to draw (may be empty: a blank line).
        rng: the randomness source; a ``random.Random`` is turned into a numpy generator.
        cfg: data settings (``font_size``).
        height: output height in pixels.

    Raises:
        InputError: a non-positive height or an unsupported rng.
    """
    if isinstance(height, bool) or not isinstance(height, int) or height < 1:
        raise InputError(f"height: got {height!r}; expected a positive integer")
    gen = _as_generator(rng)
    sources = font_sources(tuple(cfg.fonts))
    source = sources[int(gen.integers(0, len(sources)))]
    size = max(6, round(cfg.font_size * gen.uniform(1 - FONT_SIZE_JITTER, 1 + FONT_SIZE_JITTER)))
    font = _font(source, size)
    ascent, descent = font.getmetrics()
    advances = [font.getlength(ch) for ch in text]
    gaps = gen.uniform(*SPACING_RANGE, size=max(len(text) - 1, 0)) * size / 24.0
    left, right = (int(v) for v in gen.integers(MARGIN_X[0], MARGIN_X[1] + 1, size=2))
    top, bottom = (int(v) for v in gen.integers(MARGIN_Y[0], MARGIN_Y[1] + 1, size=2))
    width = left + right + int(np.ceil(sum(advances) + float(np.sum(gaps)))) + 1
    paper = int(gen.integers(PAPER_RANGE[0], PAPER_RANGE[1] + 1))
    ink = max(0, paper - int(gen.integers(INK_CONTRAST[0], INK_CONTRAST[1] + 1)))

    image = Image.new("L", (max(width, 1), top + ascent + descent + bottom), color=paper)
    draw = ImageDraw.Draw(image)
    x = float(left)
    for i, ch in enumerate(text):
        draw.text((x, top), ch, fill=ink, font=font)
        x += advances[i] + (gaps[i] if i < len(gaps) else 0.0)

    angle = float(gen.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))
    image = image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=paper)
    # always draw the blur decision and radius, so the stream of random numbers does not depend on it
    blur, radius = gen.random() < BLUR_PROBABILITY, float(gen.uniform(0.0, MAX_BLUR_RADIUS))
    if blur and radius > 0:
        image = image.filter(ImageFilter.GaussianBlur(radius))
    out_width = max(1, round(image.width * height / image.height))
    image = image.resize((out_width, height), Image.Resampling.BILINEAR)
    sigma = float(gen.uniform(0.0, MAX_NOISE_SIGMA))
    noisy = np.asarray(image, dtype=np.float32) + gen.normal(0.0, sigma, size=(height, out_width))
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8), mode="L")


# ---------------------------------------------------------------------------------------------
# datasets


def _check_split(split: str) -> int:
    if split not in SPLITS:
        raise InputError(f"split: got {split!r}; expected one of {', '.join(SPLITS)}")
    return SPLITS.index(split)


def textline_split_sizes(data: DataConfig) -> dict[str, int]:
    """How many synthetic lines each split gets: ``num_samples`` × the val/test fractions, the rest for train."""
    n_test = int(round(data.num_samples * data.test_fraction))
    n_val = int(round(data.num_samples * data.val_fraction))
    return {"train": data.num_samples - n_val - n_test, "val": n_val, "test": n_test}


class SyntheticTextLines(Dataset):
    """Rendered text lines; items are ``(image float32 tensor (C, H, W_i), text)``.

    Sample ``index`` of ``split`` is drawn from ``SeedSequence([seed, split, index])``: it is the same
    whatever order items are read in, and the three splits use disjoint random streams. Pixels are
    rendered on first access and kept (uint8, after resizing), so later epochs cost no rendering.

    Args:
        cfg: the recipe (``data`` for the generator, ``preprocess`` for the model input).
        split: "train", "val" or "test".
        size: number of lines (default: this split's share of ``data.num_samples``).
        seed: base seed (default: ``data.split_seed``).
    """

    def __init__(self, cfg: ExperimentConfig, split: str, size: int | None = None, seed: int | None = None) -> None:
        self.data = cfg.data
        self.preprocess = spec_dict(cfg.preprocess)
        self.split = split
        self._split_code = _check_split(split)
        self.size = textline_split_sizes(cfg.data)[split] if size is None else int(size)
        if self.size < 0:
            raise InputError(f"size: got {size!r}; expected a non-negative number of lines")
        self.seed = cfg.data.split_seed if seed is None else int(seed)
        self._pixels: list[np.ndarray | None] = [None] * self.size
        self._texts: list[str | None] = [None] * self.size

    def __len__(self) -> int:
        return self.size

    def _generate(self, index: int) -> None:
        gen = np.random.default_rng(np.random.SeedSequence([self.seed, self._split_code, index]))
        text = random_text(gen, self.data)
        image = render_line(text, gen, self.data, int(self.preprocess["height"]))
        self._pixels[index] = to_pixels(image, self.preprocess)
        self._texts[index] = text

    def sample(self, index: int) -> tuple[np.ndarray, str]:
        """The preprocessed uint8 pixels (H, W[, 3]) and text of line ``index``."""
        if not -self.size <= index < self.size:
            raise IndexError(f"line {index} out of range for {self.size} lines")
        index %= self.size
        if self._pixels[index] is None:
            self._generate(index)
        return self._pixels[index], self._texts[index]  # type: ignore[return-value]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        pixels, text = self.sample(index)
        return torch.from_numpy(normalize(pixels, self.preprocess)), text

    def text(self, index: int) -> str:
        """The label of line ``index``."""
        return self.sample(index)[1]

    def width(self, index: int) -> int:
        """The model-input width of line ``index`` (renders it if needed)."""
        return int(self.sample(index)[0].shape[1])


@dataclass(frozen=True)
class LineEntry:
    """One labelled line: the image path and its text."""

    path: Path
    text: str


def read_line_labels(root: str | Path, labels_file: str | Path, alphabet: str) -> list[LineEntry]:
    """Parse a labels file of ``filename<TAB>text`` lines (UTF-8) relative to ``root``.

    Blank lines are skipped; the text is everything after the first tab, kept exactly (only the line
    ending is removed). File names must stay inside ``root``.

    Raises:
        InputError: missing folder/labels file/image, a line without a tab or file name, a file name
            leaving ``root``, text with characters outside ``alphabet``, non-UTF-8 text, no lines at all.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"data.root {str(root)!r} is not a folder; expected a folder of line images")
    labels_path = root / labels_file
    if not labels_path.is_file():
        raise InputError(f"labels file {str(labels_path)!r} not found; expected one 'filename<TAB>text' per line")
    try:
        lines = labels_path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"labels file {str(labels_path)!r} is not UTF-8 text: {exc}") from None
    real_root = root.resolve()
    allowed = set(alphabet)
    entries: list[LineEntry] = []
    for number, line in enumerate(lines, start=1):
        where = f"{labels_path}:{number}"
        if not line.strip():
            continue
        if "\t" not in line:
            raise InputError(f"{where}: got {line[:60]!r}; expected 'filename<TAB>text'")
        name, text = line.split("\t", 1)
        if not name.strip():
            raise InputError(f"{where}: empty file name; expected 'filename<TAB>text'")
        path = root / name
        if Path(name).is_absolute() or not path.resolve().is_relative_to(real_root):
            raise InputError(f"{where}: file name {name!r} leaves data.root; expected a path inside {str(root)!r}")
        if not path.is_file():
            raise InputError(f"{where}: image {str(path)!r} not found")
        unknown = sorted(set(text) - allowed)
        if unknown:
            raise InputError(
                f"{where}: text {text!r} has characters {''.join(unknown)!r} outside data.alphabet {alphabet!r}; "
                "expected only alphabet characters (add them to data.alphabet)"
            )
        entries.append(LineEntry(path, text))
    if not entries:
        raise InputError(f"labels file {str(labels_path)!r} has no lines; expected 'filename<TAB>text' lines")
    return entries


class LineFolder(Dataset):
    """Real line images listed in a labels file; items are ``(image float32 tensor (C, H, W_i), text)``.

    Images are decoded and preprocessed on access (real data can be large).

    Args:
        entries: the lines, from :func:`read_line_labels`.
        preprocess: the preprocessing spec (a PreprocessConfig or its dict).
    """

    def __init__(self, entries: Sequence[LineEntry], preprocess: PreprocessConfig | dict[str, Any]) -> None:
        self.entries = list(entries)
        self.preprocess = spec_dict(preprocess)

    @classmethod
    def from_folder(
        cls, root: str | Path, labels_file: str | Path, alphabet: str, preprocess: PreprocessConfig | dict[str, Any]
    ) -> LineFolder:
        """Read ``root/labels_file`` (see :func:`read_line_labels`) into a dataset."""
        return cls(read_line_labels(root, labels_file, alphabet), preprocess)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        entry = self.entries[index]
        pixels = to_pixels(load_image(entry.path), self.preprocess)
        return torch.from_numpy(normalize(pixels, self.preprocess)), entry.text

    def text(self, index: int) -> str:
        """The label of line ``index``."""
        return self.entries[index].text

    def width(self, index: int) -> int:
        """The model-input width of line ``index`` (reads only the image header)."""
        with Image.open(self.entries[index].path) as img:
            return target_size(img.size, self.preprocess)[0]


def text_splits(cfg: ExperimentConfig) -> tuple[Dataset, Dataset, Dataset, str]:
    """Train/val/test datasets and the alphabet for ``data.dataset`` "textlines" or "lines".

    "textlines": three :class:`SyntheticTextLines` with disjoint random streams, sizes from
    ``num_samples`` × fractions. "lines": one labels file split by ``split_seed`` and the fractions.

    Raises:
        InputError: for "lines", a bad labels file (see :func:`read_line_labels`).
        ConfigError: another dataset kind.
    """
    data = cfg.data
    if data.dataset == "textlines":
        train, val, test = (SyntheticTextLines(cfg, split) for split in SPLITS)
        return train, val, test, data.alphabet
    if data.dataset == "lines":
        root = cast(str, data.root)  # DataConfig requires data.root for "lines"
        entries = read_line_labels(root, data.labels_file, data.alphabet)
        parts = split_indices(len(entries), data.val_fraction, data.test_fraction, data.split_seed)
        folders = [LineFolder([entries[i] for i in part], cfg.preprocess) for part in parts]
        return folders[0], folders[1], folders[2], data.alphabet
    raise ConfigError(f"text_splits: got data.dataset={data.dataset!r}; expected 'textlines' or 'lines'")


# ---------------------------------------------------------------------------------------------
# batching


def background_value(preprocess: PreprocessConfig | dict[str, Any]) -> list[float]:
    """The normalised value of a blank-paper pixel (255 in every channel), one per channel."""
    spec = spec_dict(preprocess)
    channels = 1 if spec.get("color", "L") == "L" else 3
    paper = np.full((1, 1, channels), PAPER, dtype=np.uint8)
    return normalize(paper, spec).reshape(-1).tolist()


def collate_textlines(
    items: Sequence[tuple[torch.Tensor, str]], pad_value: float | Sequence[float] | None = None
) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """Stack variable-width lines into ``(images (B, C, H, W_max), texts, widths (B,) int64)``.

    Each image sits at the left; columns ``widths[i]:`` are padding. With ``pad_value=None`` (the
    default, used by ``build_datasets``) each image's own right-most column is repeated: the padding
    continues the line's real right margin (same paper grey, same noise level). With ``pad_value`` (a
    float, or one per channel, e.g. :func:`background_value`) the padding is that constant.

    Padding changes what a bidirectional RNN sees, so train and evaluate with the same padding and
    decode only each sample's valid frames (``ctc_greedy_batch(..., lengths=...)``). Measured on the
    trained ``crnn-textline`` recipe (trained with the default): edge-padded batches of 128 decoded
    0 of 1200 test lines differently from unpadded single-width runs, while constant pure-white padding
    changed 130 of them (CER 0.05 % -> 2 %). Equal-width batches (:func:`equal_width_batches`) avoid
    padding altogether.

    Raises:
        InputError: an empty batch, or images differing in channels or height.
    """
    if not items:
        raise InputError("collate_textlines: got an empty batch; expected at least one (image, text) item")
    images = [img for img, _ in items]
    texts = [text for _, text in items]
    channels, height = images[0].shape[0], images[0].shape[1]
    for img in images:
        if img.ndim != 3 or img.shape[0] != channels or img.shape[1] != height:
            raise InputError(
                f"collate_textlines: got an image of shape {tuple(img.shape)}; expected ({channels}, {height}, W)"
            )
    widths = torch.tensor([img.shape[2] for img in images], dtype=torch.long)
    max_width = int(widths.max())
    batch = torch.empty((len(images), channels, height, max_width), dtype=images[0].dtype)
    for i, img in enumerate(images):
        w = img.shape[2]
        batch[i, :, :, :w] = img
        if w == max_width:
            continue
        if pad_value is None:
            batch[i, :, :, w:] = img[:, :, w - 1 : w]
        else:
            fill = torch.as_tensor(pad_value, dtype=batch.dtype).reshape(-1, 1, 1)
            batch[i, :, :, w:] = fill.expand(channels, height, max_width - w)
    return batch, texts, widths


def make_textline_collate(
    preprocess: PreprocessConfig | dict[str, Any],
) -> Callable[[Sequence[tuple[torch.Tensor, str]]], tuple[torch.Tensor, list[str], torch.Tensor]]:
    """A DataLoader ``collate_fn`` that pads with the normalised pure-white value of ``preprocess``.

    Use it for training *and* evaluation or not at all: a model trained with the default edge padding
    reads constant-padded batches worse (see :func:`collate_textlines`).
    """
    return functools.partial(collate_textlines, pad_value=background_value(preprocess))


def equal_width_batches(widths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Group indices into batches of equal width (a ``batch_sampler``): no padding at all.

    A bidirectional RNN reads padded columns before the real ones, so padded and unpadded runs can
    differ slightly; evaluating in equal-width batches gives exactly what a per-image ONNX run gives.
    Deterministic: widths ascending, indices ascending within a width.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size: got {batch_size!r}; expected a positive integer")
    groups: dict[int, list[int]] = {}
    for index, width in enumerate(widths):
        groups.setdefault(int(width), []).append(index)
    return [
        members[start : start + batch_size]
        for _, members in sorted(groups.items())
        for start in range(0, len(members), batch_size)
    ]
