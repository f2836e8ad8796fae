"""The torch-free Predictor: load an edgeseq ONNX model, preprocess like training, return typed results.

Imports only numpy, onnxruntime, Pillow, the standard library and ``edgeseq.errors`` /
``edgeseq.runtime.*``, so the base install (``pip install edgeseq``) is enough to embed a model.

A Predictor is immutable after construction and ONNX Runtime's ``InferenceSession.run`` is
thread-safe, so one Predictor can be shared by many threads.

Memory (see :mod:`edgeseq.runtime.limits`): the model's graph is estimated before it runs, at its
declared input size when the Predictor is made and at the actual input sizes on every call; calls are
split into batches that fit the memory limit, and a model whose estimate is incomplete (ORT format,
operators the estimate does not know) is first opened and run in a memory-capped child process.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from edgeseq.errors import ConfigError, EdgeseqError, InputError, ModelFileError, first_line
from edgeseq.runtime.calls import ModelCalls, shared_batch_axis
from edgeseq.runtime.decode import ctc_greedy
from edgeseq.runtime.isolation import create_session_isolated
from edgeseq.runtime.limits import MemoryPlanner, declared_feeds, estimate_memory
from edgeseq.runtime.metadata import ModelMetadata
from edgeseq.runtime.modelfile.graph_reader import Graph, read_graph
from edgeseq.runtime.preprocess import load_image, preprocess_image, spec_dict, to_pixels
from edgeseq.runtime.results import Prediction, TextPrediction
from edgeseq.runtime.session import SessionConfig, create_session

DEFAULT_BATCH_SIZE = 32  # images per Run call: large enough to amortise the call, small enough for edge RAM
DEFAULT_TOP_K = 5

_ORT_DTYPES = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(uint8)": np.dtype(np.uint8),
    "tensor(int8)": np.dtype(np.int8),
    "tensor(uint16)": np.dtype(np.uint16),
    "tensor(int16)": np.dtype(np.int16),
    "tensor(float16)": np.dtype(np.float16),
    "tensor(int64)": np.dtype(np.int64),
    "tensor(int32)": np.dtype(np.int32),
    "tensor(uint32)": np.dtype(np.uint32),
    "tensor(uint64)": np.dtype(np.uint64),
    "tensor(double)": np.dtype(np.float64),
    "tensor(bool)": np.dtype(np.bool_),
}
_STRING = "tensor(string)"
# PIL modes whose conversion to L / RGB is defined (others, like LAB or HSV, are refused with a line).
_PIL_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "I", "F"})
_PIL_MODES |= {"I;16", "I;16L", "I;16B", "I;16N", "La"}

ImageLike = Any  # a path, a PIL image, a uint8 HxW/HxWxC array, a float32 NCHW batch


class Predictor:
    """Run an exported edgeseq model on images.

    Args:
        path: the ``.onnx`` file.
        providers: "auto" (default: CUDA when onnxruntime-gpu and a GPU work, else CPU), "cpu" or "cuda".
            With "cuda", construction fails rather than silently running on CPU.
        threads: intra-op threads (default: one per physical core; never more than the usable CPUs).
        config: further session options (optimization level, cache path, spinning); ``providers`` and
            ``threads``, when given, override its fields.
        batch_size: most images (or samples, in :meth:`run`) per ONNX Runtime call; fewer when the
            memory limit allows fewer.
        memory_limit: most bytes one call may need by the graph's estimate (bytes or a size such as
            ``"2G"``); default :func:`edgeseq.memory.memory_limit` (``EDGESEQ_MEMORY_LIMIT``, else half
            the machine's memory).
        isolate: open the model in a memory-capped child process first (``True``), never (``False``),
            or when the graph estimate cannot vouch for it (``"auto"``: ORT format, or operators whose
            output sizes it cannot work out).

    Raises:
        ModelFileError: the model file is missing, empty, corrupt, or its edgeseq metadata contradicts its graph.
        ResourceLimitError: running the model once at its declared input size needs more memory than the limit.
        DependencyError: "cuda" was asked for and is not available.
        ConfigError: an option is out of range.

    Example:
        >>> predictor = Predictor("models/digits-rows-lstm.onnx")
        >>> predictor.predict("seven.png").label
        '7'
    """

    def __init__(
        self,
        path: str | os.PathLike,
        providers: str | None = None,
        threads: int | None = None,
        *,
        config: SessionConfig | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        memory_limit: int | str | None = None,
        isolate: bool | str = "auto",
    ) -> None:
        overrides: dict[str, Any] = {k: v for k, v in (("providers", providers), ("threads", threads)) if v is not None}
        self.config = dataclasses.replace(config or SessionConfig(), **overrides)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size: got {batch_size!r}; expected a positive integer")
        if not (isolate == "auto" or isinstance(isolate, bool)):
            raise ConfigError(f"isolate: got {isolate!r}; expected 'auto', True or False")
        self.batch_size = batch_size
        self.path = Path(path)
        self._graph: Graph | None = read_graph(self.path)
        self.isolated = isolate is True or (isolate == "auto" and not self._estimate_is_complete())
        if self.isolated:
            self.session = create_session_isolated(self.path, self.config, memory_limit=memory_limit)
        else:
            self.session = create_session(self.path, self.config, memory_limit=memory_limit)
        self._planner = MemoryPlanner(self._graph, memory_limit) if self._graph is not None else None
        self.providers: tuple[str, ...] = tuple(self.session.get_providers())
        self._threads = self.config.intra_op_threads  # resolved once: the core count does not change under us
        try:
            self._describe_io()
        except UnicodeDecodeError:  # ONNX Runtime hands names and metadata over as they are stored
            raise ModelFileError(
                f"model {str(self.path)!r}: its input/output names or metadata are not UTF-8 text; "
                "expected a valid model file"
            ) from None

    def _describe_io(self) -> None:
        """Input/output names, types and shapes; the edgeseq metadata (checked against the graph)."""
        inputs = self.session.get_inputs()
        self.input_names: tuple[str, ...] = tuple(i.name for i in inputs)
        self.output_names: tuple[str, ...] = tuple(o.name for o in self.session.get_outputs())
        self._input_types = {i.name: i.type for i in inputs}
        self._input_shapes = {i.name: tuple(d if isinstance(d, int) else None for d in i.shape) for i in inputs}
        # ONNX Runtime shows "no shape declared" and "a scalar" alike ([]); the graph tells them apart
        declared = {spec.name: spec.shape for spec in self._graph.inputs} if self._graph is not None else {}
        self._unranked = {name for name in self.input_names if declared.get(name, ()) is None}
        self._calls = ModelCalls(
            self.path, self._planner, self.batch_size, shared_batch_axis(inputs, self.session.get_outputs())
        )
        props = self.session.get_modelmeta().custom_metadata_map
        self.metadata: ModelMetadata | None
        self._missing: str | None = None
        try:
            self.metadata = ModelMetadata.from_props(props)
        except ModelFileError as exc:
            self.metadata, self._missing = None, str(exc)
        if self.metadata is not None:
            self._check_metadata(self.metadata)

    def _estimate_is_complete(self) -> bool:
        """Whether the graph estimate knows every tensor's size at the declared input size."""
        if self._graph is None:
            return False
        return estimate_memory(self._graph, declared_feeds(self._graph)).complete

    # ------------------------------------------------------------------ description
    @property
    def threads(self) -> int:
        """Intra-op threads the session runs with."""
        return self._threads

    @property
    def task(self) -> str | None:
        """ "classification", "ctc", or None for a model without edgeseq metadata."""
        return self.metadata.task if self.metadata else None

    @property
    def labels(self) -> list[str]:
        """Class names (classification models)."""
        return list(self.metadata.labels) if self.metadata else []

    @property
    def input_name(self) -> str:
        """Name of the image input: the one the metadata names, else the first graph input."""
        return self.metadata.input.name if self.metadata else self.input_names[0]

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        """Shape of the image input; None marks a dynamic axis."""
        return self._input_shapes[self.input_name]

    def __repr__(self) -> str:
        return (
            f"Predictor({str(self.path)!r}, task={self.task!r}, providers={list(self.providers)!r}, "
            f"threads={self.threads}, input={self.input_name!r}{list(self.input_shape)})"
        )

    # ------------------------------------------------------------------ raw access
    def run(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph on already prepared arrays (no preprocessing, no decoding).

        Works for any ONNX model, with or without edgeseq metadata.

        Args:
            inputs: one array for a single-input model, or ``{input name: array}``.

        Returns:
            ``{output name: array}``.

        A batch is split into calls of at most ``batch_size`` samples (fewer when the memory limit
        allows fewer) when every input and output has the same dynamic batch axis first, as exported
        models do; the outputs are joined again.

        Raises:
            InputError: a missing/unknown input, a wrong dtype, rank or fixed dimension, an empty or
                non-finite array, or an input below the model's minimum size.
            ResourceLimitError: one sample (or an input that cannot be split) needs more memory than the limit.
            InferenceError: ONNX Runtime failed on inputs that passed these checks.
        """
        if isinstance(inputs, np.ndarray):
            if len(self.input_names) != 1:  # which input an array is for would be a guess
                raise InputError(
                    f"the model has {len(self.input_names)} inputs ({', '.join(self.input_names)}); "
                    "expected a dict {input name: array}"
                )
            inputs = {self.input_names[0]: inputs}
        elif not isinstance(inputs, Mapping):
            raise InputError(f"run(): got {type(inputs).__name__}; expected a numpy array or a dict of arrays")
        unknown = set(inputs) - set(self.input_names)
        missing = set(self.input_names) - set(inputs)
        if unknown or missing:
            raise InputError(f"run(): got inputs {sorted(inputs)}; expected exactly {list(self.input_names)}")
        feeds = {name: self._check_feed(name, array) for name, array in inputs.items()}
        return dict(zip(self.output_names, self._calls.run_all(self.session, feeds), strict=True))

    def _check_feed(self, name: str, array: Any) -> np.ndarray:
        if not isinstance(array, np.ndarray):
            raise InputError(f"input {name!r}: got {type(array).__name__}; expected a numpy array")
        declared_type = self._input_types[name]
        if declared_type == _STRING:
            if array.dtype.kind not in "OUS":
                raise InputError(f"input {name!r}: got dtype {array.dtype}; expected strings (tensor(string))")
        elif array.dtype != _ORT_DTYPES.get(declared_type, array.dtype):
            raise InputError(f"input {name!r}: got dtype {array.dtype}; expected {_ORT_DTYPES[declared_type]}")
        if array.size == 0:
            raise InputError(f"input {name!r}: got an empty array of shape {tuple(array.shape)}; expected data")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise InputError(f"input {name!r}: got NaN or Inf values; expected finite numbers")
        if name in self._unranked:  # the model declares no shape for this input: any shape is legal
            return np.ascontiguousarray(array)
        expected = self._input_shapes[name]
        if array.ndim != len(expected) or any(
            e is not None and e != g for e, g in zip(expected, array.shape, strict=True)
        ):
            shown = tuple("?" if e is None else e for e in expected)
            raise InputError(f"input {name!r}: got shape {tuple(array.shape)}; expected {shown} (? = any size)")
        return np.ascontiguousarray(array)

    # ------------------------------------------------------------------ preprocessing
    def _require_metadata(self) -> ModelMetadata:
        if self.metadata is None:
            raise InputError(f"predict() needs edgeseq metadata in {str(self.path)!r}: {self._missing}")
        if not self.metadata.preprocess:
            raise InputError(
                f"predict() needs edgeseq.preprocess in {str(self.path)!r} (image size, color, mean/std); "
                "re-export the model with `edgeseq export`, or call run() with a preprocessed array"
            )
        return self.metadata

    @property
    def _in_graph(self) -> bool:
        return bool(self.metadata and self.metadata.preprocess.get("in_graph", False))

    def _check_metadata(self, meta: ModelMetadata) -> None:
        """Refuse a model whose metadata contradicts its graph (names, class count)."""
        logits = {o.name: o.shape for o in self.session.get_outputs()}.get(meta.outputs.logits)
        classes = logits[-1] if logits else None
        meta.check_graph(list(self.input_names), list(self.output_names), classes, str(self.path))

    def _sample_from_image(self, source: Any, spec: dict[str, Any]) -> np.ndarray:
        """One image → the array fed for it: float32 (C, H, W), or uint8 (H, W, C) when preprocessing is in the graph.

        Raises:
            InputError: an unreadable path (a name too long, no permission), or a PIL image that is
                closed, empty or in a mode that cannot become L/RGB.
        """
        if isinstance(source, Image.Image):
            _check_pil_image(source)
        try:
            return self._preprocessed_sample(source, spec)
        except EdgeseqError:
            raise
        except (OSError, ValueError) as exc:  # Pillow's errors for images it cannot read or convert
            what = f"image file {_short(os.fspath(source))!r}" if isinstance(source, (str, os.PathLike)) else "image"
            raise InputError(f"{what}: {first_line(exc, 200)}; expected a readable image") from None

    def _preprocessed_sample(self, source: Any, spec: dict[str, Any]) -> np.ndarray:
        if self._in_graph:
            pixels = to_pixels(load_image(source), spec)
            return pixels[:, :, None] if pixels.ndim == 2 else pixels
        return preprocess_image(source, spec)

    def _samples(self, x: ImageLike) -> tuple[list[np.ndarray], bool]:
        """Turn any accepted input into per-image model inputs; also say whether one result is expected."""
        spec = spec_dict(self._require_metadata().preprocess)
        if isinstance(x, (list, tuple)):
            if not x:
                raise InputError("predict(): got an empty list; expected at least one image")
            samples: list[np.ndarray] = []
            for item in x:
                samples.extend(self._samples_of(item, spec, in_list=True))
            return samples, False
        single = not (isinstance(x, np.ndarray) and x.ndim == 4)
        return self._samples_of(x, spec, in_list=False), single

    def _samples_of(self, item: Any, spec: dict[str, Any], in_list: bool) -> list[np.ndarray]:
        if isinstance(item, (str, os.PathLike, Image.Image)):
            return [self._sample_from_image(item, spec)]
        if not isinstance(item, np.ndarray):
            where = "list item" if in_list else "image"
            raise InputError(
                f"{where}: got {type(item).__name__}; expected a file path, a PIL image, "
                "a uint8 HxW/HxWxC array or a float32 NCHW batch"
            )
        if item.size == 0:
            raise InputError(f"image array: got an empty array of shape {tuple(item.shape)}; expected pixels")
        if item.dtype == np.uint8:
            if item.ndim == 4:  # NHWC batch of pixels
                return [self._sample_from_image(image, spec) for image in item]
            return [self._sample_from_image(item, spec)]
        if item.dtype.kind == "f":
            return list(self._check_preprocessed(item, spec))
        raise InputError(
            f"image array: got dtype {item.dtype}; expected uint8 pixels (HxW or HxWxC) "
            "or an already preprocessed float32 NCHW batch"
        )

    def _check_preprocessed(self, batch: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
        """Validate a float NCHW batch the caller preprocessed: dtype, rank, channels, size, finite values."""
        if self._in_graph:
            raise InputError(
                f"float array: got dtype {batch.dtype}; this model preprocesses in the graph and "
                "expects uint8 pixels (HxW or HxWxC)"
            )
        if batch.dtype != np.float32:
            raise InputError(f"float array: got dtype {batch.dtype}; expected float32 (use .astype(np.float32))")
        if batch.ndim != 4:
            raise InputError(
                f"float array: got shape {tuple(batch.shape)}; expected an NCHW batch (N, C, H, W) "
                "(add a batch axis with x[None]; raw images are uint8 HxW/HxWxC)"
            )
        channels = 1 if spec.get("color", "L") == "L" else 3
        if batch.shape[1] != channels:
            raise InputError(
                f"float array: got {batch.shape[1]} channels (shape {tuple(batch.shape)}); "
                f"expected {channels} for color={spec.get('color', 'L')!r} in NCHW layout"
            )
        if not np.isfinite(batch).all():
            raise InputError("float array: got NaN or Inf values; expected finite numbers")
        return batch

    def _check_sample(self, sample: np.ndarray) -> None:
        """Compare one sample with the graph input's fixed dimensions (e.g. a fixed height or width)."""
        expected = self.input_shape[1:]
        if sample.ndim != len(expected) or any(
            e is not None and e != g for e, g in zip(expected, sample.shape, strict=True)
        ):
            layout = "H, W, C" if self._in_graph else "C, H, W"
            shown = tuple("?" if e is None else e for e in expected)
            raise InputError(
                f"input {self.input_name!r}: got an image of shape {tuple(sample.shape)} ({layout}); "
                f"expected {shown} (? = any size)"
            )

    def preprocess(self, x: ImageLike) -> np.ndarray:
        """Preprocess images exactly as ``predict`` does and return the batch it would feed.

        Raises:
            InputError: the images have different sizes after preprocessing (variable-width models:
                preprocess them one by one), or any input error ``predict`` would raise.
        """
        samples, _ = self._samples(x)
        shapes = {s.shape for s in samples}
        if len(shapes) > 1:
            raise InputError(
                f"preprocess(): images have different preprocessed shapes {sorted(shapes)}; "
                "expected one shape (preprocess variable-width images one by one)"
            )
        return np.stack(samples)

    # ------------------------------------------------------------------ prediction
    def predict(self, x: ImageLike, top_k: int = DEFAULT_TOP_K) -> Any:
        """Preprocess, run and decode.

        Args:
            x: an image path, a PIL image, a uint8 HxW/HxWxC array, a float32 NCHW batch (already
                preprocessed), or a list of these.
            top_k: how many ``(label, score)`` pairs to keep (classification).

        Returns:
            One :class:`Prediction` (classification) or :class:`TextPrediction` (ctc) for one image;
            a list of them for a list or a batch.

        Raises:
            InputError: the model has no edgeseq metadata, or an input has the wrong type, dtype, rank,
                channel count or size, is empty or holds NaN/Inf.
        """
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise InputError(f"top_k: got {top_k!r}; expected a positive integer")
        samples, single = self._samples(x)
        logits = self._run_grouped(samples)
        meta = self.metadata
        assert meta is not None  # _samples checked it; not user input
        results: list[Prediction] | list[TextPrediction]
        if meta.task == "ctc":
            results = [_decode_ctc(row, meta.alphabet, meta.blank_index) for row in logits]
        else:
            results = [_classify(row, meta.labels, top_k) for row in logits]
        return results[0] if single else results

    def _run_grouped(self, samples: list[np.ndarray]) -> list[np.ndarray]:
        """Run samples in batches of equal shape, so no image is ever padded; results in input order."""
        meta = self.metadata
        assert meta is not None
        fixed_batch = self.input_shape[0] if self.input_shape else None
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, sample in enumerate(samples):
            self._check_sample(sample)
            groups.setdefault(sample.shape, []).append(index)
        out: list[np.ndarray | None] = [None] * len(samples)
        for shape, indices in groups.items():
            if isinstance(fixed_batch, int):
                self._calls.check({self.input_name: (fixed_batch, *shape)}, whole=True)
                chunk = fixed_batch
            else:
                chunk = self._calls.check({self.input_name: (len(indices), *shape)}, whole=False)
            for start in range(0, len(indices), chunk):
                part = indices[start : start + chunk]
                if isinstance(fixed_batch, int) and len(part) != fixed_batch:
                    raise InputError(
                        f"the model has a fixed batch of {fixed_batch}; got {len(part)} images of one size"
                    )
                batch = np.stack([samples[i] for i in part])
                (logits,) = self._calls.run(self.session, [meta.outputs.logits], {self.input_name: batch})
                for i, row in zip(part, logits, strict=True):
                    out[i] = row
        return out  # type: ignore[return-value]


def _softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    # float64 so tiny probabilities in top-k do not underflow to 0
    z = logits.astype(np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _classify(logits: np.ndarray, labels: Sequence[str], top_k: int) -> Prediction:
    probs = _softmax(logits.reshape(-1))
    # stable sort: equal scores keep class order, so results never depend on sort internals
    order = np.argsort(-probs, kind="stable")[: min(top_k, probs.size)]
    names = [labels[i] if i < len(labels) else str(i) for i in order]
    best = int(order[0])
    return Prediction(
        label=names[0],
        index=best,
        score=float(probs[best]),
        top_k=[(name, float(probs[i])) for name, i in zip(names, order, strict=True)],
    )


def _decode_ctc(logits: np.ndarray, alphabet: str, blank: int) -> TextPrediction:
    text, char_conf = ctc_greedy(logits, alphabet, blank)
    char_conf = [float(c) for c in char_conf]
    if char_conf:
        confidence = min(char_conf)
    else:
        confidence = float(_softmax(logits)[:, blank].mean()) if logits.size else 0.0
    return TextPrediction(text=text, confidence=confidence, char_confidences=char_conf)


def _check_pil_image(image: Image.Image) -> None:
    """Refuse a PIL image Pillow cannot turn into pixels: closed, empty, or in a mode with no L/RGB conversion.

    Raises:
        InputError: naming what is wrong.
    """
    try:
        image.load()  # a closed image raises here; a lazily opened file is read now (it would be anyway)
    except (ValueError, OSError) as exc:
        raise InputError(f"PIL image: {first_line(exc, 200)}; expected an open, readable image") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise InputError(f"PIL image: got size {width}x{height}; expected a non-empty image")
    if image.mode not in _PIL_MODES:
        raise InputError(
            f"PIL image: got mode {image.mode!r}; expected one of {', '.join(sorted(_PIL_MODES))} "
            "(convert it first, e.g. image.convert('RGB'))"
        )


def _short(text: str, limit: int = 120) -> str:
    """A path kept readable in a one-line message (names over NAME_MAX can be thousands of characters)."""
    return text if len(text) <= limit else f"{text[: limit // 2]}...{text[-limit // 2 :]}"
