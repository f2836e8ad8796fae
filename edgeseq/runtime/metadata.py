"""The contract between export and runtime: edgeseq's keys in an ONNX model's ``metadata_props``.

Every value is a JSON string under an ``edgeseq.*`` key. The exporter writes them with
:meth:`ModelMetadata.to_props`; the runtime reads them with :meth:`ModelMetadata.from_props`
and needs nothing else to preprocess inputs and decode outputs.

Conventions:
    * classification: output ``logits`` is ``(batch, num_classes)``, class ``i`` is ``labels[i]``.
    * ctc: output ``logits`` is ``(batch, time, len(alphabet) + 1)``; index ``blank_index`` (0) is the
      CTC blank and index ``i + 1`` is ``alphabet[i]``.
    * an optional ``probabilities`` output is the softmax of ``logits`` over the class axis.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from edgeseq.errors import InputError, ModelFileError
from edgeseq.runtime.preprocess import check_spec

PREFIX = "edgeseq."
FORMAT_VERSION = 1
TASKS = ("classification", "ctc")


@dataclass
class InputSpec:
    """The graph input: its name, layout, dtype and which axes are dynamic."""

    name: str = "images"
    layout: str = "NCHW"  # "NCHW" float input, or "NHWC" uint8 pixels when preprocessing is in the graph
    dtype: str = "float32"  # "float32" or "uint8"
    dynamic_axes: dict[str, str] = field(default_factory=lambda: {"0": "batch"})  # axis index -> symbolic name


@dataclass
class OutputSpec:
    """Names of the graph outputs edgeseq produced."""

    logits: str = "logits"
    probabilities: str | None = None


@dataclass
class ModelMetadata:
    """Everything the runtime needs to use an edgeseq ONNX model."""

    task: str = "classification"
    labels: list[str] = field(default_factory=list)  # classification
    alphabet: str = ""  # ctc
    blank_index: int = 0  # ctc
    preprocess: dict[str, Any] = field(default_factory=dict)  # PreprocessConfig fields + "in_graph"
    input: InputSpec = field(default_factory=InputSpec)
    outputs: OutputSpec = field(default_factory=OutputSpec)
    version: str = ""  # edgeseq version that exported the model
    format_version: int = FORMAT_VERSION
    source_sha256: str = ""  # sha256 of the checkpoint the model came from ("" when exported from a module)
    metrics: dict[str, Any] = field(default_factory=dict)  # training/evaluation metrics of the source checkpoint
    model: dict[str, Any] = field(default_factory=dict)  # the architecture config, for the record
    exporter: dict[str, Any] = field(default_factory=dict)  # exporter path, opset, torch version

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ModelFileError(f"edgeseq.task: got {self.task!r}; expected one of {', '.join(TASKS)}")

    @property
    def num_classes(self) -> int:
        """Width of the class axis of ``logits``."""
        return len(self.alphabet) + 1 if self.task == "ctc" else len(self.labels)

    def check_graph(
        self, input_names: list[str], output_names: list[str], logits_classes: int | None, where: str
    ) -> None:
        """Refuse metadata that contradicts its graph or cannot drive preprocessing and decoding.

        Args:
            input_names, output_names: the graph's input and output names.
            logits_classes: the declared size of the logits' last axis (None when symbolic).
            where: the model's path, for the messages.

        Raises:
            ModelFileError: names, class count, empty labels/alphabet or a bad preprocessing spec.
        """
        if self.input.name not in input_names:
            raise ModelFileError(
                f"{where}: edgeseq.input names {self.input.name!r}, but the graph inputs are {list(input_names)}"
            )
        if self.outputs.logits not in output_names:
            raise ModelFileError(
                f"{where}: edgeseq.outputs names {self.outputs.logits!r}, but the graph outputs are {list(output_names)}"
            )
        if isinstance(logits_classes, int) and self.num_classes and logits_classes != self.num_classes:
            what = "alphabet + blank" if self.task == "ctc" else "labels"
            raise ModelFileError(
                f"{where}: output {self.outputs.logits!r} has {logits_classes} classes; "
                f"expected {self.num_classes} ({what} in the metadata)"
            )
        if self.task == "classification" and not self.labels:
            raise ModelFileError(f"{where}: edgeseq.labels is empty; expected the class names")
        if self.task == "ctc" and not self.alphabet:
            raise ModelFileError(f"{where}: edgeseq.alphabet is empty; expected the characters of the CTC classes")
        if self.preprocess:
            try:
                check_spec(self.preprocess)
            except InputError as exc:
                raise ModelFileError(f"{where}: edgeseq metadata: {exc}") from None

    def to_props(self) -> dict[str, str]:
        """Serialise to ``{"edgeseq.<field>": json}`` for ``ModelProto.metadata_props``."""
        return {PREFIX + key: json.dumps(value, sort_keys=True) for key, value in asdict(self).items()}

    @classmethod
    def from_props(cls, props: dict[str, str]) -> ModelMetadata:
        """Parse the ``edgeseq.*`` entries of a model's metadata.

        Raises:
            ModelFileError: the model has no edgeseq metadata, or it is malformed.
        """
        ours = {k[len(PREFIX) :]: v for k, v in props.items() if k.startswith(PREFIX)}
        if "task" not in ours:
            raise ModelFileError(
                "the model has no edgeseq metadata (edgeseq.task, edgeseq.preprocess, labels); "
                "export it with `edgeseq export`, or call run() with an already preprocessed array"
            )
        known = set(cls.__dataclass_fields__)
        kwargs: dict[str, Any] = {}
        for key, raw in ours.items():
            if key not in known:
                continue  # written by a newer edgeseq: ignore rather than refuse
            try:
                kwargs[key] = json.loads(raw)
            except json.JSONDecodeError:
                raise ModelFileError(f"edgeseq.{key}: metadata value is not valid JSON") from None
            # A value of the wrong JSON type would otherwise fail far from here (an AttributeError
            # while preprocessing, a TypeError while decoding): name the key now.
            _check_type(PREFIX + key, kwargs[key], FIELD_TYPES[key])
            if key in NESTED_TYPES:
                for name, value in kwargs[key].items():
                    if name in NESTED_TYPES[key]:  # unknown names: the constructor below refuses them
                        _check_type(f"{PREFIX}{key}.{name}", value, NESTED_TYPES[key][name])
        try:
            if "input" in kwargs:
                kwargs["input"] = InputSpec(**kwargs["input"])
            if "outputs" in kwargs:
                kwargs["outputs"] = OutputSpec(**kwargs["outputs"])
            return cls(**kwargs)
        except TypeError as exc:
            raise ModelFileError(f"edgeseq metadata is malformed: {exc}") from None


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int subclass in Python, not in JSON
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


# Longest excerpt of a bad value quoted in an error (a label list can be thousands of characters).
MAX_SHOWN_CHARS = 60


def _check_type(key: str, value: Any, expected: tuple[Callable[[Any], bool], str]) -> None:
    """Raise a one-line ModelFileError naming ``key`` unless ``value`` is what ``expected`` accepts."""
    accepts, what = expected
    if accepts(value):
        return
    shown = json.dumps(value, sort_keys=True)  # JSON escapes newlines: the message stays one line
    if len(shown) > MAX_SHOWN_CHARS:
        shown = shown[: MAX_SHOWN_CHARS - 3] + "..."
    raise ModelFileError(f"{key}: got {_json_type(value)} {shown}; expected {what}")


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not an index


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


# What each field's parsed JSON must be: (test, wording for the error). Every dataclass field is listed
# (a test checks that), so a new field cannot skip the check.
FIELD_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "task": (_is_str, "a string"),
    "labels": (lambda v: isinstance(v, list) and all(map(_is_str, v)), "an array of strings (the class names)"),
    "alphabet": (_is_str, "a string (the CTC characters)"),
    "blank_index": (_is_int, "an integer"),
    "preprocess": (_is_object, "a JSON object"),
    "input": (_is_object, "a JSON object"),
    "outputs": (_is_object, "a JSON object"),
    "version": (_is_str, "a string"),
    "format_version": (_is_int, "an integer"),
    "source_sha256": (_is_str, "a string"),
    "metrics": (_is_object, "a JSON object"),
    "model": (_is_object, "a JSON object"),
    "exporter": (_is_object, "a JSON object"),
}
# The same for the fields of the objects that become InputSpec and OutputSpec.
NESTED_TYPES: dict[str, dict[str, tuple[Callable[[Any], bool], str]]] = {
    "input": {
        "name": (_is_str, "a string"),
        "layout": (_is_str, "a string"),
        "dtype": (_is_str, "a string"),
        "dynamic_axes": (
            lambda v: _is_object(v) and all(map(_is_str, v.values())),
            "a JSON object of axis names (strings)",
        ),
    },
    "outputs": {
        "logits": (_is_str, "a string"),
        "probabilities": (lambda v: v is None or _is_str(v), "a string or null"),
    },
}


def metadata_of(model: Any) -> ModelMetadata | None:
    """The edgeseq metadata of a loaded ``onnx.ModelProto``, or None for a plain ONNX model.

    Tools that also accept models exported elsewhere (validate, optimize) treat those as
    classification by argmax without labels; a model whose edgeseq metadata is malformed is treated
    the same way here (the Predictor, which needs the metadata, reports the problem instead).
    """
    props = {p.key: p.value for p in model.metadata_props}
    try:
        return ModelMetadata.from_props(props)
    except ModelFileError:
        return None
