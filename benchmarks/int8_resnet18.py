"""INT8 on resnet18-rows-lstm at 224×224, batch 1: FP32 vs graph-optimized vs static vs mixed INT8, side by side.

Random weights (latency does not depend on them), calibration on the digits upscaled to 224×224 RGB
through the model's own preprocessing. Every variant gets its session up front; the timing runs in
interleaved rounds (each round visits every variant in a fresh random order), so drift of the
machine (other jobs, frequency) spreads over all variants instead of biasing one.

    PYTHONPATH=. python benchmarks/int8_resnet18.py [--threads 2] [--rounds 25] [--per-round 4] [--spin] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RECIPE = REPO / "models" / "resnet18-rows-lstm.toml"
CALIBRATION_SAMPLES = 32  # MinMax ranges settle after a few dozen images on this model
EVAL_SAMPLES = 32  # agreement / max diff vs FP32 (random weights: a sanity check, not an accuracy figure)


def build_fp32(out: Path) -> tuple[Path, object]:
    """Export the recipe's model (random weights) with edgeseq's exporter; returns the path and the config."""
    import torch

    from edgeseq.config import load_config
    from edgeseq.export import ExportOptions, export_onnx
    from edgeseq.nn import build_model
    from edgeseq.runtime.metadata import ModelMetadata

    cfg = load_config(RECIPE)
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.preprocess, 10).eval()
    example = torch.randn(1, 3, cfg.preprocess.height, cfg.preprocess.width)
    meta = ModelMetadata(task="classification", labels=[str(i) for i in range(10)], preprocess=vars(cfg.preprocess))
    path = out / "fp32.onnx"
    export_onnx(model, example, path, ExportOptions(), metadata=meta)
    return path, cfg


def digits_224(cfg: object, count: int, offset: int) -> list[np.ndarray]:
    """``count`` digits images, upscaled and normalised by the recipe's preprocessing."""
    from edgeseq.data.digits import load_digits_uint8
    from edgeseq.runtime.preprocess import preprocess_image

    pixels, _ = load_digits_uint8()
    return [preprocess_image(pixels[i], cfg.preprocess) for i in range(offset, offset + count)]


def build_variants(fp32: Path, out: Path, calib: list[np.ndarray]) -> dict[str, Path]:
    """Every candidate, built with edgeseq.optimization's passes (onnxruntime's tools)."""
    from edgeseq.optimization.conv_weights import shift_conv_weight_zero_points
    from edgeseq.optimization.quantization import (
        StaticQuantSettings,
        preprocess_for_quantization,
        quantize_dynamic_ops,
        quantize_static_qdq,
        static_op_types,
    )
    from edgeseq.optimization.samples import SampleReader, SampleSet
    from edgeseq.optimization.variants.ort_opt import optimize_graph

    samples = SampleSet(calib)
    pre = preprocess_for_quantization(fp32, out / "pre.onnx")
    paths = {"fp32": fp32}
    paths["ort-opt(all)"] = optimize_graph(fp32, out / "ort-opt-all.onnx", "all")
    paths["ort-opt(extended)"] = optimize_graph(fp32, out / "ort-opt-ext.onnx", "extended")
    dyn = ["LSTM", "MatMul", "Gemm"]

    def static(name: str, **kw) -> Path:
        settings = StaticQuantSettings(
            **{"per_channel": True, "activation_type": "QUInt8", "weight_type": "QInt8", "reduce_range": False, **kw}
        )
        return quantize_static_qdq(pre, out / f"{name}.onnx", SampleReader(samples, "images"), settings)

    # Measured here and dropped from the default run: s8 activations (no fast x86 s8s8 conv kernel:
    # ~1.0x FP32), per-tensor weights (no faster than per-channel, less accurate), and keeping the
    # 7x7 stem conv in float (its uint8 im2col is ~2x its FP32 kernel, yet the float island between
    # QDQ layouts made the whole model slower: 0.47-0.52x FP32).
    # "symmetric": zero-point-0 weights as quantize_static writes them (onnxruntime's VNNI conv kernel);
    # "gemm": the same weights at zero point -1 (bit-identical results, onnxruntime's U8S8 GEMM: AMX where present)
    paths["static (symmetric)"] = static("static")
    conv_only = static("mixed-static", op_types=static_op_types(exclude=dyn))
    paths["mixed (symmetric)"] = quantize_dynamic_ops(conv_only, out / "mixed.onnx", dyn)
    shift_conv_weight_zero_points(paths["static (symmetric)"], out / "static-gemm.onnx")
    paths["static (gemm)"] = out / "static-gemm.onnx"
    shift_conv_weight_zero_points(conv_only, out / "mixed-static-gemm.onnx")
    paths["mixed (gemm)"] = quantize_dynamic_ops(out / "mixed-static-gemm.onnx", out / "mixed-gemm.onnx", dyn)
    return paths


