"""The benchmark suite: reference models measured side by side, from one TOML file.

``benchmarks/suite.toml`` lists models by recipe. For each model the runner prepares what is
missing under a work folder (``runs/bench-suite`` by default, git-ignored): a checkpoint with
*random weights* (latency does not depend on weight values, so no training is needed and the
results say so), its ONNX export (``edgeseq.export``), and optimized variants
(``edgeseq.optimization``: INT8 static/dynamic/mixed). Then one :func:`edgeseq.bench.bench` call per
model measures the PyTorch eager baseline and every ONNX backend on the variants it applies to,
and the reports go to the output folder with a summary of the targets.

Suite file::

    [suite]
    backends = ["torch", "ort-cpu", "openvino-f32", "openvino"]
    batches = [1]
    threads = [2]            # omit: the physical cores
    min_time_s = 2.0
    rounds = 10              # interleave the rows (see edgeseq.bench.interleave)
    spinning = false         # onnxruntime intra-op spin-waiting (its own default is on; recorded per row)

    [[model]]
    name = "resnet18-rows-lstm"
    recipe = "models/resnet18-rows-lstm.toml"
    variants = ["fp32", "int8-static", "int8-mixed"]    # files to prepare and measure
    openvino_variants = ["fp32", "int8-static"]          # files OpenVINO reads as well
    widths = [64, 128, 256]                              # optional sweep of a dynamic width
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.bench.runner import BenchOptions, BenchResult, BenchRow, ModelRef, bench
from edgeseq.errors import ConfigError

DEFAULT_WORK_DIR = "runs/bench-suite"
SYMMETRIC_SUFFIX = "-symmetric"  # the same INT8 variant with Conv weights at zero point 0 (OpenVINO's fast encoding)
RANDOM_WEIGHTS_NOTE = "random weights: latency does not depend on weight values; accuracy figures are not meaningful"
CALIBRATION_SAMPLES = 32  # random inputs: the int8 graph's structure (hence its speed) does not depend on them
IDLE_LOAD_PER_CORE = 0.5  # "idle": 1-minute load at most half a process per core
IDLE_POLL_S = 15.0
# Targets from the issue, as fractions of the PyTorch eager p50 at batch 1.
TARGET_ORT_FP32_VS_EAGER = 0.6
TARGET_BEST_VS_EAGER = 0.20


@dataclass
class SuiteModel:
    """One model of the suite."""

    name: str
    recipe: str
    variants: list[str] = field(default_factory=lambda: ["fp32"])
    openvino_variants: list[str] = field(default_factory=lambda: ["fp32"])
    batches: list[int] | None = None
    widths: list[int] | None = None
    backends: list[str] | None = None

    def __post_init__(self) -> None:
        if "fp32" not in self.variants:
            raise ConfigError(f"model {self.name!r}: variants must include 'fp32' (the reference); got {self.variants}")
        unknown = [v for v in self.openvino_variants if v not in self.variants]
        if unknown:
            raise ConfigError(f"model {self.name!r}: openvino_variants {unknown} are not in variants {self.variants}")


@dataclass
class Suite:
    """A parsed suite file."""

    backends: list[str]
    batches: list[int]
    threads: list[int] | None
    min_time_s: float
    models: list[SuiteModel]
    rounds: int = 1
    spinning: bool = False
    name: str = "edgeseq benchmark suite"
    base_dir: str = "."


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite TOML file (recipe paths are relative to the repository root / cwd).

    Raises:
        ConfigError: missing file, bad TOML, unknown keys or values.
    """
    from edgeseq.config import from_dict, read_toml

    path = Path(path)
    data = read_toml(path)
    table = dict(data.get("suite", {}))
    models = data.get("model", [])
    if not isinstance(models, list) or not models:
        raise ConfigError(f"{path}: expected at least one [[model]] table")
    unknown = set(data) - {"suite", "model"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(unknown)}; expected [suite] and [[model]]")
    suite_models = [from_dict(SuiteModel, m, prefix=f"model[{i}]") for i, m in enumerate(models)]
    try:
        suite = Suite(models=suite_models, **{k: table.get(k, v) for k, v in _SUITE_DEFAULTS.items()})
    except TypeError as exc:
        raise ConfigError(f"{path}: [suite]: {exc}") from None
    extra = set(table) - set(_SUITE_DEFAULTS)
    if extra:
        raise ConfigError(f"{path}: [suite] unknown keys {sorted(extra)}; expected {sorted(_SUITE_DEFAULTS)}")
    if not isinstance(suite.spinning, bool):
        raise ConfigError(f"{path}: [suite] spinning: got {suite.spinning!r}; expected true or false")
    BenchOptions(backends=suite.backends, batches=suite.batches, threads=suite.threads)  # validates
    return suite


