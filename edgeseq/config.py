"""Typed configuration: dataclasses, TOML loading, ``--set key=value`` overrides.

Standard library only, so the runtime and the CLI can read configs without torch.
Every check raises :class:`~edgeseq.errors.ConfigError` naming the bad key and what was expected.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def check_field_types(obj: Any, prefix: str) -> None:
    """Check (and normalise) every field of a config dataclass against its annotation, by dotted key.

    ``from_dict`` checks TOML values this way; ``__post_init__`` calls this too, so a config built in
    Python (``TrainConfig(epochs="3")``, ``lr=float("nan")``) is refused the same way. Ints become
    floats where a float is expected; floats must be finite.

    Raises:
        ConfigError: a value of the wrong type, naming ``prefix.field``.
    """
    hints = _type_hints(obj)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        tp = hints[f.name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, tp):
            continue  # a nested table, already checked by its own __post_init__
        setattr(obj, f.name, _coerce(f"{prefix}.{f.name}" if prefix else f.name, value, tp))


_HINTS: dict[type, dict[str, Any]] = {}


def _type_hints(obj: Any) -> dict[str, Any]:
    """The resolved annotations of ``obj``'s class (resolved once per class)."""
    cls = type(obj)
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


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


# ---------------------------------------------------------------------------------------------
# Generic dict → dataclass conversion with key and type checking


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(key, value, arg)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if tp is Any:
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: got {type(value).__name__}; expected a table")
        return from_dict(tp, value, prefix=key)
    if origin is list:
        (item_tp,) = typing.get_args(tp) or (Any,)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: got {value!r}; expected a list of {_type_name(item_tp)}")
        return [_coerce(f"{key}[{i}]", v, item_tp) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: got {value!r}; expected a table")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: got {value!r}; expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: got {value!r}; expected an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: got {value!r}; expected a number")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: got {value!r}; expected a finite number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: got {value!r}; expected a string")
        return value
    return value


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and wrong types by name.

    Args:
        cls: a dataclass type.
        data: the parsed TOML table.
        prefix: the dotted key of this table, for error messages.

    Raises:
        ConfigError: an unknown key, a wrong type or an invalid value.
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown key {dotted!r}{hint}; expected one of: {', '.join(names)}")
        kwargs[key] = _coerce(dotted, value, hints[key])
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a missing required field
        raise ConfigError(f"{prefix or cls.__name__}: {exc}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``key.sub=value``; the value is read as TOML (``3``, ``true``, ``[1, 2]``, ``"x"``) or else a string.

    Raises:
        ConfigError: no ``=``, an empty key or key part, a line break or other control character (one
            ``--set`` is one ``key=value`` line: a newline could smuggle in a TOML table), or a value
            nested deeper than :data:`MAX_TOML_DEPTH`.
    """
    if not isinstance(text, str):
        raise ConfigError(f"--set {text!r}: expected a KEY=VALUE string")
    if any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in text):
        raise ConfigError(f"--set {text!r}: got a line break or control character; expected one KEY=VALUE line")
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, for example train.epochs=3")
    key, raw = text.split("=", 1)
    parts = [part.strip() for part in key.split(".")]
    if not all(parts):
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE with a dotted key such as train.epochs")
    try:
        parsed = tomllib.loads(f"v = {raw}")
        value = parsed["v"] if list(parsed) == ["v"] else raw
    except tomllib.TOMLDecodeError:
        value = raw
    except RecursionError:
        raise ConfigError(
            f"--set {parts[-1]}: the value nests too deep; expected at most {MAX_TOML_DEPTH} levels"
        ) from None
    check_depth(value, f"--set {key.strip()}")
    return parts, value


def check_depth(value: Any, what: str, limit: int = MAX_TOML_DEPTH) -> None:
    """Refuse tables/arrays nested deeper than ``limit`` (iteratively: a hostile file must not exhaust the stack).

    Raises:
        ConfigError: naming ``what``.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise ConfigError(f"{what}: nests tables or arrays deeper than {limit} levels; expected a recipe")
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of the raw config table with ``--set`` overrides applied.

    Raises:
        ConfigError: a malformed override (see :func:`parse_override`), or one that goes through a value that is not a table.
    """
    check_depth(data, "config")
    data = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        table = data
        for part in path[:-1]:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise ConfigError(f"--set {text!r}: {part!r} is not a table")
        table[path[-1]] = value
    return data


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file into a dict, with clear errors for a missing, malformed or absurdly nested file.

    Raises:
        ConfigError: naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found; expected a .toml file")
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text; expected a .toml file") from None
    except RecursionError:
        raise ConfigError(
            f"config file {str(path)!r}: nests tables or arrays too deep; expected at most {MAX_TOML_DEPTH} levels"
        ) from None
    check_depth(data, f"config file {str(path)!r}")
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Load an :class:`ExperimentConfig` from a TOML recipe, applying ``--set`` overrides.

    Args:
        path: the recipe; ``None`` starts from the defaults.
        overrides: ``["train.epochs=3", ...]``.
    """
    data = read_toml(path) if path is not None else {}
    data = apply_overrides(data, overrides or [])
    return from_dict(ExperimentConfig, data)


def config_from_dict(data: dict[str, Any]) -> ExperimentConfig:
    """Rebuild an :class:`ExperimentConfig` from :meth:`ExperimentConfig.to_dict` output (e.g. a checkpoint)."""
    return from_dict(ExperimentConfig, data)
