"""The main job: recipe → train → export → validate → optimize → benchmark, with one summary table.

Each stage is a call of the library function its CLI verb wraps; the pipeline only chains them and
collects their result objects. Every stage writes into the run folder:

    OUT/train/        best.pt, last.pt, metrics.jsonl, summary.json      (edgeseq train)
    OUT/model.onnx    + model.json manifest                              (edgeseq export)
    OUT/parity.json                                                      (edgeseq validate)
    OUT/optimized/    <variant>.onnx + manifests, optimize_report.*      (edgeseq optimize)
    OUT/bench/        bench.json/.csv/.md/.png                           (edgeseq bench)
    OUT/summary.json, OUT/summary.md
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.errors import ConfigError, ParityError

STAGES = ("train", "export", "validate", "optimize", "bench")
DEFAULT_RECIPE = "models/digits-rows-lstm.toml"
# Widths for the latency-vs-timesteps curve of a CTC model (issue 5 asks for 100, 200 and 400 px).
CTC_BENCH_WIDTHS = [100, 200, 400]


@dataclass
class PipelineOptions:
    """Which stages run and how (defaults: everything, CPU profiles, a short benchmark)."""

    stages: list[str] = field(default_factory=lambda: list(STAGES))
    # A profile name under export/ or a TOML path; None: the built-in defaults, which equal
    # export/cpu-fp32.toml and export/cpu-int8.toml (a test keeps them equal) and need no checkout.
    export_profile: str | None = None
    optimize_profile: str | None = None
    bench_backends: list[str] = field(default_factory=lambda: ["ort-cpu", "torch"])
    bench_batches: list[int] = field(default_factory=lambda: [1, 8])
    bench_min_time_s: float = 0.5
    parity_samples: int = 16  # real test samples in the parity check, beside random inputs

    def __post_init__(self) -> None:
        from edgeseq.bench.runner import BenchOptions

        # Refuse a bad benchmark setting now, not after minutes of training and optimizing.
        BenchOptions(backends=self.bench_backends, batches=self.bench_batches, min_time_s=self.bench_min_time_s)
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown or not self.stages:
            raise ConfigError(
                f"--stages: got {','.join(self.stages) or 'nothing'}; expected some of {','.join(STAGES)}"
            )
        order = [s for s in STAGES if s in self.stages]
        if order != list(dict.fromkeys(self.stages)):
            self.stages = order  # stages always run in pipeline order; listing order does not matter
        if self.parity_samples < 0:
            raise ConfigError(f"parity_samples: got {self.parity_samples}; expected 0 or more real test samples")
        if self.bench_min_time_s <= 0:
            raise ConfigError(f"bench_min_time_s: got {self.bench_min_time_s}; expected a positive number of seconds")


@dataclass
class PipelineResult:
    """What each stage produced, and the summary table."""

    out_dir: str
    stages: dict[str, Any]  # stage -> its result's JSON
    summary: list[dict[str, Any]]  # one row per model variant
    table: str
    wall_time_s: float
    stage_times_s: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict."""
        return asdict(self)


def _default_recipe() -> Path:
    """models/digits-rows-lstm.toml of the current folder, else of the source checkout edgeseq runs from."""
    local = Path(DEFAULT_RECIPE)
    checkout = Path(__file__).resolve().parent.parent / DEFAULT_RECIPE
    return local if local.is_file() or not checkout.is_file() else checkout


def _profile(name_or_path: str):
    from edgeseq.profiles import load_profile

    return load_profile(name_or_path)


