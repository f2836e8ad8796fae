"""``fp32``: the input model, copied (the reference every other variant is measured against)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeseq.fileio import atomic_with_sidecars
from edgeseq.optimization.external import copy_model
from edgeseq.optimization.variants.base import BuildContext, VariantBuilder, register_variant


@dataclass
class Fp32Settings:
    """The reference has no settings of its own."""


@register_variant
class Fp32Builder(VariantBuilder[Fp32Settings]):
    """The input model, copied: the reference."""

    name = "fp32"
    precision = "fp32"
    order = 0
    settings_type = Fp32Settings

    def build(self, ctx: BuildContext, settings: Fp32Settings, dst: Path) -> dict[str, Any]:
        """Copy the input model to ``dst`` (its external data, if any, to ``<dst name>.data``)."""
        with atomic_with_sidecars(dst) as out:
            copy_model(ctx.model, out)
        return {}
