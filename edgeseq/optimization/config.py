"""The ``[optimize]`` table: the keys every variant shares, and the builders' own keys passed on to them.

The table is flat (``per_channel = true``, ``--set optimize.graph_level=all``). :class:`OptimizeConfig`
holds the shared keys as fields; every other key belongs to a settings dataclass — the INT8 policy's
(:class:`~edgeseq.optimization.int8.Int8Settings`) or a variant builder's (``settings_type`` of each
builder in :mod:`edgeseq.optimization.variants`) — and is kept, validated and with every default
filled in, in :attr:`OptimizeConfig.variant_options`. :meth:`OptimizeConfig.settings_for` hands a
builder its settings. A key no one declares is refused with one line naming it.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from edgeseq.bench.sidebyside import DEFAULT_LATENCY_RUNS
from edgeseq.config import _choice, from_dict
from edgeseq.errors import ConfigError
from edgeseq.optimization.gate import DEFAULT_MAX_ACCURACY_DROP
from edgeseq.optimization.int8 import Int8Settings
from edgeseq.optimization.variants import builder, variant_names
from edgeseq.runtime.options import GraphLevel

S = TypeVar("S")

TARGETS = ("cpu", "cuda", "mobile")
DEFAULT_VARIANTS = ("fp32", "ort-opt", "int8-static", "int8-dynamic", "int8-mixed")


def settings_types() -> list[type]:
    """The settings dataclasses whose keys the ``[optimize]`` table may hold besides the shared ones.

    The INT8 policy's first, then each builder's in build order (a type shared by builders once).
    """
    kinds: list[type] = [Int8Settings]
    for name in variant_names():
        kind = builder(name).settings_type
        if kind not in kinds:
            kinds.append(kind)
    return kinds


def variant_option_defaults() -> dict[str, Any]:
    """Every builder-owned key with its default, in :func:`settings_types` order."""
    defaults: dict[str, Any] = {}
    for kind in settings_types():
        instance = kind()
        for f in dataclasses.fields(instance):
            defaults.setdefault(f.name, getattr(instance, f.name))
    return defaults


def _shared_keys() -> list[str]:
    return [f.name for f in dataclasses.fields(OptimizeConfig) if f.name != "variant_options"]


def _unknown_key(key: str) -> ConfigError:
    """The one-line error for a key no one declares (the same form as :func:`edgeseq.config.from_dict`'s)."""
    names = [*_shared_keys(), *variant_option_defaults()]
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"unknown key {f'optimize.{key}'!r}{hint}; expected one of: {', '.join(names)}")


def _normalize_options(given: dict[str, Any]) -> dict[str, Any]:
    """Every builder-owned key: ``given``'s value (type-checked and validated by its settings) or the default.

    Raises:
        ConfigError: an unknown key, a wrong type or an invalid value, naming ``optimize.<key>``.
    """
    defaults = variant_option_defaults()
    for key in given:
        if key not in defaults:
            raise _unknown_key(key)
    values: dict[str, Any] = {}
    for kind in settings_types():
        names = [f.name for f in dataclasses.fields(kind)]
        instance = from_dict(kind, {k: given[k] for k in names if k in given}, prefix="optimize")
        for name in names:
            values.setdefault(name, getattr(instance, name))
    return {key: values[key] for key in defaults}