def run_pipeline(
    recipe: str | Path | None,
    out_dir: str | Path,
    overrides: list[str] | None = None,
    options: PipelineOptions | None = None,
    log=None,
) -> PipelineResult:
    """Run the recipe's whole path from data to a validated, optimized, measured edge model.

    Args:
        recipe: the training recipe (default ``models/digits-rows-lstm.toml``).
        out_dir: the run folder.
        overrides: ``--set`` overrides for the recipe.
        options: stages and their settings.
        log: a callable taking one line of progress text (default: print to stderr, so stdout keeps
            only the result).

    Raises:
        ParityError: ONNX Runtime disagrees with PyTorch (the run stops after writing parity.json).
        EdgeseqError: any stage's own errors.
    """
    from edgeseq.config import load_config
    from edgeseq.fileio import ensure_writable_dir, write_json_atomic, write_text_atomic

    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    options = options or PipelineOptions()
    cfg = load_config(recipe or _default_recipe(), overrides or [])
    # profiles are read before training, so a bad name fails in a second, not after minutes
    export_options = _profile(options.export_profile).export if options.export_profile else None
    optimize_table = _profile(options.optimize_profile).optimize if options.optimize_profile else {}
    out = ensure_writable_dir(out_dir)
    train_dir, onnx_path = out / "train", out / "model.onnx"
    checkpoint = train_dir / "best.pt"
    started = time.perf_counter()
    results: dict[str, Any] = {}
    times: dict[str, float] = {}
    optimized = bench_result = None

    def stage(name: str) -> bool:
        if name in options.stages:
            log(f"== {name}")
            return True
        return False

    def timed(name: str, t0: float) -> None:
        times[name] = round(time.perf_counter() - t0, 2)

    if stage("train"):
        from edgeseq.training import train

        t0 = time.perf_counter()
        results["train"] = train(cfg, train_dir, log=log).to_json()
        results["train"].pop("history", None)
        timed("train", t0)
    if {"export", "validate", "optimize", "bench"} & set(options.stages) and not checkpoint.is_file():
        raise ConfigError(f"no checkpoint at {checkpoint}; run the 'train' stage first (or add it to --stages)")
    if {"validate", "optimize", "bench"} & set(options.stages) and "export" not in options.stages:
        if not onnx_path.is_file():
            raise ConfigError(f"no model at {onnx_path}; run the 'export' stage first (or add it to --stages)")

    if stage("export"):
        from edgeseq.export import export_checkpoint

        t0 = time.perf_counter()
        exported = export_checkpoint(checkpoint, onnx_path, export_options)
        log(exported.summary())
        results["export"] = exported.to_json()
        timed("export", t0)

    if stage("validate"):
        from edgeseq.parity import validate_and_record

        t0 = time.perf_counter()
        report, data, report_path = validate_and_record(
            onnx_path, checkpoint, report_path=out / "parity.json", samples=options.parity_samples
        )
        for note in data["notes"]:
            log(f"note: {note}")
        log(report.to_table())
        results["validate"] = {"passed": report.passed, "worst": report.worst(), "report": str(report_path)}
        timed("validate", t0)
        if not report.passed:
            raise ParityError(f"ONNX Runtime disagrees with PyTorch beyond tolerance; see {report_path}")

    if stage("optimize"):
        from edgeseq.optimization import OptimizeConfig, load_samples, optimize

        t0 = time.perf_counter()
        opt_cfg = OptimizeConfig.from_dict(optimize_table)
        calibration, evaluation = load_samples(onnx_path, opt_cfg, checkpoint=checkpoint)
        optimized = optimize(onnx_path, out / "optimized", opt_cfg, calibration=calibration, evaluation=evaluation)
        log(optimized.table())
        results["optimize"] = optimized.to_json()
        timed("optimize", t0)

    if stage("bench"):
        from edgeseq.bench import BenchOptions, bench, write_reports

        t0 = time.perf_counter()
        models = _bench_models(onnx_path, optimized)
        widths = CTC_BENCH_WIDTHS if cfg.model.head == "ctc" and cfg.preprocess.resize == "height" else None
        bench_options = BenchOptions(
            backends=options.bench_backends,
            batches=options.bench_batches,
            widths=widths,
            min_time_s=options.bench_min_time_s,
            max_time_s=max(5.0, options.bench_min_time_s * 4),
        )
        bench_result = bench(models, checkpoint=checkpoint, options=bench_options, progress=log)
        written = write_reports(bench_result, out / "bench")
        results["bench"] = {"reports": {k: str(v) for k, v in written.items()}, "rows": len(bench_result.rows)}
        timed("bench", t0)

    summary = _summary_rows(cfg, results, optimized, bench_result, onnx_path)
    table = format_summary(summary)
    result = PipelineResult(
        out_dir=str(out),
        stages=results,
        summary=summary,
        table=table,
        wall_time_s=round(time.perf_counter() - started, 2),
        stage_times_s=times,
    )
    write_json_atomic(out / "summary.json", result.to_json())
    write_text_atomic(out / "summary.md", f"# {cfg.name}\n\n```\n{table}\n```\n")
    return result


def _bench_models(onnx_path: Path, optimized: Any) -> list[Path]:
    """FP32 plus every accepted ONNX variant (the .ort file is for mobile runtimes, not measured here)."""
    models = [onnx_path]
    if optimized is not None:
        for row in optimized.variants:
            if row.name != "fp32" and row.usable and row.path and row.path.endswith(".onnx"):
                models.append(Path(row.path))
    return models


def _summary_rows(cfg, results: dict[str, Any], optimized: Any, bench_result: Any, onnx_path: Path) -> list[dict]:
    """One row per variant: precision, size, accuracy/CER, gate status, and latency at batch 1."""
    ctc = cfg.model.head == "ctc"
    metric = "cer" if ctc else "accuracy"
    rows: dict[str, dict[str, Any]] = {}
    train = results.get("train", {}).get("metrics", {})
    if train:
        value = train.get(f"test_{metric}")
        rows["pytorch"] = {
            "variant": "pytorch",
            "precision": "fp32",
            metric: None if value is None else 100.0 * value,  # percent, as the optimize report gives it
            "status": "trained",
        }
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
    if optimized is not None:
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
    if bench_result is not None:
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
                }
    return list(rows.values())


def _variant_of(model_path: str | None, rows: dict[str, dict[str, Any]]) -> str | None:
    if not model_path:
        return None
    resolved = str(Path(model_path).resolve())
    for name, row in rows.items():
        if row.get("path") and str(Path(row["path"]).resolve()) == resolved:
            return name
    return None


def format_summary(rows: list[dict[str, Any]]) -> str:
    """The summary as a text table: variant, precision, size, accuracy/CER, status, p50, p99, images/s."""
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

    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    cells = []
    for r in rows:
        lat = next(iter(r.get("latency", {}).values()), {})
        name = r["variant"] + (" *" if r.get("recommended") else "")
        cells.append(
            [
                name,
                r.get("precision", "-"),
                fmt(r.get("size_mb"), ".2f"),
                fmt(r.get(metric), ".2f"),
                fmt(r.get("parity_max_abs"), ".1e"),
                fmt(lat.get("p50_ms"), ".3f"),
                fmt(lat.get("p99_ms"), ".3f"),
                fmt(lat.get("images_per_s"), ".1f"),
                str(r.get("status", "-"))[:60],
            ]
        )
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c[i].ljust(widths[i]) for i in range(len(header))).rstrip() for c in cells]
    if any(r.get("recommended") for r in rows):
        lines.append("* recommended variant (fastest within the accuracy gate)")
    lines.append("latency: batch 1 (CTC models: 200 px wide lines); parity: max |ONNX - PyTorch| over all checks")
    return "\n".join(lines)
