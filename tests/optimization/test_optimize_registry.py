"""The variant builder registry: one builder per name, each with its own settings dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from edgeseq.errors import ConfigError
from edgeseq.optimization import VARIANTS, OptimizeConfig
from edgeseq.optimization.config import settings_types, variant_option_defaults
from edgeseq.optimization.variants import VARIANT_BUILDERS, VariantBuilder, builder, register_variant, variant_names

BUILD_ORDER = ["fp32", "ort-opt", "int8-static", "int8-dynamic", "int8-mixed", "fp16", "ort"]


def test_the_registry_holds_every_variant_in_build_order() -> None:
    assert variant_names() == BUILD_ORDER == list(VARIANTS)
    assert sorted(VARIANT_BUILDERS.names()) == sorted(BUILD_ORDER)


@pytest.mark.parametrize("name", BUILD_ORDER)
def test_every_builder_has_a_settings_dataclass_with_defaults(name: str) -> None:
    variant = builder(name)
    assert variant.name == name
    assert dataclasses.is_dataclass(variant.settings_type)
    defaults = variant.default_settings()
    assert isinstance(defaults, variant.settings_type)
    # what an empty [optimize] table hands the builder is exactly its defaults
    assert OptimizeConfig().settings_for(name) == defaults
    assert variant.precision in ("fp32", "int8", "fp16", "as source")


def test_a_key_shared_by_builders_has_one_default() -> None:
    """A flat key reaches every builder that declares it, so they must agree on its default."""
    seen: dict[str, object] = {}
    for kind in settings_types():
        instance = kind()
        for f in dataclasses.fields(instance):
            value = getattr(instance, f.name)
            assert seen.setdefault(f.name, value) == value, f.name
    assert set(seen) == set(variant_option_defaults())


def test_a_duplicate_name_is_refused() -> None:
    @dataclass
    class NoSettings:
        pass

    class Again(VariantBuilder[NoSettings]):
        name = "fp32"
        precision = "fp32"
        order = 99
        settings_type = NoSettings

    with pytest.raises(ValueError, match="variant 'fp32' is already registered"):
        register_variant(Again)
    assert builder("fp32").__class__ is not Again


def test_an_unknown_variant_name_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"unknown variant 'int8-statc' \(did you mean 'int8-static'\?\)") as info:
        builder("int8-statc")
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"optimize.variants: got 'int9'; expected one of: fp32, ort-opt") as info:
        OptimizeConfig(variants=["int9"])
    assert "\n" not in str(info.value)
