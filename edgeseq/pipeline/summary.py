"""The pipeline's summary: one row per model variant (PyTorch, FP32 ONNX, each optimized variant) and its table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeseq.config import ExperimentConfig
from edgeseq.optimization import OptimizeResult

Row = dict[str, Any]


def summary_rows(
    cfg: ExperimentConfig,
    results: dict[str, Any],
    optimized: OptimizeResult | None,
    bench_result: Any,
    onnx_path: Path,
) -> list[Row]:
    """One row per variant: precision, size, accuracy/CER, gate status, and latency at batch 1.

    Args:
        cfg: the recipe (CTC models report CER, others accuracy).
        results: each stage's JSON (``PipelineResult.stages``).
        optimized: the optimize stage's result, if it ran.
        bench_result: the bench stage's ``BenchResult``, if it ran.
        onnx_path: the exported FP32 model (benchmark rows are matched to variants by path).

    Returns:
        The rows, in the order their variants first appear (pytorch, fp32, then the optimize report's order).
    """
    metric = "cer" if cfg.model.head == "ctc" else "accuracy"
    rows: dict[str, Row] = {}
    _trained_row(rows, results, metric)
    _exported_row(rows, results, onnx_path)
    if optimized is not None:
        _optimized_rows(rows, optimized, metric)
    if bench_result is not None:
        _latency(rows, bench_result)
        if optimized is not None and optimized.target == "cpu" and optimized.recommended is not None:
            _recommend_by_table(rows)
    return list(rows.values())


def shown_latency(row: Row) -> dict[str, Any]:
    """The latency entry the table shows for a row: its first backend's (torch for pytorch, else ort-cpu)."""
    return next(iter(row.get("latency", {}).values()), {})


def _recommend_by_table(rows: dict[str, Row]) -> None:
    """Mark the fastest accepted variant by the table's own p50, so the mark and the numbers agree.

    optimize picks by its own side-by-side timing; the bench stage measures again, and on a noisy
    machine the two can order close variants differently. The table shows the bench figures, so the
    recommendation is taken from them (same rule: accepted by the gate, not fp16, not the .ort file).
    """
    timed = []
    for name, row in rows.items():
        status = str(row.get("status", ""))
        usable = status.startswith(("accepted", "reference"))
        p50 = shown_latency(row).get("p50_ms")
        if usable and name != "ort" and row.get("precision") != "fp16" and p50 is not None:
            timed.append((p50, name))
    if not timed:
        return
    best = min(timed)[1]
    for name, row in rows.items():
        row.pop("recommended", None)
        if name == best:
            row["recommended"] = True


def _trained_row(rows: dict[str, Row], results: dict[str, Any], metric: str) -> None:
    train = results.get("train", {}).get("metrics", {})
    if train:
        value = train.get(f"test_{metric}")
        rows["pytorch"] = {
            "variant": "pytorch",
            "precision": "fp32",
            metric: None if value is None else 100.0 * value,  # percent, as the optimize report gives it
            "status": "trained",
        }


def _exported_row(rows: dict[str, Row], results: dict[str, Any], onnx_path: Path) -> None:
    if "export" in results:
        rows["fp32"] = {
            "variant": "fp32",
            "precision": "fp32",
            "size_mb": results["export"]["size_bytes"] / 1e6,
            "status": "exported",
            "path": str(onnx_path),
        }
    if "validate" in results:
        worst = results["validate"]["worst"]
        diffs = [w["max_abs"] for w in worst.values() if w.get("max_abs") is not None]
        rows.setdefault("fp32", {"variant": "fp32", "precision": "fp32"})["parity_max_abs"] = (
            max(diffs) if diffs else None
        )


def _optimized_rows(rows: dict[str, Row], optimized: OptimizeResult, metric: str) -> None:
    for v in optimized.variants:
        row = rows.setdefault(v.name, {"variant": v.name})
        row.update(precision=v.precision, status=v.status if not v.reason else f"{v.status}: {v.reason}")
        row.setdefault("path", v.path)  # fp32 keeps the exported model's path, which the benchmark measured
        if v.size_bytes:
            row["size_mb"] = v.size_bytes / 1e6
        if v.score is not None and v.score.metric is not None:
            row[metric] = v.score.metric
        if v.name == optimized.recommended:
            row["recommended"] = True


def _latency(rows: dict[str, Row], bench_result: Any) -> None:
    """Batch-1 latency per backend; for CTC models the 200 px wide line when several widths ran."""
    for r in bench_result.rows:
        if r.skipped or r.batch != 1:
            continue
        name = "pytorch" if r.backend == "torch" else _variant_of(r.model_path, rows)
        if name is None:
            continue
        row = rows.setdefault(name, {"variant": name})
        key = f"{r.backend}"
        row.setdefault("latency", {})
        if key not in row["latency"] or (r.input_shape and r.input_shape[-1] == 200):
            row["latency"][key] = {
                "p50_ms": r.p50_ms,
                "p99_ms": r.p99_ms,
                "images_per_s": r.images_per_s,
                "shape": r.input_shape,
                "notes": list(r.notes),  # e.g. the machine was busy while this row ran
                "load_avg_1m": r.load_avg_1m,
            }


def _variant_of(model_path: str | None, rows: dict[str, Row]) -> str | None:
    if not model_path:
        return None
    resolved = str(Path(model_path).resolve())
    for name, row in rows.items():
        if row.get("path") and str(Path(row["path"]).resolve()) == resolved:
            return name
    return None


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _cells(row: Row, metric: str) -> list[str]:
    lat = shown_latency(row)
    return [
        row["variant"] + (" *" if row.get("recommended") else ""),
        row.get("precision", "-"),
        _fmt(row.get("size_mb"), ".2f"),
        _fmt(row.get(metric), ".2f"),
        _fmt(row.get("parity_max_abs"), ".1e"),
        _fmt(lat.get("p50_ms"), ".3f"),
        _fmt(lat.get("p99_ms"), ".3f"),
        _fmt(lat.get("images_per_s"), ".1f"),
        str(row.get("status", "-"))[:60],
    ]


def _note_lines(rows: list[Row], bench_notes: list[str]) -> list[str]:
    """The benchmark's notes on the rows the table shows (a busy machine, an unstable backend), once each."""
    by_note: dict[str, list[str]] = {}
    for row in rows:
        lat = shown_latency(row)
        for note in lat.get("notes", []):
            by_note.setdefault(note, []).append(row["variant"])
    lines = [f"note ({', '.join(variants)}): {note}" for note, variants in by_note.items()]
    return lines + [f"note: {note}" for note in bench_notes]


def format_summary(rows: list[Row], bench_notes: list[str] | None = None, measured_by_bench: bool = True) -> str:
    """The summary as a text table: variant, precision, size, accuracy/CER, status, p50, p99, images/s.

    Args:
        rows: :func:`summary_rows`' rows.
        bench_notes: the benchmark run's own notes (below the table, with each shown row's notes).
        measured_by_bench: whether the p50 column comes from the bench stage (then the recommendation
            follows it); otherwise the recommendation is optimize's own.
    """
    metric = "cer" if any("cer" in r for r in rows) else "accuracy"
    header = [
        "variant",
        "precision",
        "size MB",
        "CER %" if metric == "cer" else "accuracy %",
        "parity",
        "p50 ms",
        "p99 ms",
        "images/s",
        "status",
    ]
    cells = [_cells(r, metric) for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c[i].ljust(widths[i]) for i in range(len(header))).rstrip() for c in cells]
    if any(r.get("recommended") for r in rows):
        lines.append(
            "* recommended variant: the fastest within the accuracy gate by this table's p50"
            if measured_by_bench
            else "* recommended variant: the fastest within the accuracy gate by optimize's side-by-side timing"
        )
    lines.append("latency: batch 1 (CTC models: 200 px wide lines); parity: max |ONNX - PyTorch| over all checks")
    lines += _note_lines(rows, bench_notes or [])
    return "\n".join(lines)