def interleaved_latency(
    paths: dict[str, Path], sample: np.ndarray, threads: int, rounds: int, per_round: int, spinning: bool = False
) -> dict[str, list[int]]:
    """Per-variant lists of batch-1 run times (ns), measured in interleaved, shuffled rounds."""
    from edgeseq.bench.interleave import SPIN_SETTLE_S
    from edgeseq.bench.sidebyside import interleaved_latency_ns
    from edgeseq.optimization.gate import make_session

    sessions = {name: make_session(p, "all", threads, spinning=spinning) for name, p in paths.items()}
    pause = SPIN_SETTLE_S if spinning else 0.0  # spinning threads of one session would take the next one's cores
    return interleaved_latency_ns(sessions, sample, runs=rounds * per_round, rounds=rounds, pause_s=pause)


def agreement(paths: dict[str, Path], evals: list[np.ndarray]) -> dict[str, tuple[float, float]]:
    """(agreement % of argmax with FP32, max |logit diff|) per variant."""
    from edgeseq.optimization.gate import make_session

    x = np.stack(evals)
    ref = make_session(paths["fp32"], "all", 2).run(None, {"images": x})[0]
    out = {}
    for name, p in paths.items():
        y = make_session(p, "all", 2).run(None, {"images": x})[0]
        out[name] = (100.0 * float(np.mean(y.argmax(1) == ref.argmax(1))), float(np.abs(y - ref).max()))
    return out


def main() -> int:
    """Build, measure, print a Markdown table (and write JSON when asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--per-round", type=int, default=4)
    parser.add_argument(
        "--spin",
        action="store_true",
        help="let intra-op threads spin (onnxruntime's default): faster INT8 on an idle machine, worse on a busy one",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    import onnxruntime as ort

    from edgeseq.cpu import read_cpu_facts

    with tempfile.TemporaryDirectory(prefix="int8-resnet18-") as tmp:
        out = Path(tmp)
        started = time.perf_counter()
        fp32, cfg = build_fp32(out)
        paths = build_variants(fp32, out, digits_224(cfg, CALIBRATION_SAMPLES, 0))
        build_s = time.perf_counter() - started
        evals = digits_224(cfg, EVAL_SAMPLES, 1000)
        load = os.getloadavg()[0]
        times = interleaved_latency(paths, evals[0], args.threads, args.rounds, args.per_round, args.spin)
        agree = agreement(paths, evals)
        sizes = {name: p.stat().st_size for name, p in paths.items()}
    p50 = {name: float(np.median(t)) / 1e6 for name, t in times.items()}
    rows = []
    for name in paths:
        rows.append(
            {
                "variant": name,
                "size_mb": sizes[name] / 1e6,
                "p50_ms": p50[name],
                "p90_ms": float(np.percentile(times[name], 90)) / 1e6,
                # the fastest call: what the kernels do when no neighbour interferes (a shared machine's floor)
                "min_ms": float(np.min(times[name])) / 1e6,
                "min_ratio_vs_fp32": float(np.min(times[name])) / float(np.min(times["fp32"])),
                "ratio_vs_fp32": p50[name] / p50["fp32"],
                "runs": len(times[name]),
                "agreement_pct": agree[name][0],
                "max_abs_diff": agree[name][1],
            }
        )
    cpu = read_cpu_facts()
    result = {
        "model": "resnet18-rows-lstm (random weights), 224x224 RGB, batch 1",
        "threads": args.threads,
        "session": f"ORT_ENABLE_ALL, intra-op spinning {'on' if args.spin else 'off'}",
        "onnxruntime": ort.__version__,
        "cpu": cpu.to_json(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "calibration": f"{CALIBRATION_SAMPLES} digits upscaled to 224x224 RGB, MinMax",
        "build_s": build_s,
        "load_average_1min": load,
        "rows": rows,
    }
    print(
        f"resnet18-rows-lstm 224x224 batch 1, {args.threads} threads, onnxruntime {ort.__version__}, {cpu.model_name} (VNNI {cpu.vnni})"
    )
    busy = (
        " (busy machine: medians drift, the min columns show the kernels' floor)"
        if load > (os.cpu_count() or 1)
        else ""
    )
    print(f"load average before timing: {load:.1f} on {os.cpu_count()} cores{busy}")
    print("| variant | size MB | p50 ms | p90 ms | × FP32 (p50) | min ms | × FP32 (min) | agreement | max diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['variant']} | {r['size_mb']:.1f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['ratio_vs_fp32']:.2f} | "
            f"{r['min_ms']:.2f} | {r['min_ratio_vs_fp32']:.2f} | "
            f"{r['agreement_pct']:.0f}% | {r['max_abs_diff']:.3g} |"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
