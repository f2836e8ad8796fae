"""Samples for calibration and for the accuracy gate: from arrays, an image folder, random inputs, or a checkpoint's data.

A :class:`SampleSet` holds preprocessed model inputs (one array per sample, so text lines of
different widths fit) and optional targets (class indices, or strings for CTC models). Arrays are
the torch-free path; folders are preprocessed with the model's own spec
(:mod:`edgeseq.runtime.preprocess`); random inputs take the model's own input size and dtype; a
checkpoint uses the training data splits (needs torch, imported only then). :func:`load_samples`
picks the sources ``edgeseq optimize`` was given.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgeseq.errors import InputError
from edgeseq.runtime.metadata import ModelMetadata, metadata_of
from edgeseq.runtime.preprocess import load_image, normalize, pixels_from_normalized, to_pixels

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
LINES_LABEL_FILE = "labels.tsv"


@dataclass
class SampleSet:
    """Preprocessed inputs, one array per sample (without the batch axis), and optional targets."""

    inputs: list[np.ndarray]
    targets: list[Any] | None = None  # class indices (classification) or strings (ctc); None: unlabelled
    source: str = ""  # where the samples came from, for the report
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.targets is not None and len(self.targets) != len(self.inputs):
            raise InputError(f"samples: got {len(self.inputs)} inputs and {len(self.targets)} targets; expected equal")

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def labelled(self) -> bool:
        """Whether targets are known (the gate can measure accuracy/CER)."""
        return self.targets is not None and len(self.inputs) > 0

    def subset(self, indices: Sequence[int], source: str | None = None) -> SampleSet:
        """The samples at ``indices``, in that order."""
        targets = None if self.targets is None else [self.targets[i] for i in indices]
        return SampleSet([self.inputs[i] for i in indices], targets, source or self.source, list(self.notes))

    def batches(self, max_batch: int) -> Iterator[np.ndarray]:
        """Stack consecutive samples of equal shape into batches of at most ``max_batch``, in order."""
        group: list[np.ndarray] = []
        for x in self.inputs:
            if group and (len(group) >= max_batch or x.shape != group[0].shape):
                yield np.stack(group)
                group = []
            group.append(x)
        if group:
            yield np.stack(group)


def from_arrays(
    inputs: np.ndarray | Sequence[np.ndarray], targets: Sequence[Any] | None = None, source: str = "arrays"
) -> SampleSet:
    """Wrap preprocessed arrays: an ``(N, ...)`` array or a list of per-sample arrays.

    Raises:
        InputError: an empty input or a target count that does not match.
    """
    items = list(inputs) if not isinstance(inputs, np.ndarray) else [inputs[i] for i in range(inputs.shape[0])]
    if not items:
        raise InputError("samples: got no arrays; expected at least one preprocessed input")
    items = [np.ascontiguousarray(x) for x in items]
    return SampleSet(items, None if targets is None else list(targets), source)


def split(samples: SampleSet, first: int, seed: int = 0) -> tuple[SampleSet, SampleSet]:
    """Shuffle deterministically and cut into ``first`` samples and the rest."""
    order = np.random.default_rng(seed).permutation(len(samples)).tolist()
    return samples.subset(order[:first]), samples.subset(order[first:])


def take(samples: SampleSet, count: int, seed: int = 0) -> SampleSet:
    """At most ``count`` samples, chosen deterministically at random."""
    if len(samples) <= count:
        return samples
    return split(samples, count, seed)[0]


class SampleReader:
    """``onnxruntime.quantization.CalibrationDataReader`` over a :class:`SampleSet` (batch of 1 each)."""

    def __init__(self, samples: SampleSet, input_name: str) -> None:
        self._samples = samples
        self._input_name = input_name
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next ``{input_name: (1, ...) array}``, or None at the end."""
        if self._next >= len(self._samples):
            return None
        x = self._samples.inputs[self._next]
        self._next += 1
        return {self._input_name: x[None]}

    def rewind(self) -> None:
        """Start again from the first sample."""
        self._next = 0


def _model_input(path: Path, metadata: ModelMetadata) -> np.ndarray:
    spec = metadata.preprocess
    pixels = to_pixels(load_image(path), spec)
    if metadata.input.dtype == "uint8":  # preprocessing inside the graph: raw NHWC pixels
        return pixels[:, :, None] if pixels.ndim == 2 else pixels
    return normalize(pixels, spec)