_SUITE_DEFAULTS: dict[str, Any] = {
    "name": "edgeseq benchmark suite",
    "backends": ["torch", "ort-cpu", "openvino-f32", "openvino"],
    "batches": [1],
    "threads": None,
    "min_time_s": 2.0,
    "rounds": 1,
    "spinning": False,
}


def prepare_model(model: SuiteModel, work_dir: Path, *, log=print) -> dict[str, Path]:
    """Make (or reuse) the checkpoint, the FP32 export and the optimized variants of one model.

    Returns:
        ``{"checkpoint": ..., "<variant>": path, ...}``. Variants the optimizer rejected or
        could not build are absent (the caller reports them).
    """
    folder = work_dir / model.name
    ckpt_path = folder / "random.pt"
    fp32_path = folder / "model.onnx"
    out: dict[str, Path] = {}
    if not ckpt_path.is_file():
        log(f"  {model.name}: building a random-weight checkpoint from {model.recipe}")
        _random_checkpoint(model.recipe, ckpt_path)
    out["checkpoint"] = ckpt_path
    if not fp32_path.is_file():
        log(f"  {model.name}: exporting ONNX")
        from edgeseq.export import export_checkpoint

        export_checkpoint(ckpt_path, fp32_path)
    wanted = [v for v in model.variants if v != "fp32"]
    variant_dir = folder / "variants"
    missing = [v for v in wanted if not (variant_dir / f"{v}.onnx").is_file()]
    if missing:
        log(f"  {model.name}: optimizing ({', '.join(missing)})")
        _optimize(fp32_path, variant_dir, wanted)
    out["fp32"] = fp32_path
    for v in wanted:
        p = variant_dir / f"{v}.onnx"
        if p.is_file():
            out[v] = p
    # On AMX CPUs the optimizer stores Conv weights at zero point -1 for onnxruntime's GEMM kernel
    # (passes.conv_weights). OpenVINO runs that encoding about 7x slower than the symmetric one
    # (measured: 11.97 vs 1.58 ms on resnet18-rows-lstm), so a shifted INT8 file that OpenVINO reads
    # also gets a symmetric copy (the exact inverse): each runtime is shown both encodings.
    from edgeseq.passes.conv_weights import unshift_conv_weight_zero_points

    for v in [v for v in wanted if v in model.openvino_variants and v.startswith("int8") and v in out]:
        copy = folder / "variants-symmetric" / f"{v}.onnx"
        if not copy.is_file() or copy.stat().st_mtime < out[v].stat().st_mtime:
            copy.parent.mkdir(parents=True, exist_ok=True)
            if unshift_conv_weight_zero_points(out[v], copy) == 0:
                copy.unlink()  # already symmetric: the file itself is the symmetric row
                continue
        out[v + SYMMETRIC_SUFFIX] = copy
    return out


def _random_checkpoint(recipe: str, path: Path) -> None:
    import torch

    from edgeseq.checkpoint import save_checkpoint
    from edgeseq.config import load_config
    from edgeseq.nn import build_model

    cfg = load_config(recipe)
    cfg.model.pretrained = None
    cfg.model.weights_path = None
    ctc = cfg.model.head == "ctc"
    labels = [] if ctc else [str(i) for i in range(cfg.model.num_classes or 10)]
    num_outputs = len(cfg.data.alphabet) + 1 if ctc else len(labels)
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.preprocess, num_outputs).eval()
    save_checkpoint(
        path,
        {
            "config": cfg.to_dict(),
            "task": "ctc" if ctc else "classification",
            "labels": labels,
            "alphabet": cfg.data.alphabet if ctc else "",
            "preprocess": asdict(cfg.preprocess),
            "state_dict": model.state_dict(),
            "metrics": {},
            "epoch": 0,
        },
    )


