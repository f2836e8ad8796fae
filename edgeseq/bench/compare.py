"""``bench compare``: the CI gate between a baseline benchmark record and a new one.

Rows are matched by (model, variant, backend, precision, batch, threads, input shape). The gate
fails when a matched row's p50 latency grew beyond the tolerance, when a row's parity or
accuracy figure changed, or when a baseline row is missing from the new run (a backend that
silently stopped running is a regression too, unless ``allow_missing``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from edgeseq.bench.report import baselines, group_key
from edgeseq.bench.result import BenchResult, BenchRow
from edgeseq.errors import ConfigError

# p50 may grow by 10% before the gate fails: run-to-run noise of p50 on a shared 2-core machine
# measured at a few percent for runs of >= 1 s; 10% keeps the gate quiet on noise and loud on
# a real regression (a lost fusion or a wrong thread count costs 30% or more).
DEFAULT_TOLERANCE = 0.10
# Accuracy and parity are recorded figures, not measurements: they only change when the model
# or the runtime changed. Anything beyond float printing noise counts as a change.
FIGURE_CHANGE_ATOL = 1e-9


@dataclass
class RowDiff:
    """How one matched row changed."""

    key: list[Any]
    base_p50_ms: float | None
    new_p50_ms: float | None
    ratio: float | None  # new / base p50
    status: str  # "ok", "faster", "regression", "changed", "missing", "new", "skipped", "reference"
    detail: str = ""


@dataclass
class CompareResult:
    """Every row's difference and whether the gate passed."""

    tolerance: float
    diffs: list[RowDiff] = field(default_factory=list)
    allow_missing: bool = False
    normalize: bool = False

    @property
    def failures(self) -> list[RowDiff]:
        """Diffs that fail the gate."""
        bad = {"regression", "changed"} | (set() if self.allow_missing else {"missing"})
        return [d for d in self.diffs if d.status in bad]

    @property
    def passed(self) -> bool:
        """Whether the gate passes."""
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "tolerance": self.tolerance,
            "allow_missing": self.allow_missing,
            "normalize": self.normalize,
            "passed": self.passed,
            "failures": len(self.failures),
            "diffs": [asdict(d) for d in self.diffs],
        }

    def table(self) -> str:
        """A text table of the differences."""
        lines = [f"{'status':<11} {'base p50':>10} {'new p50':>10} {'ratio':>7}  row"]
        for d in self.diffs:
            model, variant, backend, precision, batch, threads, shape = d.key
            label = f"{model}{'/' + variant if variant else ''} {backend} {precision} b{batch} t{threads} {'x'.join(map(str, shape))}"
            base = f"{d.base_p50_ms:.3f}" if d.base_p50_ms is not None else "-"
            new = f"{d.new_p50_ms:.3f}" if d.new_p50_ms is not None else "-"
            ratio = f"{d.ratio:.2f}x" if d.ratio is not None else "-"
            lines.append(
                f"{d.status:<11} {base:>10} {new:>10} {ratio:>7}  {label}{'  (' + d.detail + ')' if d.detail else ''}"
            )
        verdict = "PASSED" if self.passed else f"FAILED ({len(self.failures)} row(s))"
        what = "p50 relative to the run's reference row" if self.normalize else "p50"
        lines.append(f"gate {verdict}: {what} may grow by {100 * self.tolerance:.0f}%; parity/accuracy must not change")
        return "\n".join(lines)


def _figure_changed(a: float | None, b: float | None) -> bool:
    if a is None and b is None:
        return False
    if a is None or b is None:
        return True
    return not math.isclose(a, b, rel_tol=0.0, abs_tol=FIGURE_CHANGE_ATOL)


