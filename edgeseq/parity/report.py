"""What a parity check found: tolerances, one row per case and output, the report and its table/JSON forms."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgeseq.errors import ConfigError

# fp32 on CPU: the same maths in a different kernel order (MKL-DNN/ATen vs MLAS) differs by a few
# ulp per op. Measured on this stack: <= 4e-7 for CRNNs and < 1e-5 for resnet18-rows-lstm at
# 224x224 with random weights (docs/traps.md #1 and the export tests). ATOL leaves an order of
# magnitude of headroom above that while staying far below any real export bug (a wrong weight
# or a frozen axis gives differences of 1e-2 or more).
PARITY_ATOL = 1e-4
# relative part of the elementwise bound |onnx - torch| <= atol + rtol * |torch|, for large logits
# (random-weight deep backbones produce values in the hundreds, where 1e-4 is below fp32 resolution).
PARITY_RTOL = 1e-4
# cosine similarity of the flattened outputs; fp32 rounding leaves it at 1 - 1e-12 or closer
PARITY_MIN_COSINE = 0.99999
# torch margins between the two best classes below this are ties: argmax may differ there legitimately
TOP1_TIE_MARGIN = PARITY_ATOL

# PyTorch dynamic-int8 module vs the ONNX Runtime dynamic-int8 graph made from its float copy (the second
# figure of edgeseq.pipeline.torch_quantized). These are two different int8 schemes, not one computed twice:
# PyTorch rounds weights to -128..127 (scale max|w|/127.5) and quantizes activations per call; ONNX Runtime
# re-rounds the dequantized weights with its own scale (max|w|/127) and activation ranges. Measured on this
# stack (torch 2.14.1, onnxruntime 1.32, AMD EPYC with VNNI): a trained 2-layer-BiLSTM text-line CRNN on 32
# real lines and random inputs, and random-weight CRNNs (EasyOCR-style, 2-layer BiLSTM, edgeseq's tiny CTC
# model; 3 seeds each) at batch 1/3 and three widths: worst max|diff| 2.0e-2 of the output's max |torch|
# (1.3e-2 for the trained model), cosine >= 0.99995, top-1 per timestep >= 0.984 counting ties. PyTorch
# float vs PyTorch int8 differs by the same order (up to 1.5e-2), so this is the size of int8 error itself;
# a wrong weight or a lost axis gives differences of the order of the output range, far above these bounds.
INT8_RANGE_RTOL = 0.05  # |diff| <= atol + 0.05 * max|torch| of the output: 2.5x the worst measured
INT8_MIN_COSINE = 0.9995  # 10x the worst measured distance from 1
# argmax positions that must agree where torch's two best classes are further apart than the elementwise
# allowance (closer ones are ties at this precision); measured 1.0 on every model above
INT8_MIN_TOP1 = 0.98


@dataclass
class ParityTolerances:
    """Thresholds a parity check applies; the defaults are the fp32 constants above.

    Elementwise ``|onnx - torch| <= atol + rtol * |torch| + range_rtol * max|torch|`` (the maximum over the
    output of the case), cosine similarity >= ``min_cosine``, at most ``1 - min_top1`` of the argmax positions
    disagreeing where torch is not at a tie (its two best classes closer than the elementwise allowance), and (CTC) greedy-decoded sequences agreeing on ``min_sequence``
    of the inputs when any position disagrees. The defaults allow no disagreement at all.
    """

    atol: float = PARITY_ATOL
    rtol: float = PARITY_RTOL
    min_cosine: float = PARITY_MIN_COSINE
    range_rtol: float = 0.0
    min_top1: float = 1.0
    min_sequence: float = 1.0

    def __post_init__(self) -> None:
        for key in ("atol", "rtol", "range_rtol"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ConfigError(f"tolerances.{key}: got {value!r}; expected a non-negative number")
        for key in ("min_cosine", "min_top1", "min_sequence"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"tolerances.{key}: got {value!r}; expected 0 <= value <= 1")

    def describe(self) -> str:
        """The thresholds in one line, as the table's footer prints them."""
        bound = f"{self.atol:g} + {self.rtol:g}*|torch|"
        if self.range_rtol:
            bound += f" + {self.range_rtol:g}*max|torch|"
        text = f"|onnx - torch| <= {bound}, cosine >= {self.min_cosine}"
        if self.min_top1 < 1.0:
            text += f", top-1 >= {self.min_top1}"
        return text