def _optimize(fp32_path: Path, out_dir: Path, variants: list[str]) -> None:
    import onnx

    from edgeseq.optimization import OptimizeConfig, optimize, random_samples
    from edgeseq.runtime.metadata import metadata_of

    proto = onnx.load(str(fp32_path), load_external_data=False)
    # random inputs at the model's own size (dynamic axes: the export example's size, NCHW or NHWC)
    calib = random_samples(proto, CALIBRATION_SAMPLES, 0, metadata_of(proto))
    calib.source = "random inputs (latency benchmark)"
    # FP16 is for CUDA (docs/traps.md #13): let the optimizer check it there
    target = "cuda" if "fp16" in variants else "cpu"
    # latency_runs=0: the suite measures latency itself, side by side
    config = OptimizeConfig(
        variants=["fp32", *variants], calibration_samples=CALIBRATION_SAMPLES, target=target, latency_runs=0
    )
    optimize(fp32_path, out_dir, config, calibration=calib)


def run_suite(
    path: str | Path,
    out_dir: str | Path,
    *,
    work_dir: str | Path = DEFAULT_WORK_DIR,
    only: list[str] | None = None,
    min_time_s: float | None = None,
    rounds: int | None = None,
    wait_idle_s: float = 0.0,
    isolate: bool = True,
    log=print,
) -> BenchResult:
    """Prepare and benchmark every model of the suite; write reports and plots into ``out_dir``.

    Args:
        path: the suite TOML.
        out_dir: where ``suite.json/.csv/.md`` and the PNGs go.
        work_dir: where prepared checkpoints and ONNX files are kept (reused on the next run).
        only: model names to run (default: all).
        min_time_s: override the suite's minimum time per row (quick checks).
        rounds: override the suite's interleaving rounds.
        wait_idle_s: before each model, wait up to this long for the machine to go idle
            (1-minute load at most half the cores); the load it started at goes into the notes.
        isolate: a fresh process per row (peak RSS per row).
        log: progress lines.

    Returns:
        The merged BenchResult of all models (also written as ``suite.json``).
    """
    from edgeseq.bench.report import write_reports

    suite = load_suite(path)
    work = Path(work_dir)
    models = [m for m in suite.models if not only or m.name in only]
    if only and len(models) != len(set(only)):
        known = [m.name for m in suite.models]
        raise ConfigError(f"--only: got {only}; expected names from the suite: {', '.join(known)}")
    merged: BenchResult | None = None
    merged_notes: list[str] = []
    for model in models:
        log(f"{model.name}:")
        files = prepare_model(model, work, log=log)
        backends = model.backends or suite.backends
        refs = []
        for variant in model.variants:
            if variant not in files:
                log(f"  {model.name}: variant {variant} was not built or was rejected by optimize; skipped")
                continue
            ov = [b for b in backends if b.startswith("openvino")] if variant in model.openvino_variants else []
            ort_backends = [b for b in backends if b.startswith("ort")]
            refs.append(ModelRef(str(files[variant]), model.name, variant, backends=ort_backends + ov))
            if variant + SYMMETRIC_SUFFIX in files:
                name = variant + SYMMETRIC_SUFFIX
                refs.append(ModelRef(str(files[name]), model.name, name, backends=ort_backends + ov))
        options = BenchOptions(
            backends=backends,
            batches=model.batches or suite.batches,
            threads=suite.threads,
            widths=model.widths,
            min_time_s=min_time_s if min_time_s is not None else suite.min_time_s,
            max_time_s=max(30.0, (min_time_s or suite.min_time_s) * 3),
            isolate=isolate,
            rounds=(rounds or suite.rounds) if isolate else 1,
            spinning=suite.spinning,
        )
        if wait_idle_s > 0:
            load = wait_until_idle(wait_idle_s, log=log)
            merged_notes.append(f"{model.name}: 1-minute load average {load:.2f} when its measurements started")
        ckpt = files["checkpoint"] if "torch" in backends else None
        result = bench(refs, checkpoint=ckpt, options=options, progress=log)
        result.notes.append(f"{model.name}: {RANDOM_WEIGHTS_NOTE}")
        merged = result if merged is None else _merge(merged, result)
    if merged is None:
        raise ConfigError(f"{path}: no models to run")
    merged.notes.extend(merged_notes)
    merged.targets = target_lines(merged.rows)
    write_reports(merged, out_dir, stem="suite")
    return merged