def _row_diff(
    base: BenchRow,
    new: BenchRow,
    tolerance: float,
    base_ref: BenchRow | None = None,
    new_ref: BenchRow | None = None,
    normalize: bool = False,
) -> RowDiff:
    key = list(base.key)
    if base.skipped or new.skipped:
        if base.skipped and not new.skipped:
            return RowDiff(key, None, new.p50_ms, None, "new", "ran now; skipped in the baseline")
        if new.skipped and not base.skipped:
            return RowDiff(key, base.p50_ms, None, None, "missing", f"skipped now: {new.skipped}")
        return RowDiff(key, None, None, None, "skipped", new.skipped or "")
    changes = []
    if _figure_changed(base.accuracy, new.accuracy):
        changes.append(f"accuracy {base.accuracy} -> {new.accuracy}")
    if _figure_changed(base.parity_max_abs_diff, new.parity_max_abs_diff):
        changes.append(f"parity max|diff| {base.parity_max_abs_diff} -> {new.parity_max_abs_diff}")
    ratio = new.p50_ms / base.p50_ms if base.p50_ms and new.p50_ms is not None else None
    note = ""
    if normalize:
        if base_ref is base or new_ref is new:
            return RowDiff(key, base.p50_ms, new.p50_ms, ratio, "reference", "the rows the others are divided by")
        if base_ref and new_ref and base_ref.p50_ms and new_ref.p50_ms and base.p50_ms and new.p50_ms is not None:
            ratio = (new.p50_ms / new_ref.p50_ms) / (base.p50_ms / base_ref.p50_ms)
            note = f" relative to {new_ref.backend}"
        else:
            note = " (raw: no reference row to divide by)"
    if changes:
        return RowDiff(key, base.p50_ms, new.p50_ms, ratio, "changed", "; ".join(changes))
    if ratio is not None and ratio > 1.0 + tolerance:
        return RowDiff(key, base.p50_ms, new.p50_ms, ratio, "regression", f"p50 +{100 * (ratio - 1):.0f}%{note}")
    if ratio is not None and ratio < 1.0 - tolerance:
        return RowDiff(key, base.p50_ms, new.p50_ms, ratio, "faster", f"p50 -{100 * (1 - ratio):.0f}%{note}")
    return RowDiff(key, base.p50_ms, new.p50_ms, ratio, "ok", note.strip())


def compare_results(
    base: BenchResult,
    new: BenchResult,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    allow_missing: bool = False,
    normalize: bool = False,
) -> CompareResult:
    """Compare two benchmark records row by row.

    Args:
        base: the baseline (for example the recorded run in ``benchmarks/results/``).
        new: the run under test.
        tolerance: allowed relative growth of p50 (0.10 = 10%).
        allow_missing: do not fail on baseline rows absent from the new run.
        normalize: compare each row's p50 divided by its run's reference row (PyTorch eager, else
            ORT FP32, at the same batch, threads and size). Two idle runs of the suite on the same
            shared VM differed by +11..19% on every resnet18 row at once (the machine, not the
            code); the ratios within a run moved by a few percent. Use this on shared CI runners.

    Raises:
        ConfigError: a negative tolerance.
    """
    if not 0.0 <= tolerance:
        raise ConfigError(f"--tolerance: got {tolerance}; expected a non-negative fraction such as 0.10")

    new_rows = {tuple(map(_hashable, r.key)): r for r in new.rows}
    result = CompareResult(tolerance=tolerance, allow_missing=allow_missing, normalize=normalize)
    base_refs, new_refs = baselines(base.rows), baselines(new.rows)
    seen = set()
    for b in base.rows:
        k = tuple(map(_hashable, b.key))
        seen.add(k)
        n = new_rows.get(k)
        if n is None:
            result.diffs.append(RowDiff(list(b.key), b.p50_ms, None, None, "missing", "not in the new run"))
        else:
            g = group_key(b)
            result.diffs.append(_row_diff(b, n, tolerance, base_refs.get(g), new_refs.get(group_key(n)), normalize))
    for k, n in new_rows.items():
        if k not in seen:
            result.diffs.append(RowDiff(list(n.key), None, n.p50_ms, None, "new", "not in the baseline"))
    return result


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
