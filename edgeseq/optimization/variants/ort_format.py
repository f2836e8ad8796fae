"""``ort``: the ORT format (``.ort``) for mobile and minimal onnxruntime builds, via onnxruntime's conversion tool.

Runs ``python -m onnxruntime.tools.convert_onnx_models_to_ort`` in a child process (it creates an
onnxruntime session, which could crash, and writes files non-atomically), in a temporary folder,
then moves the ``.ort`` model and its reduced-operator config (``--include_ops_by_config`` input of
a minimal onnxruntime build) into place atomically. The source is another variant (``ort_source``).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeseq.errors import ConfigError, ExportError, InputError
from edgeseq.fileio import write_bytes_atomic, write_text_atomic
from edgeseq.optimization.external import has_external_data
from edgeseq.optimization.variants.base import (
    BuildContext,
    VariantBuilder,
    builder,
    register_variant,
    variant_names,
)
from edgeseq.runtime.isolation import describe_returncode

TARGET_PLATFORMS = ("arm", "amd64")
# Converting a small model takes ~1 s; large ones a few seconds.
CONVERT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class OrtFormatOutput:
    """The files :func:`convert_to_ort` wrote."""

    model: Path  # the .ort model
    config: Path  # the required-operators config for a reduced build


def _tool_command(model_copy: Path, out_dir: Path, target_platform: str | None) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "onnxruntime.tools.convert_onnx_models_to_ort",
        "--output_dir",
        str(out_dir),
        "--optimization_style=Fixed",
    ]
    if target_platform:
        cmd.append(f"--target_platform={target_platform}")
    return [*cmd, str(model_copy)]


def _run_tool(cmd: list[str], timeout_s: float) -> None:
    """Run the conversion tool; a failure, crash or timeout becomes an ExportError."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ExportError(f"ORT format conversion timed out after {timeout_s:g} s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no message").splitlines()[-1][:300]
        raise ExportError(f"ORT format conversion failed ({describe_returncode(proc.returncode)}): {last}")


def convert_to_ort(
    src: str | Path, dst: str | Path, target_platform: str | None = None, timeout_s: float = CONVERT_TIMEOUT_S
) -> OrtFormatOutput:
    """Convert the ONNX model ``src`` to the ORT format at ``dst`` (``*.ort``).

    The config is written beside it as ``<dst stem>.required_operators.config``.

    Args:
        src: the ONNX model.
        dst: the .ort path to write.
        target_platform: ``"arm"`` or ``"amd64"`` (the tool's ``--target_platform``); ``None`` for its default.
        timeout_s: give up after this many seconds.

    Raises:
        ConfigError: an unknown target platform or a ``dst`` not ending in ``.ort``.
        ExportError: the tool failed or crashed, or ``src`` keeps weights in external data (the ORT
            format has none).
    """
    dst = Path(dst)
    if dst.suffix != ".ort":
        raise ConfigError(f"ORT format output: got {str(dst)!r}; expected a path ending in .ort")
    if target_platform is not None and target_platform not in TARGET_PLATFORMS:
        raise ConfigError(
            f"ort_target_platform: got {target_platform!r}; expected one of: {', '.join(TARGET_PLATFORMS)}"
        )
    src = Path(src).resolve()
    if has_external_data(src):
        raise ExportError(
            f"{src.name} keeps its weights in external data files; the ORT format holds one file under 2 GiB, "
            "so this model has no ORT-format variant"
        )
    with tempfile.TemporaryDirectory(prefix="edgeseq-ort-") as tmp_name:
        tmp = Path(tmp_name)
        model_copy = tmp / "in" / f"{dst.stem}.onnx"  # the tool names its outputs after the input
        model_copy.parent.mkdir()
        model_copy.write_bytes(src.read_bytes())
        _run_tool(_tool_command(model_copy, tmp / "out", target_platform), timeout_s)
        produced = tmp / "out" / f"{dst.stem}.ort"
        configs = sorted((tmp / "out").glob("*.config"))
        if not produced.is_file() or not configs:
            raise ExportError(f"ORT format conversion wrote no .ort model or config in {tmp / 'out'}")
        config_path = dst.with_name(f"{dst.stem}.required_operators.config")
        # the tool records the temporary path it read; name the shipped file instead
        config_text = configs[0].read_text(encoding="utf-8").replace(str(produced), dst.name)
        write_bytes_atomic(dst, produced.read_bytes())
        write_text_atomic(config_path, config_text)
    return OrtFormatOutput(model=dst, config=config_path)


@dataclass
class OrtFormatSettings:
    """``[optimize]`` keys of the ``ort`` variant."""

    ort_source: str = "fp32"  # the variant converted to the .ort format
    ort_target_platform: str | None = None  # "arm" | "amd64" | None (the conversion tool's default)

    def __post_init__(self) -> None:
        if self.ort_target_platform not in (None, *TARGET_PLATFORMS):
            raise ConfigError(
                f'optimize.ort_target_platform: got {self.ort_target_platform!r}; expected "arm" or "amd64"'
            )


@register_variant
class OrtFormatBuilder(VariantBuilder[OrtFormatSettings]):
    """The ORT format of another variant, plus its reduced-operator config."""

    name = "ort"
    precision = "as source"
    order = 90
    settings_type = OrtFormatSettings
    suffix = ".ort"

    def check(self, settings: OrtFormatSettings, variants: Sequence[str]) -> None:
        """``ort_source`` must be a non-ort variant, and built in this run when ``ort`` is requested.

        Raises:
            ConfigError: naming ``optimize.ort_source``.
        """
        source = settings.ort_source
        if self.name in variants and source != "fp32" and source not in variants:
            raise ConfigError(
                f"optimize.ort_source: got {source!r}, which is not among optimize.variants; "
                "expected 'fp32' or one of the requested variants"
            )
        if source == self.name or source not in variant_names():
            raise ConfigError(f"optimize.ort_source: got {source!r}; expected a non-ort variant name")

    def row_precision(self, settings: OrtFormatSettings) -> str:
        """The source variant's precision."""
        return builder(settings.ort_source).precision

    def build(self, ctx: BuildContext, settings: OrtFormatSettings, dst: Path) -> dict[str, Any]:
        """Convert the built ``ort_source`` variant to ``dst``.

        Raises:
            InputError: the source variant was not built or was rejected.
            ExportError: the conversion tool failed.
        """
        source = ctx.built.get(settings.ort_source)
        if source is None:
            raise InputError(f"ort_source {settings.ort_source!r} was not built (it was rejected or failed)")
        out = convert_to_ort(source, dst, settings.ort_target_platform)
        return {
            "source": settings.ort_source,
            "config_file": out.config.name,
            "target_platform": settings.ort_target_platform,
        }
