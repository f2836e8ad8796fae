"""The ORT format (``.ort``) for mobile and minimal onnxruntime builds, via onnxruntime's conversion tool.

Runs ``python -m onnxruntime.tools.convert_onnx_models_to_ort`` in a child process (it creates an
onnxruntime session, which could crash, and writes files non-atomically), in a temporary folder,
then moves the ``.ort`` model and its reduced-operator config (``--include_ops_by_config`` input of
a minimal onnxruntime build) into place atomically.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgeseq.errors import ConfigError, ExportError
from edgeseq.fileio import write_bytes_atomic, write_text_atomic
from edgeseq.runtime.safety import describe_returncode

TARGET_PLATFORMS = ("arm", "amd64")
# Converting a small model takes ~1 s; large ones a few seconds.
CONVERT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class OrtFormatOutput:
    """The files :func:`convert_to_ort` wrote."""

    model: Path  # the .ort model
    config: Path  # the required-operators config for a reduced build


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
        ExportError: the tool failed or crashed.
    """
    dst = Path(dst)
    if dst.suffix != ".ort":
        raise ConfigError(f"ORT format output: got {str(dst)!r}; expected a path ending in .ort")
    if target_platform is not None and target_platform not in TARGET_PLATFORMS:
        raise ConfigError(
            f"ort_target_platform: got {target_platform!r}; expected one of: {', '.join(TARGET_PLATFORMS)}"
        )
    src = Path(src).resolve()
    with tempfile.TemporaryDirectory(prefix="edgeseq-ort-") as tmp_name:
        tmp = Path(tmp_name)
        model_copy = tmp / "in" / f"{dst.stem}.onnx"  # the tool names its outputs after the input
        model_copy.parent.mkdir()
        model_copy.write_bytes(src.read_bytes())
        cmd = [
            sys.executable,
            "-m",
            "onnxruntime.tools.convert_onnx_models_to_ort",
            "--output_dir",
            str(tmp / "out"),
            "--optimization_style=Fixed",
        ]
        if target_platform:
            cmd.append(f"--target_platform={target_platform}")
        cmd.append(str(model_copy))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise ExportError(f"ORT format conversion timed out after {timeout_s:g} s") from None
        if proc.returncode != 0:
            last = (proc.stderr.strip() or proc.stdout.strip() or "no message").splitlines()[-1][:300]
            raise ExportError(f"ORT format conversion failed ({describe_returncode(proc.returncode)}): {last}")
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
