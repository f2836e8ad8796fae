"""Benchmark reports: a console table, JSON (the full record), CSV and Markdown.

The table compares each row with a baseline row of the same model, batch, threads and input
size: the PyTorch eager row when there is one, else the first ONNX Runtime FP32 row.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from pathlib import Path
from typing import Any

from edgeseq.bench.plots import write_plots
from edgeseq.bench.profile import STAGES
from edgeseq.bench.result import BenchResult, BenchRow
from edgeseq.fileio import ensure_writable_dir, write_json_atomic, write_text_atomic

# Columns of the CSV, in order (the JSON has everything, including per-stage times and settings).
CSV_COLUMNS = (
    "model",
    "variant",
    "backend",
    "precision",
    "model_precision",
    "provider",
    "batch",
    "threads",
    "spinning",
    "input_shape",
    "timesteps",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "mean_ms",
    "std_ms",
    "min_ms",
    "max_ms",
    "n",
    "images_per_s",
    "session_create_ms",
    "cold_ms",
    "peak_rss_mb",
    "load_avg_1m",
    "model_size_mb",
    "gflops_per_inference",
    "achieved_gflops_s",
    "peak_fp32_gflops_s",
    "accuracy",
    "parity_max_abs_diff",
    "skipped",
)


def _label(row: BenchRow) -> str:
    return f"{row.model}{'/' + row.variant if row.variant else ''}"


def group_key(row: BenchRow) -> tuple:
    """The rows a row is compared with: the same model, batch, threads and spatial input size."""
    # Rows of one model at one batch/threads/size compare with each other; torch rows have NCHW
    # float shapes, so the group is keyed by batch and the spatial sizes only.
    shape = row.input_shape
    hw = tuple(shape[2:4]) if row.input_dtype != "uint8" else tuple(shape[1:3])
    return (row.model, row.batch, row.threads, hw)


def baselines(rows: list[BenchRow]) -> dict[tuple, BenchRow]:
    """The baseline row per group (:func:`group_key`): PyTorch eager if measured, else the first ORT CPU FP32 row."""
    out: dict[tuple, BenchRow] = {}
    for row in rows:
        if row.skipped or row.p50_ms is None:
            continue
        key = group_key(row)
        if row.backend == "torch":
            out[key] = row
        elif key not in out and row.backend == "ort-cpu" and row.precision == "fp32":
            out[key] = row
    return out


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table_rows(result: BenchResult) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the summary table (shared by the console and Markdown)."""
    base = baselines(result.rows)
    header = [
        "model",
        "backend",
        "precision",
        "batch",
        "threads",
        "input",
        "min ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "vs base",
        "images/s",
        "cold ms",
        "create ms",
        "RSS MB",
        "size MB",
    ]
    cells = []
    for row in result.rows:
        shape = "x".join(str(d) for d in row.input_shape[1:])
        if row.skipped:
            cells.append(
                [_label(row), row.backend, "-", str(row.batch), str(row.threads), shape]
                + ["-"] * 9
                + [f"skipped: {row.skipped}"]
            )
            continue
        b = base.get(group_key(row))
        ratio = f"{row.p50_ms / b.p50_ms:.2f}x" if b is not None and b.p50_ms and row.p50_ms is not None else "-"
        p99 = _fmt(row.p99_ms) + ("" if row.n >= 100 else "*")
        cells.append(
            [
                _label(row),
                row.backend,
                row.precision,
                str(row.batch),
                str(row.threads),
                shape,
                _fmt(row.min_ms),
                _fmt(row.p50_ms),
                _fmt(row.p90_ms),
                p99,
                ratio,
                _fmt(row.images_per_s, 1),
                _fmt(row.cold_ms, 1),
                _fmt(row.session_create_ms, 0),
                _fmt(row.peak_rss_mb, 0),
                _fmt(row.model_size_mb, 2),
            ]
        )
    return header, cells