# the int8 thresholds above as tolerances; sequences are reported, not gated (random inputs diverge legitimately)
INT8_TOLERANCES = ParityTolerances(
    atol=PARITY_ATOL,
    rtol=0.0,
    min_cosine=INT8_MIN_COSINE,
    range_rtol=INT8_RANGE_RTOL,
    min_top1=INT8_MIN_TOP1,
    min_sequence=0.0,
)


@dataclass
class ParityRow:
    """One output compared on one input case."""

    case: str  # "random", "size", "inputs" or "sample"
    output: str
    input_shape: list[int]
    torch_shape: list[int] | None = None
    onnx_shape: list[int] | None = None
    max_abs: float | None = None
    max_rel: float | None = None
    cosine: float | None = None
    top1: float | None = None  # fraction of argmax positions that agree
    sequence: float | None = None  # CTC: fraction of greedy-decoded sequences that agree
    passed: bool = False
    problems: list[str] = field(default_factory=list)


# the figures worst() reports: (its key, the row's field, True when larger is worse)
_WORST = (
    ("max_abs", "max_abs", True),
    ("max_rel", "max_rel", True),
    ("min_cosine", "cosine", False),
    ("min_top1", "top1", False),
)


@dataclass
class ParityReport:
    """The result of :func:`edgeseq.parity.check_parity`: every row, every failure and the worst figures."""

    onnx_path: str
    passed: bool
    rows: list[ParityRow]
    failures: list[str]
    tolerances: ParityTolerances
    input_name: str = ""
    input_layout: str = "NCHW"
    dynamic_axes: dict[str, str] = field(default_factory=dict)
    sizes: list[list[int]] = field(default_factory=list)  # (height, width) of every case run
    seconds: float = 0.0

    def worst(self) -> dict[str, dict[str, float | None]]:
        """Per output: the largest differences and the lowest agreement over all cases."""
        out: dict[str, dict[str, float | None]] = {}
        for row in self.rows:
            w = out.setdefault(row.output, {key: None for key, _, _ in _WORST})
            for key, attr, larger_is_worse in _WORST:
                value, current = getattr(row, attr), w[key]
                if value is None:
                    continue
                # the comparisons of max()/min(): a NaN already held stays, a NaN offered is not taken
                if current is None or (value > current if larger_is_worse else value < current):
                    w[key] = value
        return out

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (non-finite numbers become strings)."""
        return _jsonable(
            {
                "onnx_path": self.onnx_path,
                "passed": self.passed,
                "failures": self.failures,
                "tolerances": asdict(self.tolerances),
                "input_name": self.input_name,
                "input_layout": self.input_layout,
                "dynamic_axes": self.dynamic_axes,
                "sizes": self.sizes,
                "cases": len({(r.case, tuple(r.input_shape)) for r in self.rows}),
                "worst": self.worst(),
                "seconds": round(self.seconds, 3),
                "rows": [asdict(r) for r in self.rows],
            }
        )

    def to_table(self) -> str:
        """A readable text table: one line per case and output, then the failures."""
        header = ("case", "output", "input", "max_abs", "max_rel", "cosine", "top1", "seq", "ok")
        lines = [header]
        for r in self.rows:
            lines.append(
                (
                    r.case,
                    r.output,
                    "x".join(str(d) for d in r.input_shape),
                    _fmt(r.max_abs),
                    _fmt(r.max_rel),
                    _fmt(r.cosine, ".7f"),
                    _fmt(r.top1, ".3f"),
                    _fmt(r.sequence, ".3f"),
                    "ok" if r.passed else "FAIL",
                )
            )
        widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
        text = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
        verdict = "PASSED" if self.passed else f"FAILED ({len(self.failures)} problem(s))"
        text.append(f"parity {verdict}: {self.tolerances.describe()}")
        text.extend(f"  - {f}" for f in self.failures)
        return "\n".join(text)


def _fmt(value: float | None, spec: str = ".2e") -> str:
    return "-" if value is None else format(value, spec)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    return obj