def wait_until_idle(max_wait_s: float, *, poll_s: float = IDLE_POLL_S, log=print) -> float:
    """Wait (up to ``max_wait_s``) until the 1-minute load is at most half the usable cores.

    Other processes on the cores inflate every latency and hurt fork-join runtimes (PyTorch's
    OpenMP) far more than others, which skews side-by-side ratios. Returns the load at the end.
    """
    import os
    import time

    from edgeseq.bench.envcard import usable_cores

    limit = IDLE_LOAD_PER_CORE * usable_cores()
    deadline = time.monotonic() + max_wait_s
    load = os.getloadavg()[0]
    while load > limit and time.monotonic() < deadline:
        log(f"  waiting for an idle machine: 1-minute load {load:.2f} > {limit:.2f}")
        time.sleep(poll_s)
        load = os.getloadavg()[0]
    if load > limit:
        log(f"  the machine is still busy (load {load:.2f}); measuring anyway, the notes say so")
    return load


def _merge(a: BenchResult, b: BenchResult) -> BenchResult:
    env = dict(a.env)
    env["models"] = {**a.env.get("models", {}), **b.env.get("models", {})}
    options = {"per_model": [*a.options.get("per_model", [a.options]), b.options]}
    return BenchResult(rows=a.rows + b.rows, env=env, options=options, created=a.created, notes=a.notes + b.notes)


def _best(rows: list[BenchRow]) -> BenchRow | None:
    ok = [r for r in rows if not r.skipped and r.p50_ms is not None]
    return min(ok, key=lambda r: r.p50_ms) if ok else None


def target_lines(rows: list[BenchRow]) -> list[str]:
    """The issue's targets checked on the batch-1 rows of each model (eager baseline needed)."""
    lines = []
    for model in dict.fromkeys(r.model for r in rows):
        for threads in sorted({r.threads for r in rows if r.model == model}):
            sel = [r for r in rows if r.model == model and r.batch == 1 and r.threads == threads and not r.skipped]
            eager = _best([r for r in sel if r.backend == "torch"])
            if eager is None:
                continue
            fp32 = _best([r for r in sel if r.backend == "ort-cpu" and r.precision == "fp32"])
            best = _best([r for r in sel if r.backend.startswith("ort-cpu")])
            ov_default = _best([r for r in sel if r.backend == "openvino" and r.model_precision == "fp32"])
            ov_int8 = _best([r for r in sel if r.backend.startswith("openvino") and r.model_precision == "int8"])
            head = f"{model} batch 1, {threads} threads:"
            parts = [f"eager {eager.p50_ms:.2f} ms"]
            if fp32:
                r = fp32.p50_ms / eager.p50_ms
                parts.append(
                    f"ORT FP32 {r:.2f}x eager ({'meets' if r <= TARGET_ORT_FP32_VS_EAGER else 'misses'} <= {TARGET_ORT_FP32_VS_EAGER}x)"
                )
            if best:
                r = best.p50_ms / eager.p50_ms
                parts.append(
                    f"best ({best.variant or best.precision}, {best.p50_ms:.2f} ms) {r:.2f}x eager "
                    f"({'meets' if r <= TARGET_BEST_VS_EAGER else 'misses'} <= {TARGET_BEST_VS_EAGER}x)"
                )
                for label, other in (("OpenVINO default", ov_default), ("OpenVINO on INT8", ov_int8)):
                    if other:
                        verdict = "faster than" if best.p50_ms < other.p50_ms else "NOT faster than"
                        parts.append(f"{verdict} {label} ({other.precision}, {other.p50_ms:.2f} ms)")
            lines.append(head + " " + "; ".join(parts))
    return lines
