"""PNG plots of a benchmark (matplotlib, Agg backend: no display needed).

* ``<stem>_latency.png``: one panel per model, p50 latency per variant/backend/precision, one bar per batch size, with
  a whisker up to p90 (p99 on a shared machine is mostly other processes; the table has it) — the side-by-side picture.
* ``<stem>_seqlen.png``: p50 latency versus sequence length (timesteps when the model reports
  them, else the swept width/height), one line per model/backend/precision — only when a
  dynamic axis was swept.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.bench.result import BenchResult, BenchRow
from edgeseq.fileio import atomic_path

DPI = 110  # small files for the repository; still readable
LOG_SCALE_RATIO = 20.0  # slowest / fastest p50 in a panel above this: log axis


def _series_label(row: BenchRow) -> str:
    variant = f"/{row.variant}" if row.variant else ""
    return f"{row.model}{variant}\n{row.backend} {row.precision}"


def _spatial(row: BenchRow) -> tuple[int, int]:
    s = row.input_shape
    return (s[1], s[2]) if row.input_dtype == "uint8" else (s[2], s[3])


def _p50(row: BenchRow) -> float:
    return row.p50_ms if row.p50_ms is not None else 0.0


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)  # never open a window; safe on servers and in CI
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    plt.close(fig)
    return path


@dataclass
class _Panel:
    """One model's bars: series label -> batch -> the row (each series at its first input size)."""

    model: str
    series: dict[str, dict[int, BenchRow]] = field(default_factory=lambda: defaultdict(dict))

    @property
    def batches(self) -> list[int]:
        return sorted({b for by_batch in self.series.values() for b in by_batch})

    @property
    def height(self) -> float:
        """Figure inches: a bar per series and batch."""
        return 0.9 + 0.32 * len(self.series) * max(len(self.batches), 1)


def _latency_panels(measured: list[BenchRow]) -> list[_Panel]:
    panels = []
    for model in dict.fromkeys(r.model for r in measured):
        panel = _Panel(model)
        first_size: dict[str, tuple[int, int]] = {}
        for r in measured:
            if r.model != model:
                continue
            label = f"{r.variant or r.model} · {r.backend} · {r.precision}"
            size = first_size.setdefault(label, _spatial(r))
            if _spatial(r) == size:
                panel.series[label].setdefault(r.batch, r)
        panels.append(panel)
    return panels


def _draw_latency_panel(ax: Any, panel: _Panel, threads: int) -> None:
    labels = list(panel.series)
    batches = panel.batches
    bar_h = 0.8 / len(batches)
    for i, batch in enumerate(batches):
        ys, xs, errs = [], [], []
        for j, label in enumerate(labels):
            r = panel.series[label].get(batch)
            if r is None:
                continue
            ys.append(j + (i - (len(batches) - 1) / 2) * bar_h)
            xs.append(_p50(r))
            errs.append(max((r.p90_ms or 0.0) - _p50(r), 0.0))
        bars = ax.barh(ys, xs, height=bar_h, xerr=[[0] * len(errs), errs], capsize=2, label=f"batch {batch}")
        ax.bar_label(bars, labels=[f"{x:.3g} ms" for x in xs], fontsize=7, padding=3)
    values = [_p50(r) for by_batch in panel.series.values() for r in by_batch.values()]
    if max(values) / max(min(values), 1e-9) > LOG_SCALE_RATIO:
        ax.set_xscale("log")  # eager vs INT8 can differ 100x: a linear axis hides the fast rows
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    title = f"{panel.model}: latency p50, whisker to p90 ({threads} thread{'s' if threads > 1 else ''})"
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    ax.margins(x=0.15)
    if len(batches) > 1:
        ax.legend(fontsize=7, loc="lower right")


def plot_latency_by_backend(rows: list[BenchRow], path: Path, *, threads: int | None = None) -> Path | None:
    """One panel per model: a horizontal bar per variant/backend/precision and batch, p50 with a whisker to p90.

    Uses the rows at ``threads`` (default: the most threads measured) and each series' first
    input size, so that the bars compare like with like. Returns None when nothing was measured.
    """
    measured = [r for r in rows if not r.skipped and r.p50_ms is not None]
    if not measured:
        return None
    threads = threads or max(r.threads for r in measured)
    panels = _latency_panels([r for r in measured if r.threads == threads])
    plt = _pyplot()
    heights = [panel.height for panel in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8.5, sum(heights)), gridspec_kw={"height_ratios": heights})
    axes = [axes] if len(panels) == 1 else list(axes)
    for ax, panel in zip(axes, panels, strict=True):
        _draw_latency_panel(ax, panel, threads)
    axes[-1].set_xlabel("milliseconds (lower is better)")
    return _save(plt, fig, path)


def _seqlen_series(rows: list[BenchRow]) -> tuple[dict[str, dict[int, float]], bool]:
    """label -> {sequence length: p50} for every series with more than one length; whether x is timesteps."""
    raw: dict[str, list[tuple[int, int, int | None, float]]] = defaultdict(list)
    for r in rows:
        if r.skipped or r.p50_ms is None:
            continue
        label = f"{_series_label(r).replace(chr(10), ' ')} b{r.batch} t{r.threads}"
        raw[label].append((*_spatial(r), r.timesteps, r.p50_ms))
    series: dict[str, dict[int, float]] = {}
    uses_timesteps = True
    for label, points in raw.items():
        if len({(h, w) for h, w, _, _ in points}) < 2:
            continue  # nothing was swept for this series
        # x: the model's timesteps when its output reports them (CTC), else the swept pixel axis
        known = [(t, p50) for _, _, t, p50 in points if t is not None]
        if len(known) == len(points):
            series[label] = {int(t): p50 for t, p50 in known}
            continue
        uses_timesteps = False
        heights_vary = len({h for h, _, _, _ in points}) > 1
        series[label] = {int(h if heights_vary else w): p50 for h, w, _, p50 in points}
    return series, uses_timesteps


def plot_latency_vs_seqlen(rows: list[BenchRow], path: Path) -> Path | None:
    """Lines of p50 latency vs sequence length per model/backend/precision at each batch.

    Returns None when no series has more than one length (no dynamic axis was swept).
    """
    series, uses_timesteps = _seqlen_series(rows)
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, curve in series.items():
        xs = sorted(curve)
        ax.plot(xs, [curve[x] for x in xs], marker="o", label=label)
    ax.set_xlabel("timesteps (sequence length)" if uses_timesteps else "timesteps, or the swept input size (pixels)")
    values = [v for curve in series.values() for v in curve.values()]
    if max(values) / max(min(values), 1e-9) > LOG_SCALE_RATIO:
        ax.set_yscale("log")
    ax.set_ylabel("latency p50 (ms)")
    ax.set_title("Latency vs sequence length")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def write_plots(result: BenchResult, out_dir: str | Path, *, stem: str = "bench") -> dict[str, Path]:
    """Write the plots that apply to ``result``; returns kind -> path."""
    out = Path(out_dir)
    written: dict[str, Path] = {}
    p = plot_latency_by_backend(result.rows, out / f"{stem}_latency.png")
    if p:
        written["latency_png"] = p
    p = plot_latency_vs_seqlen(result.rows, out / f"{stem}_seqlen.png")
    if p:
        written["seqlen_png"] = p
    return written