def load_folder(root: str | Path, metadata: ModelMetadata, limit: int | None = None) -> SampleSet:
    """Preprocess a folder of images with the model's spec.

    Layouts: ``root/labels.tsv`` (``filename<TAB>text`` per line: text lines for CTC models),
    ``root/<label>/*.png`` (ImageFolder: the subfolder names are the labels), or images directly
    in ``root`` (unlabelled: the gate then measures agreement with FP32 only).

    Raises:
        InputError: the folder is missing or empty, a label is not one of the model's, an image is unreadable.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"calibration data {str(root)!r}: not a folder; expected an image folder or labels.tsv folder")
    if not metadata.preprocess:
        raise InputError(
            "the model has no edgeseq preprocessing metadata; pass preprocessed arrays instead of a folder"
        )
    pairs: list[tuple[Path, Any]] = []
    tsv = root / LINES_LABEL_FILE
    if tsv.is_file():
        for number, line in enumerate(tsv.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            name, sep, text = line.partition("\t")
            if not sep:
                raise InputError(f"{tsv}:{number}: expected 'filename<TAB>text'")
            pairs.append((root / name, text))
        kind = "text lines"
    else:
        subdirs = sorted(p for p in root.iterdir() if p.is_dir())
        if subdirs:
            index = {label: i for i, label in enumerate(metadata.labels)}
            for sub in subdirs:
                if sub.name not in index:
                    raise InputError(
                        f"calibration data: folder {sub.name!r} is not one of the model's labels ({', '.join(metadata.labels[:10])}...)"
                    )
                pairs += [(p, index[sub.name]) for p in sorted(sub.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
            kind = "image folder"
        else:
            pairs = [(p, None) for p in sorted(root.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
            kind = "unlabelled images"
    if not pairs:
        raise InputError(f"calibration data {str(root)!r}: no images found; expected PNG/JPEG files")
    if limit is not None and len(pairs) > limit:
        order = np.random.default_rng(0).permutation(len(pairs))[:limit]
        pairs = [pairs[i] for i in sorted(order.tolist())]
    inputs = [_model_input(path, metadata) for path, _ in pairs]
    targets = None if pairs[0][1] is None else [t for _, t in pairs]
    return SampleSet(inputs, targets, f"{kind} {root}")


def _target_value(target: Any, task: str, alphabet: str, blank: int) -> Any:
    """A dataset target as an int (classification) or a string (ctc)."""
    if isinstance(target, (str, int)):
        return target
    values = np.asarray(target.detach().cpu() if hasattr(target, "detach") else target).reshape(-1).tolist()
    if task != "ctc":
        return int(values[0])
    chars = list(alphabet[:blank]) + [""] + list(alphabet[blank:])
    return "".join(chars[int(v)] for v in values if int(v) != blank)


def _from_dataset(dataset: Any, indices: Sequence[int], metadata: ModelMetadata, source: str) -> SampleSet:
    inputs, targets = [], []
    for i in indices:
        x, y = dataset[i]
        x = np.ascontiguousarray(np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float32))
        if metadata.input.dtype == "uint8":  # preprocessing inside the graph: the model takes raw NHWC pixels
            x = pixels_from_normalized(x[None], metadata.preprocess)[0]
        inputs.append(x)
        targets.append(_target_value(y, metadata.task, metadata.alphabet, metadata.blank_index))
    return SampleSet(inputs, targets, source)


def samples_from_splits(
    splits: Any, metadata: ModelMetadata, calibration_samples: int, seed: int = 0, max_eval: int | None = None
) -> tuple[SampleSet, SampleSet]:
    """Calibration samples from ``splits.train`` and the ``splits.test`` samples for the gate.

    Args:
        splits: an ``edgeseq.data.DataSplits`` (items ``(tensor (C, H, W), target)``).
        metadata: the model's metadata (task, alphabet, blank index) to turn targets into ints/strings.
        calibration_samples: how many training samples to calibrate on (chosen at random with ``seed``).
        seed: the random choice's seed.
        max_eval: cap on test samples (chosen at random with ``seed``); None keeps them all.
    """
    rng = np.random.default_rng(seed)
    train_idx = rng.permutation(len(splits.train))[:calibration_samples].tolist()
    test_idx = list(range(len(splits.test)))
    if max_eval is not None and len(test_idx) > max_eval:
        test_idx = sorted(rng.permutation(len(test_idx))[:max_eval].tolist())
    calib = _from_dataset(splits.train, train_idx, metadata, "train split")
    test = _from_dataset(splits.test, test_idx, metadata, "test split")
    return calib, test


def load_checkpoint_data(
    checkpoint: str | Path,
    metadata: ModelMetadata,
    calibration_samples: int,
    seed: int = 0,
    max_eval: int | None = None,
) -> tuple[SampleSet, SampleSet]:
    """:func:`samples_from_splits` of the data rebuilt from the config stored in ``checkpoint`` (needs torch)."""
    from edgeseq.checkpoint import checkpoint_datasets, load_checkpoint  # torch: only for checkpoint samples

    ckpt = load_checkpoint(checkpoint)
    splits = checkpoint_datasets(ckpt)
    calib, test = samples_from_splits(splits, metadata, calibration_samples, seed, max_eval)
    calib.source = f"train split of {checkpoint}"
    test.source = f"test split of {checkpoint}"
    return calib, test


def random_samples(model: Any, count: int, seed: int, metadata: ModelMetadata | None = None) -> SampleSet:
    """Random inputs of the loaded ONNX ``model``'s own size and dtype.

    Dynamic axes take the preprocessing height/width from the metadata (a 1-pixel-tall image would
    measure nothing real), else 1. uint8 inputs (preprocessing in the graph) get random pixels, float
    inputs standard-normal values.

    Args:
        model: an ``onnx.ModelProto``.
        count: how many samples.
        seed: the random generator's seed.
        metadata: the model's edgeseq metadata, if any.
    """
    dims = model.graph.input[0].type.tensor_type.shape.dim
    shape = [d.dim_value if d.dim_value > 0 else 0 for d in dims]
    uint8 = False
    if metadata is not None:
        pre = metadata.preprocess
        h_axis, w_axis = (1, 2) if metadata.input.layout == "NHWC" else (2, 3)
        for axis, size in ((h_axis, pre.get("height")), (w_axis, pre.get("width"))):
            if axis < len(shape) and not shape[axis] and size:
                shape[axis] = int(size)
        uint8 = metadata.input.dtype == "uint8"
    shape = [d or 1 for d in shape][1:]
    rng = np.random.default_rng(seed)
    if uint8:
        arrays = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(count)]
    else:
        arrays = [rng.standard_normal(shape).astype(np.float32) for _ in range(count)]
    return SampleSet(arrays, None, "random inputs")


class SampleBudget(Protocol):
    """How many samples to use (an :class:`~edgeseq.optimization.config.OptimizeConfig` is one)."""

    calibration_samples: int
    max_eval_samples: int
    seed: int


def load_samples(
    model: str | Path,
    config: SampleBudget,
    calibration_dir: str | Path | None = None,
    eval_dir: str | Path | None = None,
    checkpoint: str | Path | None = None,
) -> tuple[SampleSet | None, SampleSet | None]:
    """Calibration and evaluation samples for :func:`~edgeseq.optimization.optimize`, from folders or a checkpoint's data.

    * ``checkpoint``: calibration from the training split, the gate on the test split (needs torch).
    * ``calibration_dir`` with ``eval_dir``: one folder each.
    * ``calibration_dir`` alone: shuffled and cut into ``calibration_samples`` for calibration and the
      rest for the gate (all of it for both when the folder is too small, with a note in ``source``).

    Args:
        model: the ONNX model (its metadata gives the task and the preprocessing).
        config: the sample counts and seed (an ``OptimizeConfig``).
        calibration_dir, eval_dir, checkpoint: the sources, as ``edgeseq optimize`` takes them.

    Returns:
        ``(calibration, evaluation)``; ``(None, None)`` without a source.

    Raises:
        InputError: both a checkpoint and a folder, an evaluation folder alone, a model without
            edgeseq metadata, or unreadable data.
    """
    if checkpoint is not None and calibration_dir is not None:
        raise InputError("got both a checkpoint and a calibration folder; expected one source of samples")
    if calibration_dir is None:
        if checkpoint is None:
            if eval_dir is not None:
                raise InputError("an evaluation folder needs a calibration folder too (--calibration DATA)")
            return None, None
        metadata = _sample_metadata(model)
        return load_checkpoint_data(
            checkpoint, metadata, config.calibration_samples, config.seed, config.max_eval_samples
        )
    return _folder_samples(Path(calibration_dir), eval_dir, _sample_metadata(model), config)


def _sample_metadata(model: str | Path) -> ModelMetadata:
    """The model's edgeseq metadata, which folder and checkpoint samples need (task, preprocessing)."""
    import onnx

    metadata = metadata_of(onnx.load(str(model), load_external_data=False))
    if metadata is None:
        raise InputError(f"{model}: no edgeseq metadata (task, preprocessing); pass preprocessed arrays from Python")
    return metadata


def _folder_samples(
    calibration_dir: Path, eval_dir: str | Path | None, metadata: ModelMetadata, config: SampleBudget
) -> tuple[SampleSet, SampleSet]:
    """Calibration and gate samples from one folder (split) or two; preprocesses only what is used."""
    # a folder of thousands of images would otherwise all be decoded
    if eval_dir is not None:
        samples = load_folder(calibration_dir, metadata, limit=config.calibration_samples)
        held_out = load_folder(eval_dir, metadata, limit=config.max_eval_samples)
        return take(samples, config.calibration_samples, config.seed), held_out
    limit = config.calibration_samples + config.max_eval_samples
    samples = load_folder(calibration_dir, metadata, limit=limit)
    if len(samples) <= config.calibration_samples:
        samples.source += " (too few samples to hold some out: calibration and gate use the same samples)"
        return samples, samples
    calib, held_out = split(samples, config.calibration_samples, config.seed)
    calib.source = f"{samples.source} ({len(calib)} samples)"
    held_out.source = f"{samples.source} (the {len(held_out)} samples not used for calibration)"
    return calib, held_out
