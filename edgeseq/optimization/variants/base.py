"""The variant builder interface, the registry the builders join, and what they share during one run.

A builder turns the input model into one variant file (``<name>.onnx``, or ``ort.ort``). It carries its
own small settings dataclass (``settings_type``), filled from the flat ``[optimize]`` keys it declares
(see :class:`~edgeseq.optimization.config.OptimizeConfig`); ``build`` returns what the report and the
manifest record as the variant's settings. Builders register under their name with
:func:`register_variant`; their ``order`` is the build order (fp32, the reference, first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from edgeseq.errors import InputError
from edgeseq.optimization.int8 import Int8Choice
from edgeseq.optimization.quantization import preprocess_for_quantization
from edgeseq.optimization.samples import SampleSet
from edgeseq.registry import Registry

S = TypeVar("S")


@dataclass
class BuildContext:
    """What the variant builders share during one :func:`~edgeseq.optimization.optimize` call.

    Attributes:
        model: the input ONNX model.
        work: a temporary folder for intermediate files.
        int8: the INT8 choice for this CPU and profile.
        calibration: calibration samples (None: none were given).
        input_name: the model's first input.
        built: variants built and accepted so far, name -> file (the ORT format converts one of them).
    """

    model: Path
    work: Path
    int8: Int8Choice
    calibration: SampleSet | None
    input_name: str
    built: dict[str, Path] = field(default_factory=dict)
    _preprocessed: Path | None = None

    def preprocessed(self) -> Path:
        """The model after ``quant_pre_process`` (made once, shared by the INT8 variants)."""
        if self._preprocessed is None:
            self._preprocessed = preprocess_for_quantization(self.model, self.work / "preprocessed.onnx")
        return self._preprocessed

    def need_calibration(self) -> SampleSet:
        """The calibration samples.

        Raises:
            InputError: none were given.
        """
        if self.calibration is None or len(self.calibration) == 0:
            raise InputError("needs calibration samples (--calibration DATA or --checkpoint CKPT)")
        return self.calibration


class VariantBuilder(Generic[S]):
    """Builds one variant. Subclasses set ``name``, ``precision``, ``settings_type`` and implement :meth:`build`."""

    name: ClassVar[str]
    precision: ClassVar[str]  # "fp32", "int8", "fp16" (what the report's precision column says)
    order: ClassVar[int]  # build order: fp32 (the reference) first, the ORT format after its source
    settings_type: type[S]  # a dataclass; its fields are flat [optimize] keys
    suffix: ClassVar[str] = ".onnx"

    @classmethod
    def default_settings(cls) -> S:
        """The settings with every key at its default (what an empty ``[optimize]`` table gives)."""
        return cls.settings_type()

    def filename(self) -> str:
        """The variant's file name in the output folder."""
        return f"{self.name}{self.suffix}"

    def check(self, settings: S, variants: Sequence[str]) -> None:
        """Checks that need the other requested variants (default: none).

        Raises:
            ConfigError: naming the ``optimize.<key>``.
        """

    def row_precision(self, settings: S) -> str:
        """The precision the report shows for this variant."""
        return self.precision

    def build(self, ctx: BuildContext, settings: S, dst: Path) -> dict[str, Any]:
        """Write the variant to ``dst``; returns the settings the report and manifest record.

        Raises:
            EdgeseqError: the variant cannot be built here (missing samples, a failed tool); onnxruntime's
                tools may raise their own exceptions too. Both become the row's reason.
        """
        raise NotImplementedError


# name -> builder class (calling it gives a builder)
VARIANT_BUILDERS: Registry[VariantBuilder[Any]] = Registry("variant")

B = TypeVar("B", bound=type[VariantBuilder[Any]])


def register_variant(cls: B) -> B:
    """Class decorator: register a builder under its ``name`` (a duplicate name raises ValueError)."""
    VARIANT_BUILDERS.register(cls.name)(cls)
    return cls


def builder(name: str) -> VariantBuilder[Any]:
    """The builder registered as ``name``.

    Raises:
        ConfigError: an unknown name (one line with the valid names and the closest match).
    """
    return VARIANT_BUILDERS.get(name)()


def variant_names() -> list[str]:
    """Every registered variant, in build order."""
    return sorted(VARIANT_BUILDERS.names(), key=lambda name: builder(name).order)