@dataclass(init=False)
class OptimizeConfig:
    """The ``[optimize]`` table of an export profile (errors name ``optimize.<key>``).

    Fields are the keys every variant shares. ``variant_options`` holds the builders' own keys
    (``calibration_method``, ``graph_level``, ``conv_kernel``, ``fp16_keep_io_types``, ``ort_source``, ...),
    each at its default unless given. Like the TOML table, the constructor takes them as plain keywords
    (``OptimizeConfig(conv_kernel="symmetric")``) or as ``variant_options={...}``; :meth:`to_json` is flat.

    Raises:
        ConfigError: an unknown key or a bad value, naming ``optimize.<key>``.
    """

    variants: list[str]
    target: str  # cpu | cuda | mobile: which device the recommendation is for
    calibration_samples: int  # samples fed to the calibrator
    session_graph_level: str  # session level used to measure every variant (a GraphLevel short name)
    max_accuracy_drop: float  # points of accuracy (or CER) a variant may lose
    min_agreement: float | None  # percent of predictions that must equal FP32's (None: not checked)
    threads: int  # intra-op threads for measuring; 0: the physical cores
    latency_runs: int  # batch-1 runs per variant (median reported); 0 skips latency
    eval_batch: int  # batch size when running the evaluation samples
    max_eval_samples: int  # cap on held-out samples for the gate
    session_check_timeout_s: float
    seed: int
    variant_options: dict[str, Any]  # the builders' own keys, every one filled in (see the class doc)

    def __init__(
        self,
        *,
        variants: Sequence[str] = DEFAULT_VARIANTS,
        target: str = "cpu",
        calibration_samples: int = 64,
        session_graph_level: str = "all",
        max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP,
        min_agreement: float | None = None,
        threads: int = 0,
        latency_runs: int = DEFAULT_LATENCY_RUNS,
        eval_batch: int = 32,
        max_eval_samples: int = 2000,
        session_check_timeout_s: float = 120.0,
        seed: int = 0,
        variant_options: Mapping[str, Any] | None = None,
        **variant_keys: Any,
    ) -> None:
        self.variants = list(variants)
        self.target = target
        self.calibration_samples = calibration_samples
        self.session_graph_level = session_graph_level
        self.max_accuracy_drop = max_accuracy_drop
        self.min_agreement = min_agreement
        self.threads = threads
        self.latency_runs = latency_runs
        self.eval_batch = eval_batch
        self.max_eval_samples = max_eval_samples
        self.session_check_timeout_s = session_check_timeout_s
        self.seed = seed
        self.variant_options = {**(variant_options or {}), **variant_keys}
        self._check_variants()
        _choice("optimize.target", self.target, TARGETS)
        _choice("optimize.session_graph_level", self.session_graph_level, tuple(level.value for level in GraphLevel))
        self.session_graph_level = GraphLevel(self.session_graph_level).value
        self._check_numbers()
        self.variant_options = _normalize_options(self.variant_options)
        for name in variant_names():
            builder(name).check(self.settings_for(name), self.variants)

    def _check_variants(self) -> None:
        known = tuple(variant_names())
        if not self.variants:
            raise ConfigError("optimize.variants: got an empty list; expected some of: " + ", ".join(known))
        for name in self.variants:
            _choice("optimize.variants", name, known)
        if len(set(self.variants)) != len(self.variants):
            raise ConfigError(f"optimize.variants: got duplicates in {self.variants!r}; expected each variant once")

    def _check_numbers(self) -> None:
        for key in ("calibration_samples", "eval_batch", "max_eval_samples", "threads", "latency_runs", "seed"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"optimize.{key}: got {value!r}; expected an integer")
        for key in ("max_accuracy_drop", "min_agreement", "session_check_timeout_s"):
            value = getattr(self, key)
            if value is None and key == "min_agreement":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"optimize.{key}: got {value!r}; expected a finite number")
        # points of accuracy (or CER) a variant may lose: a negative drop would demand beating FP32
        if not 0 <= self.max_accuracy_drop <= 100:
            raise ConfigError(
                f"optimize.max_accuracy_drop: got {self.max_accuracy_drop!r}; expected points from 0 to 100"
            )
        if self.min_agreement is not None and not 0 <= self.min_agreement <= 100:
            raise ConfigError(f"optimize.min_agreement: got {self.min_agreement!r}; expected a percentage 0..100")
        for key in ("calibration_samples", "eval_batch", "max_eval_samples"):
            if getattr(self, key) < 1:
                raise ConfigError(f"optimize.{key}: got {getattr(self, key)!r}; expected a positive integer")
        for key in ("threads", "latency_runs", "seed"):
            if getattr(self, key) < 0:
                raise ConfigError(f"optimize.{key}: got {getattr(self, key)!r}; expected a non-negative integer")
        if self.session_check_timeout_s <= 0:
            raise ConfigError(f"optimize.session_check_timeout_s: got {self.session_check_timeout_s!r}; expected > 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OptimizeConfig:
        """Build from the raw, flat ``[optimize]`` table (unknown keys and wrong types raise ConfigError).

        Shared keys become fields; every other declared key goes to ``variant_options``.
        """
        shared = set(_shared_keys())
        defaults = variant_option_defaults()
        for key in data:
            if key not in shared and key not in defaults:
                raise _unknown_key(key)
        options = {k: v for k, v in data.items() if k in defaults}
        table = {k: v for k, v in data.items() if k in shared}
        config: OptimizeConfig = from_dict(cls, {**table, "variant_options": options}, prefix="optimize")
        return config

    def to_json(self) -> dict[str, Any]:
        """A JSON-able, flat dict: the shared keys and the builders' own keys side by side (as in TOML)."""
        out = dataclasses.asdict(self)
        options = out.pop("variant_options")
        return {**out, **options}

    def ordered_variants(self) -> list[str]:
        """The requested variants in build order; fp32 (the reference) always first."""
        wanted = set(self.variants) | {"fp32"}
        return [name for name in variant_names() if name in wanted]

    def settings(self, kind: type[S]) -> S:
        """The settings dataclass ``kind`` filled from ``variant_options`` (e.g. :class:`Int8Settings`)."""
        names = [f.name for f in dataclasses.fields(kind)]  # type: ignore[arg-type]  # kind is a dataclass
        result: S = from_dict(kind, {name: self.variant_options[name] for name in names}, prefix="optimize")
        return result

    def settings_for(self, name: str) -> Any:
        """The settings of the variant builder ``name`` (its ``settings_type``), filled from this config.

        Raises:
            ConfigError: an unknown variant name.
        """
        return self.settings(builder(name).settings_type)
