"""The optimize report: one :class:`VariantResult` row per variant, the :class:`OptimizeResult`, and its Markdown table.

``optimize_report.json`` holds :meth:`OptimizeResult.to_json`; ``optimize_report.md`` holds
:meth:`OptimizeResult.table`. Graph levels are stored by their short names (``"all"``, ``"extended"``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edgeseq.optimization.gate import Score

REPORT_JSON = "optimize_report.json"
REPORT_MD = "optimize_report.md"


@dataclass
class VariantResult:
    """One row of the report."""

    name: str
    precision: str
    path: str | None = None
    size_bytes: int | None = None
    status: str = "rejected"  # reference | accepted | rejected
    reason: str = ""
    score: Score | None = None
    delta: float | None = None  # metric minus FP32's metric, in points
    speedup: float | None = None  # FP32 p50 / this p50
    ops_left_float: dict[str, int] | None = None
    op_histogram: dict[str, int] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    session_graph_level: str = ""  # the level it was measured at: a GraphLevel short name ("all", "extended")
    build_s: float = 0.0

    @property
    def usable(self) -> bool:
        """Accepted by the gate (or the FP32 reference)."""
        return self.status in ("reference", "accepted")

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        out = asdict(self)
        out["score"] = self.score.to_json() if self.score else None
        return out


@dataclass
class OptimizeResult:
    """Everything :func:`optimize` did: one row per variant and the recommendation."""

    model: str
    out_dir: str
    target: str
    variants: list[VariantResult]
    recommended: str | None
    recommendation_reason: str
    config: dict[str, Any]
    cpu: dict[str, Any]
    int8: dict[str, Any]
    calibration: str
    evaluation: str
    providers: list[str]
    environment: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def variant(self, name: str) -> VariantResult:
        """The row for ``name``.

        Raises:
            KeyError: no such variant was built.
        """
        for row in self.variants:
            if row.name == name:
                return row
        raise KeyError(name)

    @property
    def all_optimized_rejected(self) -> bool:
        """Whether every variant other than fp32 was rejected (and at least one was asked for)."""
        others = [row for row in self.variants if row.name != "fp32"]
        return bool(others) and not any(row.usable for row in others)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (what ``optimize_report.json`` holds)."""
        out = asdict(self)
        out["variants"] = [row.to_json() for row in self.variants]
        return out

    def table(self) -> str:
        """The report as a Markdown table, with the recommendation below it."""
        lines = [] if accuracy_measured(self.variants) else [f"**{NOT_MEASURED}**", ""]
        lines += ["| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
        for row in self.variants:
            lines.append("| " + " | ".join(_cells(row, recommended=row.name == self.recommended)) + " |")
        lines.append("")
        lines.append(f"Recommended for {self.target}: {self.recommended or 'none'} — {self.recommendation_reason}")
        return "\n".join(lines)


TABLE_HEADER = (
    "variant",
    "precision",
    "size",
    "metric",
    "Δ vs fp32",
    "agreement",
    "max diff",
    "p50 ms",
    "× fp32",
    "status",
    "ops left float",
)


def _cells(row: VariantResult, recommended: bool) -> list[str]:
    """One table row's cells, in :data:`TABLE_HEADER` order ("–" where nothing was measured)."""
    s = row.score
    metric = f"{s.metric_name} {s.metric:.2f}%" if s and s.metric is not None else "–"
    status = row.status + (f": {row.reason}" if row.reason else "")
    if recommended:
        status = "**recommended** " + status
    if row.ops_left_float:
        ops_left = ", ".join(f"{k}×{v}" for k, v in row.ops_left_float.items())
    else:
        ops_left = "none" if row.ops_left_float == {} else "–"
    return [
        row.name,
        row.precision,
        _size(row.size_bytes),
        metric,
        f"{row.delta:+.2f}" if row.delta is not None else "–",
        f"{s.agreement:.1f}%" if s and s.agreement is not None else "–",
        f"{s.max_abs_diff:.3g}" if s and s.max_abs_diff is not None else "–",
        f"{s.p50_ms:.2f}" if s and s.p50_ms is not None else "–",
        f"{1 / row.speedup:.2f}" if row.speedup else "–",
        status,
        ops_left,
    ]


def _size(n: int | None) -> str:
    if n is None:
        return "–"
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


NOT_MEASURED = (
    "accuracy not measured: no labelled evaluation data (--checkpoint CKPT or --calibration DATA), so every "
    "variant was compared with FP32 on random inputs only (agreement and max difference)"
)


def accuracy_measured(rows: list[VariantResult]) -> bool:
    """Whether the FP32 reference was scored on labelled samples (accuracy or CER), not only agreement."""
    reference = next((r for r in rows if r.name == "fp32"), None)
    return reference is not None and reference.score is not None and reference.score.metric is not None


def _fastest(rows: list[VariantResult]) -> tuple[float, str] | None:
    timed = [(r.score.p50_ms, r.name) for r in rows if r.score and r.score.p50_ms is not None]
    return min(timed, key=lambda item: item[0]) if timed else None


def _not_built_cause(rows: list[VariantResult], name: str) -> str:
    """Why ``name`` is not usable: its reason, or (for "'<source>' was not built") the source's, to the first cause."""
    by_name = {r.name: r for r in rows}
    row = by_name[name]
    for _ in rows:  # a chain of sources is at most as long as the rows
        source = next((o for o in by_name if o != row.name and f"'{o}' was not built" in row.reason), None)
        if source is None:
            break
        row = by_name[source]
    return f"{row.name}: {row.reason}"


def _recommend_mobile(rows: list[VariantResult]) -> tuple[str | None, str]:
    by_name = {r.name: r for r in rows}
    ort_row = by_name.get("ort")
    if ort_row is None:
        return None, "no .ort variant was asked for (add 'ort' to optimize.variants)"
    if not ort_row.usable:
        return None, f"the .ort variant is not usable ({_not_built_cause(rows, 'ort')})"
    fp32 = by_name.get("fp32")
    ort_ms = ort_row.score.p50_ms if ort_row.score else None
    fp32_ms = fp32.score.p50_ms if fp32 and fp32.score else None
    if fp32 is not None and ort_ms is not None and fp32_ms is not None and ort_ms > fp32_ms:
        return "fp32", (
            f"the .ort variant ran {ort_ms / fp32_ms:.2f}x slower than fp32 on this machine ({ort_ms:.2f} vs "
            f"{fp32_ms:.2f} ms p50; {_size(ort_row.size_bytes)} vs {_size(fp32.size_bytes)}): the ORT format keeps "
            "only the graph optimizations that run on every CPU; use ort.ort for a minimal onnxruntime build and "
            "measure it on the device"
        )
    unmeasured = "" if accuracy_measured(rows) else "; accuracy not measured (random inputs: agreement only)"
    return "ort", "the ORT format for mobile/minimal builds, accepted by the gate" + unmeasured


def recommend(rows: list[VariantResult], target: str, measured_on_cuda: bool) -> tuple[str | None, str]:
    """The variant to deploy on ``target`` and why (one line).

    * mobile: the accepted ``ort`` variant, unless it ran slower than fp32 here (then fp32, saying why).
    * cuda measured on CPU: the accepted ``fp16`` variant, else fp32 (CPU latency says nothing about the GPU).
    * otherwise: the fastest accepted variant (FP16 only for cuda; never the .ort file).
    * without labelled evaluation data: nothing — agreement on random inputs is not accuracy; the reason
      names the fastest variant that agreed, so the latency finding is not lost.
    """
    usable = [r for r in rows if r.usable]
    if target == "mobile":
        return _recommend_mobile(rows)
    if target == "cuda" and not measured_on_cuda:
        if any(r.name == "fp16" for r in usable):
            return "fp16", "accepted by the gate; latency was measured on CPU, not on the GPU"
        return "fp32", "no accepted fp16 variant; latency was measured on CPU, not on the GPU"
    candidates = [r for r in usable if r.name != "ort" and (target == "cuda" or r.precision != "fp16")]
    fastest = _fastest(candidates)
    if not accuracy_measured(rows):
        found = f"; fastest agreeing with FP32: {fastest[1]} ({fastest[0]:.2f} ms p50)" if fastest else ""
        return None, f"accuracy not measured (pass --checkpoint or --calibration to gate on real data){found}"
    if fastest is None:
        return ("fp32", "no latency measured; the reference model") if candidates else (None, "nothing accepted")
    p50, name = fastest
    return name, f"the fastest accepted variant ({p50:.2f} ms p50 at batch 1)"
