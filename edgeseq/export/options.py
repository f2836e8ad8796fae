"""How to export (:class:`ExportOptions`), what an export produced (:class:`ExportResult`), and the export constants.

Torch-free: profiles (and so the CLI) read :class:`ExportOptions` before torch is imported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeseq.config import from_dict as _dataclass_from_dict
from edgeseq.errors import ConfigError

if TYPE_CHECKING:  # importing edgeseq.parity imports torch; options stays torch-free
    from edgeseq.parity.report import ParityReport

DEFAULT_OPSET = 18  # both exporter paths produce it; the TorchScript path alone could go lower
MIN_OPSET = 14  # lowest opset the TorchScript path is tested at (LSTM/GRU/Softmax semantics settled)
MAX_OPSET = 20  # highest opset the TorchScript exporter of torch 2.x emits
DYNAMO_MIN_OPSET = 18  # the dynamo exporter refuses older opsets (docs/traps.md #10)
EXPORTERS = ("auto", "torchscript", "dynamo")
# the strategies each ``exporter`` setting tries, in order (docs/traps.md #1, #4)
STRATEGIES = {
    "auto": ("torchscript", "dynamo", "dynamo-ep"),
    "torchscript": ("torchscript",),
    "dynamo": ("dynamo", "dynamo-ep"),
}
INPUT_NAME = "images"
LOGITS_NAME = "logits"
PROBABILITIES_NAME = "probabilities"


@dataclass
class ExportOptions:
    """How to export (the ``[export]`` table of a profile).

    Attributes:
        opset: ONNX opset (default 18; 14-20; the dynamo paths need >= 18).
        exporter: "auto" (TorchScript, then dynamo, each verified), "torchscript" or "dynamo".
        static: fix every axis to the example's shape (no dynamic batch or width).
        preprocess_in_graph: uint8 NHWC pixels in; cast, scale, normalise, transpose inside the graph.
        probabilities: add a softmax output ``probabilities`` beside ``logits``.
        simplify: simplify the graph with onnxslim, then verify it again.
        verify: run the parity check (torch vs ONNX Runtime) on every candidate graph.
        require_native_rnn: refuse any RNN cell (``nn.LSTMCell`` & co.), as edgeseq did before it exported
            fixed-length decoder loops unrolled; nn.LSTM/GRU/RNN must be native nodes either way.
    """

    opset: int = DEFAULT_OPSET
    exporter: str = "auto"
    static: bool = False
    preprocess_in_graph: bool = False
    probabilities: bool = False
    simplify: bool = False
    verify: bool = True
    require_native_rnn: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.opset, bool) or not isinstance(self.opset, int):
            raise ConfigError(f"export.opset: got {self.opset!r}; expected an integer from {MIN_OPSET} to {MAX_OPSET}")
        if not MIN_OPSET <= self.opset <= MAX_OPSET:
            raise ConfigError(f"export.opset: got {self.opset}; expected {MIN_OPSET} <= opset <= {MAX_OPSET}")
        if self.exporter not in EXPORTERS:
            raise ConfigError(f"export.exporter: got {self.exporter!r}; expected one of: {', '.join(EXPORTERS)}")
        if self.exporter == "dynamo" and self.opset < DYNAMO_MIN_OPSET:
            raise ConfigError(
                f"export.opset: got {self.opset} with exporter 'dynamo'; expected opset >= {DYNAMO_MIN_OPSET}"
            )
        for key in ("static", "preprocess_in_graph", "probabilities", "simplify", "verify", "require_native_rnn"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"export.{key}: got {getattr(self, key)!r}; expected true or false")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], prefix: str = "export") -> ExportOptions:
        """Build from a TOML table; unknown keys and wrong types raise ConfigError naming the key."""
        options: ExportOptions = _dataclass_from_dict(cls, dict(data), prefix=prefix)
        return options

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return dataclasses.asdict(self)


@dataclass
class ExportResult:
    """What :func:`edgeseq.export.export_onnx` wrote and how."""

    path: Path
    manifest_path: Path
    exporter: str  # the strategy that produced the accepted graph
    opset: int
    seconds: float
    size_bytes: int
    rnn_nodes: dict[str, int]
    dynamic_axes: dict[str, dict[str, str]]  # graph input/output -> {axis: symbolic name}
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    rewrites: list[str] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)  # {"strategy", "ok", "error", "seconds"}
    parity: ParityReport | None = None  # of the accepted graph (None with verify=False)
    simplified: bool = False
    external_data: bool = False
    # loops over RNN cells (decoders): module, kind, steps, exported_as ("unrolled" or "onnx-loop")
    cell_loops: list[dict[str, Any]] = field(default_factory=list)
    # a PyTorch dynamic-quantized model: what was found, and that the float copy was exported (None otherwise)
    torch_quantization: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "path": str(self.path),
            "manifest_path": str(self.manifest_path),
            "exporter": self.exporter,
            "opset": self.opset,
            "seconds": round(self.seconds, 3),
            "size_bytes": self.size_bytes,
            "rnn_nodes": self.rnn_nodes,
            "dynamic_axes": self.dynamic_axes,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "rewrites": self.rewrites,
            "attempts": self.attempts,
            "parity": parity_summary(self.parity),
            "simplified": self.simplified,
            "external_data": self.external_data,
            "cell_loops": self.cell_loops,
            "torch_quantization": self.torch_quantization,
        }

    def summary(self) -> str:
        """A few readable lines for the CLI."""

        def shape(spec: dict[str, Any]) -> str:
            return f"{spec['name']}[{', '.join(str(d) for d in spec['shape'])}]"

        rnn = ", ".join(f"{k}={v}" for k, v in sorted(self.rnn_nodes.items())) or "none"
        lines = [
            f"exported {self.path} ({self.size_bytes / 1e6:.2f} MB) in {self.seconds:.2f} s",
            f"  exporter {self.exporter}, opset {self.opset}, RNN nodes: {rnn}",
            f"  inputs {', '.join(shape(s) for s in self.inputs)} -> outputs {', '.join(shape(s) for s in self.outputs)}",
        ]
        if self.rewrites:
            lines.append(f"  rewrites: {'; '.join(self.rewrites)}")
        lines.extend(f"  {line}" for line in cell_loop_lines(self.cell_loops))
        if self.torch_quantization:
            modules = ", ".join(self.torch_quantization["modules"])
            lines.append(
                f"  PyTorch dynamic quantization ({modules}): exported the float copy with the dequantized weights; "
                "parity below is against that copy"
            )
        if self.parity is not None:
            worst = self.parity.worst()
            figures = ", ".join(
                f"{name} max|diff| {w['max_abs']:.2e}" for name, w in worst.items() if w["max_abs"] is not None
            )
            lines.append(f"  parity {'passed' if self.parity.passed else 'FAILED'}: {figures}")
        lines.append(f"  manifest {self.manifest_path}")
        return "\n".join(lines)


def cell_loop_lines(loops: list[dict[str, Any]]) -> list[str]:
    """One summary line per kind of cell loop: which modules, unrolled to how many steps or one ONNX Loop."""
    lines = []
    unrolled = [loop for loop in loops if loop["exported_as"] == "unrolled"]
    if unrolled:
        steps = sorted({loop["steps"] for loop in unrolled})
        names = ", ".join(f"{loop['module']} ({loop['kind']})" for loop in unrolled)
        lines.append(f"cell loops unrolled to {'/'.join(map(str, steps))} fixed steps: {names}")
    looped = [loop for loop in loops if loop["exported_as"] == "onnx-loop"]
    if looped:
        names = ", ".join(f"{loop['module']} ({loop['kind']})" for loop in looped)
        lines.append(f"scripted cell loops exported as ONNX Loop (steps computed at run time): {names}")
    return lines


def parity_summary(report: ParityReport | None) -> dict[str, Any] | None:
    """The parts of a parity report the manifest and :meth:`ExportResult.to_json` keep (None without a report)."""
    if report is None:
        return None
    data = report.to_json()
    return {k: data[k] for k in ("passed", "worst", "failures", "tolerances", "sizes", "cases", "seconds")}