def console_table(result: BenchResult) -> str:
    """A fixed-width text table for the terminal."""
    header, cells = table_rows(result)
    # the last cell of a skipped row holds the reason; let it overflow instead of widening the column
    widths = [
        max([len(h), *(len(c[i]) for c in cells if not (c[-1].startswith("skipped") and i == len(header) - 1))])
        for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for c in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
    foot = ["vs base: p50 relative to PyTorch eager (or ORT FP32) at the same batch, threads and size."]
    if any(r.n < 100 for r in result.rows if not r.skipped):
        foot.append("*: fewer than 100 timed runs, p99 is close to the maximum.")
    notes = sorted({n for r in result.rows for n in r.notes} | set(result.notes))
    if notes:
        foot.append("Notes:")
        foot.extend("  - " + n for n in notes)
    if result.targets:
        foot.append("Targets:")
        foot.extend("  " + t for t in result.targets)
    stages = stage_lines(result)
    if stages:
        foot.append("Where the time goes (onnxruntime profiler, share of kernel time):")
        foot.extend("  " + s for s in stages)
    return "\n".join(lines + [""] + foot)


def flop_text(flop: float) -> str:
    """A FLOP count with a unit that keeps 3 significant digits: ``3.65 GFLOP``, ``3.1 MFLOP`` (never ``0.00 GFLOP``)."""
    for unit, scale in (("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if abs(flop) >= scale:
            return f"{flop / scale:.3g} {unit}"
    return f"{flop:.3g} FLOP"


def peak_share_text(achieved: float, peak: float) -> str:
    """`` (92% of the est. FP32 peak 333)``; above 100 % the estimate is what is wrong, and it says so."""
    share = 100 * achieved / peak
    if share <= 100:
        return f" ({share:.0f}% of the est. FP32 peak {peak:.0f})"
    return (
        f" (above the est. FP32 peak {peak:.0f}: the estimate, from the reported clock and two FMA ports per core, "
        "is too low for this CPU)"
    )


def stage_lines(result: BenchResult) -> list[str]:
    """One line per profiled row: each stage's share of the kernel time, and achieved GFLOP/s."""
    out = []
    for row in result.rows:
        if not row.stages_ms:
            continue
        total = sum(row.stages_ms.values()) or 1.0
        # STAGES: pipeline order (the JSON record sorts keys)
        shares = ", ".join(f"{k} {100 * row.stages_ms[k] / total:.0f}%" for k in STAGES if k in row.stages_ms)
        perf = ""
        if row.achieved_gflops_s is not None and row.gflops_per_inference is not None:
            perf = (
                f"; {flop_text(row.gflops_per_inference * 1e9)}/inference, {flop_text(row.achieved_gflops_s * 1e9)}/s"
            )
            # the FP32 peak says nothing about int8/bf16 kernels (VNNI and AMX run several times faster)
            if row.peak_fp32_gflops_s and row.precision == "fp32":
                perf += peak_share_text(row.achieved_gflops_s, row.peak_fp32_gflops_s)
        shape = "x".join(str(d) for d in row.input_shape)
        out.append(f"{_label(row)} {row.backend} {row.precision} {shape} t{row.threads}: {shares}{perf}")
    return out


def to_csv(result: BenchResult) -> str:
    """The rows as CSV (one line per row; shapes as ``1x3x224x224``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in result.rows:
        data = row.to_json()
        data["input_shape"] = "x".join(str(d) for d in row.input_shape)
        writer.writerow(["" if data.get(c) is None else data.get(c) for c in CSV_COLUMNS])
    return buf.getvalue()


def env_lines(env: dict[str, Any]) -> list[str]:
    """The environment card as Markdown bullet lines."""
    pk = env.get("packages", {})
    lines = [
        f"- CPU: {env.get('cpu_model', '?')}, {env.get('physical_cores', '?')} physical cores "
        f"({env.get('usable_cores', '?')} usable), {env.get('cpu_mhz') or '?'} MHz",
        f"- ISA: {', '.join(env.get('isa_flags') or []) or 'baseline'}",
        f"- Memory: {env.get('memory_gib') or '?'} GiB; OS: {env.get('os', '?')}; Python {env.get('python', '?')}",
        "- Packages: " + ", ".join(f"{k} {v}" for k, v in pk.items() if v),
    ]
    if env.get("peak_fp32_gflops_per_core"):
        lines.append(
            f"- Estimated FP32 peak: {env['peak_fp32_gflops_per_core']} GFLOP/s per core (clock × FMA width × 2 ports; an estimate)"
        )
    if env.get("load_avg"):
        lines.append(f"- Load average at the end of the run (1/5/15 min): {', '.join(map(str, env['load_avg']))}")
    for gpu in env.get("gpus") or []:
        lines.append(f"- GPU: {gpu.get('name')} (driver {gpu.get('driver')}, {gpu.get('memory')})")
    for name, digest in (env.get("models") or {}).items():
        lines.append(f"- `{name}` sha256 `{digest[:16]}…`")
    return lines


def to_markdown(result: BenchResult, *, title: str = "Benchmark") -> str:
    """A Markdown report: the table, notes, per-stage shares and the environment card."""
    header, cells = table_rows(result)
    lines = [f"## {title}", "", f"Measured {result.created}.", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for c in cells:
        lines.append("| " + " | ".join(v.replace("|", "/") for v in c) + " |")
    lines += ["", "vs base: p50 relative to PyTorch eager (or ORT FP32) at the same batch, threads and input size."]
    notes = sorted({n for r in result.rows for n in r.notes} | set(result.notes))
    if notes:
        lines += ["", "Notes:", *(f"- {n}" for n in notes)]
    if result.targets:
        lines += ["", "Targets:", "", *(f"- {t}" for t in result.targets)]
    stages = stage_lines(result)
    if stages:
        lines += [
            "",
            "Where the time goes (onnxruntime profiler, share of kernel time):",
            "",
            *(f"- {s}" for s in stages),
        ]
    lines += ["", "Environment:", "", *env_lines(result.env), ""]
    return "\n".join(lines)


def write_reports(
    result: BenchResult, out_dir: str | Path, *, stem: str = "bench", plots: bool = True
) -> dict[str, Path]:
    """Write ``<stem>.json``, ``.csv``, ``.md`` and the PNG plots into ``out_dir`` (atomically).

    The plots need matplotlib (the ``train`` extra); without it only the text reports are written.

    Returns:
        kind -> path of every file written.
    """
    out = ensure_writable_dir(out_dir)
    written = {
        "json": write_json_atomic(out / f"{stem}.json", result.to_json()),
        "csv": write_text_atomic(out / f"{stem}.csv", to_csv(result)),
        "md": write_text_atomic(out / f"{stem}.md", to_markdown(result)),
    }
    if plots:
        if importlib.util.find_spec("matplotlib") is None:  # the runtime-only install has no plots
            return written
        written.update(write_plots(result, out, stem=stem))
    return written
