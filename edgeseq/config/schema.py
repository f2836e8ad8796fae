"""The typed configuration: one dataclass per recipe table, each validating itself.

Standard library only, so the runtime and the CLI can read configs without torch.
Every check raises :class:`~edgeseq.errors.ConfigError` naming the bad key and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.config.conversion import check_field_types
from edgeseq.errors import ConfigError

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
COLOR_MODES = ("L", "RGB")
RESIZE_MODES = ("stretch", "height")  # "height": fixed height, width follows the aspect ratio
# The names edgeseq.nn registers, repeated so configs validate without importing torch
# (tests/nn/test_nn_model.py keeps the two in step).
SEQUENCERS = ("rows", "columns", "channels")
RNN_KINDS = ("lstm", "gru", "rnn")
HEADS = ("last", "mean", "attention", "ctc")
DATASETS = ("digits", "folder", "textlines", "lines")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("none", "cosine", "onecycle", "step")
DEVICES = ("auto", "cpu", "cuda")
# The fonts of Debian's fonts-dejavu-core, present on every Debian machine with fontconfig.
DEJAVU_CORE_FONTS = tuple(
    f"DejaVu{face}{weight}.ttf" for face in ("Sans", "SansMono", "Serif") for weight in ("", "-Bold")
)
# Seeds go to random, numpy (which takes 0 .. 2**32 - 1) and torch.
MAX_SEED = 2**32 - 1
# More epochs than this is a typo (a resumed run replays its schedule step by step up to the epoch reached).
MAX_EPOCHS = 100_000
# Tables and arrays nested deeper than this are no recipe (tomllib itself recurses without a limit).
MAX_TOML_DEPTH = 16


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{key}: got {value!r}{hint}; expected one of: {', '.join(choices)}")


def _positive(key: str, value: float, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{key}: got {value!r}; expected a finite number")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{key}: got {value!r}; expected a {'non-negative' if allow_zero else 'positive'} number")


def _seed(key: str, value: int) -> None:
    if not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{key}: got {value!r}; expected an integer from 0 to {MAX_SEED}")


@dataclass
class PreprocessConfig:
    """How an image becomes the model's input tensor; stored in checkpoints and ONNX metadata.

    The runtime (``edgeseq.runtime.preprocess``) implements exactly this spec and the training
    data pipeline calls the same code, so there is one definition of preprocessing.
    """

    height: int = 32  # input height in pixels
    width: int = 32  # input width; with resize="height" the width is variable and this is the default
    color: str = "L"  # "L" (grayscale, 1 channel) or "RGB" (3 channels)
    mean: list[float] = field(default_factory=lambda: [0.5])  # per channel, on the 0..1 scale
    std: list[float] = field(default_factory=lambda: [0.5])
    interpolation: str = "bilinear"  # PIL resampling filter name
    resize: str = "stretch"  # "stretch" to height×width, or "height": scale to height, keep aspect ratio
    min_width: int = 8  # with resize="height": narrowest width after resizing
    max_width: int = 1024  # with resize="height": widest width after resizing
    invert: bool = False  # invert pixel values before normalising (dark text on light → light on dark)

    def __post_init__(self) -> None:
        check_field_types(self, "preprocess")
        _positive("preprocess.height", self.height)
        _positive("preprocess.width", self.width)
        _choice("preprocess.color", self.color, COLOR_MODES)
        _choice("preprocess.interpolation", self.interpolation, INTERPOLATIONS)
        _choice("preprocess.resize", self.resize, RESIZE_MODES)
        channels = self.channels
        for key in ("mean", "std"):
            values = getattr(self, key)
            if len(values) not in (1, channels):
                raise ConfigError(
                    f"preprocess.{key}: got {len(values)} values; expected 1 or {channels} for color={self.color!r}"
                )
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"preprocess.std: got {self.std!r}; expected positive values")
        if not 0 < self.min_width <= self.max_width:
            raise ConfigError(
                f"preprocess.min_width/max_width: got {self.min_width}/{self.max_width}; "
                "expected 0 < min_width <= max_width"
            )

    @property
    def channels(self) -> int:
        """Number of input channels implied by ``color``."""
        return 1 if self.color == "L" else 3


@dataclass
class ModelConfig:
    """The CNN → sequencer → RNN → head architecture."""

    backbone: str = "smallcnn"  # a registered backbone: `edgeseq models` lists them
    backbone_args: dict[str, Any] = field(default_factory=dict)  # builder keyword arguments (e.g. smallcnn channels)
    pretrained: str | None = None  # torchvision weights name ("DEFAULT", "IMAGENET1K_V1"); needs the network
    weights_path: str | None = None  # local file with the torchvision model's state_dict (offline pretrained)
    freeze_backbone: bool = False  # train only the sequence part; features computed under no_grad
    sequencer: str = "rows"  # rows | columns | channels
    step: int = 1  # take every step-th row/column/channel
    rnn: str = "lstm"  # lstm | gru | rnn
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0  # between RNN layers (PyTorch semantics: needs num_layers > 1)
    head: str = "last"  # last | mean | attention | ctc
    num_classes: int = 0  # 0: taken from the data (labels, or the alphabet for ctc)

    def __post_init__(self) -> None:
        check_field_types(self, "model")
        _choice("model.sequencer", self.sequencer, SEQUENCERS)
        _choice("model.rnn", self.rnn, RNN_KINDS)
        _choice("model.head", self.head, HEADS)
        _positive("model.step", self.step)
        _positive("model.hidden_size", self.hidden_size)
        _positive("model.num_layers", self.num_layers)
        _positive("model.num_classes", self.num_classes, allow_zero=True)
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout: got {self.dropout!r}; expected 0 <= dropout < 1")
        if self.pretrained and self.weights_path:
            raise ConfigError("model.pretrained and model.weights_path: got both; expected at most one")


@dataclass
class DataConfig:
    """Where the data comes from and how it is split."""

    dataset: str = "digits"  # digits (scikit-learn, bundled) | folder (ImageFolder) | textlines (synthetic) | lines
    root: str | None = None  # folder for "folder" and "lines" datasets
    labels_file: str = "labels.tsv"  # for "lines": one `filename<TAB>text` per line, relative to root
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    split_seed: int = 0  # the split is deterministic for a given seed
    num_workers: int = 0  # DataLoader workers
    augment_shift: int = 0  # classification: random translation of training images by up to this many pixels
    # synthetic text lines (dataset="textlines")
    alphabet: str = "0123456789"
    min_chars: int = 1
    max_chars: int = 10
    num_samples: int = 6000  # lines generated in all, before the split
    font_size: int = 24
    # fonts to render with: "builtin" (Pillow's own scalable font) and file-name patterns (fnmatch) of the
    # system's TrueType/OpenType fonts; the default is what every Debian machine has (fonts-dejavu-core)
    fonts: list[str] = field(default_factory=lambda: ["builtin", *DEJAVU_CORE_FONTS])

    def __post_init__(self) -> None:
        check_field_types(self, "data")
        _choice("data.dataset", self.dataset, DATASETS)
        _seed("data.split_seed", self.split_seed)
        if not self.fonts or not all(isinstance(f, str) and f for f in self.fonts):
            raise ConfigError(f"data.fonts: got {self.fonts!r}; expected a non-empty list of font file patterns")
        for key in ("val_fraction", "test_fraction"):
            value = getattr(self, key)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"data.{key}: got {value!r}; expected 0 <= value < 1")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ConfigError("data.val_fraction + data.test_fraction: expected a sum below 1 to leave training data")
        if self.dataset in ("folder", "lines") and not self.root:
            raise ConfigError(f"data.root: required for dataset={self.dataset!r}; expected a folder path")
        labels = Path(self.labels_file)
        if not self.labels_file or labels.is_absolute() or ".." in labels.parts:
            raise ConfigError(
                f"data.labels_file: got {self.labels_file!r}; expected a file name inside data.root (no '..', not absolute)"
            )
        _positive("data.num_workers", self.num_workers, allow_zero=True)
        _positive("data.augment_shift", self.augment_shift, allow_zero=True)
        if not self.alphabet:
            raise ConfigError("data.alphabet: expected a non-empty string of characters")
        if len(set(self.alphabet)) != len(self.alphabet):
            raise ConfigError(f"data.alphabet: got repeated characters in {self.alphabet!r}; expected each once")
        if not 0 < self.min_chars <= self.max_chars:
            raise ConfigError(
                f"data.min_chars/max_chars: got {self.min_chars}/{self.max_chars}; expected 0 < min <= max"
            )
        _positive("data.num_samples", self.num_samples)


@dataclass
class TrainConfig:
    """The training loop."""

    epochs: int = 10
    batch_size: int = 64  # per process; under torchrun the effective batch is batch_size × world size
    lr: float = 3e-3
    optimizer: str = "adamw"
    weight_decay: float = 1e-4
    scheduler: str = "cosine"
    step_size: int = 5  # for scheduler="step"
    gamma: float = 0.5  # for scheduler="step"
    grad_clip: float = 5.0  # max gradient norm; 0 disables clipping
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # mixed precision on CUDA (ignored on CPU)
    threads: int = 0  # torch intra-op threads; 0 = physical cores
    progress: bool = True  # progress bar on a terminal
    max_steps_per_epoch: int = 0  # 0 = full epochs; >0 caps the steps (smoke tests)

    def __post_init__(self) -> None:
        check_field_types(self, "train")
        _seed("train.seed", self.seed)
        _positive("train.epochs", self.epochs)
        if self.epochs > MAX_EPOCHS:
            raise ConfigError(f"train.epochs: got {self.epochs!r}; expected at most {MAX_EPOCHS}")
        _positive("train.batch_size", self.batch_size)
        _positive("train.lr", self.lr)
        _choice("train.optimizer", self.optimizer, OPTIMIZERS)
        _choice("train.scheduler", self.scheduler, SCHEDULERS)
        _choice("train.device", self.device, DEVICES)
        _positive("train.weight_decay", self.weight_decay, allow_zero=True)
        _positive("train.grad_clip", self.grad_clip, allow_zero=True)
        _positive("train.threads", self.threads, allow_zero=True)
        _positive("train.max_steps_per_epoch", self.max_steps_per_epoch, allow_zero=True)
        _positive("train.step_size", self.step_size)
        _positive("train.gamma", self.gamma)


@dataclass
class ExperimentConfig:
    """A whole recipe: model, data, preprocessing and training."""

    name: str = "experiment"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        check_field_types(self, "")
        if self.model.head == "ctc" and self.data.dataset not in ("textlines", "lines"):
            raise ConfigError(
                f"model.head: 'ctc' needs a text-line dataset; got data.dataset={self.data.dataset!r}, "
                "expected 'textlines' or 'lines'"
            )
        if self.data.dataset in ("textlines", "lines") and self.model.head != "ctc":
            raise ConfigError(
                f"model.head: data.dataset={self.data.dataset!r} needs head 'ctc'; got {self.model.head!r}"
            )
        if self.preprocess.resize == "height" and self.model.sequencer != "columns":
            raise ConfigError(
                "preprocess.resize: 'height' gives variable widths, which only the 'columns' sequencer accepts; "
                f"got model.sequencer={self.model.sequencer!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/TOML/checkpoint safe)."""
        return dataclasses.asdict(self)
