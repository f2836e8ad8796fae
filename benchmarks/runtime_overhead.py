"""Measure the torch-free runtime: import time, resident memory, per-call overhead of Predictor.predict.

Usage:
    PYTHONPATH=. python benchmarks/runtime_overhead.py [--model models/digits-rows-lstm.onnx] [--calls 2000]

Figures:
    * import time: ``from edgeseq.runtime import Predictor`` (which imports onnxruntime) in a fresh
      process, median of several processes; also ``import edgeseq.runtime`` alone (lazy names).
    * resident memory (VmRSS, Linux) of a fresh process after the imports and after loading the model
      and running one prediction; VmHWM is the peak.
    * per-call latency, calls interleaved round-robin so drift hits every variant alike, median and p90:
      bare ``InferenceSession.run`` on a preprocessed batch of 1, ``Predictor.run`` (input checks),
      ``Predictor.predict`` on the same float batch (checks + softmax/top-k + result object), on a
      uint8 image (adds preprocessing) and on a PNG path (adds decoding the file).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMPORT_RUNS = 5

_MEMORY_PROBE = """
import json, sys, time
def rss():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}
base = rss()
from edgeseq.runtime import Predictor
import numpy as np
imported = rss()
p = Predictor(sys.argv[1], threads=int(sys.argv[2]) if sys.argv[2] != "None" else None)
p.predict(np.zeros((8, 8), np.uint8))
loaded = rss()
print(json.dumps({"python_mb": base["VmRSS"], "after_import_mb": imported["VmRSS"],
                  "after_load_mb": loaded["VmRSS"], "peak_mb": loaded["VmHWM"]}))
"""

_IMPORT_PROBE = """
import sys, time
t0 = time.perf_counter_ns()
import edgeseq.runtime
t1 = time.perf_counter_ns()
from edgeseq.runtime import Predictor
t2 = time.perf_counter_ns()
assert sys.modules.get("torch") is None
print((t1 - t0) / 1e6, (t2 - t0) / 1e6)
"""


def _fresh_python(code: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    blocker = "import sys; sys.modules['torch'] = None\n"  # proves the figures are torch-free
    out = subprocess.run(
        [sys.executable, "-c", blocker + code, *args], capture_output=True, text=True, env=env, check=True
    )
    return out.stdout.strip()


def import_times() -> dict[str, float]:
    """Median milliseconds to import edgeseq.runtime (lazy) and to get Predictor (onnxruntime loaded)."""
    lazy, full = zip(*(map(float, _fresh_python(_IMPORT_PROBE).split()) for _ in range(IMPORT_RUNS)), strict=True)
    return {"import_edgeseq_runtime_ms": statistics.median(lazy), "import_predictor_ms": statistics.median(full)}


def memory(model: str, threads: int | None) -> dict[str, float]:
    """Resident memory in MiB of a fresh process: bare, after imports, after loading the model."""
    if not Path("/proc/self/status").exists():
        return {}
    return json.loads(_fresh_python(_MEMORY_PROBE, model, str(threads)))


def _quantiles(ns: list[int]) -> dict[str, float]:
    ordered = sorted(ns)
    return {"median_us": statistics.median(ordered) / 1e3, "p90_us": ordered[int(0.9 * (len(ordered) - 1))] / 1e3}


def call_overhead(model: str, calls: int, threads: int | None) -> dict[str, dict[str, float]]:
    """Per-call latency of the bare session and of each Predictor entry point, on the same input."""
    import numpy as np
    from PIL import Image

    from edgeseq.runtime import Predictor

    predictor = Predictor(model, threads=threads)
    spec = predictor.metadata.preprocess if predictor.metadata else None
    if spec is None:
        raise SystemExit(f"{model} has no edgeseq metadata; predict() cannot be measured")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(spec["height"], spec["width"]), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "image.png"
        Image.fromarray(pixels).save(png)
        batch = predictor.preprocess(pixels)  # (1, C, H, W) float32, or uint8 NHWC for in-graph models
        session, feed = predictor.session, {predictor.input_name: batch}
        logits = predictor.metadata.outputs.logits
        variants = {
            "session.run (bare)": lambda: session.run([logits], feed),
            "Predictor.run": lambda: predictor.run(batch),
            "Predictor.predict(float batch)": lambda: predictor.predict(batch),
            "Predictor.predict(uint8 image)": lambda: predictor.predict(pixels),
            "Predictor.predict(png path)": lambda: predictor.predict(png),
        }
        timings: dict[str, list[int]] = {name: [] for name in variants}
        for fn in variants.values():  # warm-up: the first runs allocate (docs/traps.md #16)
            for _ in range(20):
                fn()
        for _ in range(calls):
            for name, fn in variants.items():
                start = time.perf_counter_ns()
                fn()
                timings[name].append(time.perf_counter_ns() - start)
    results = {name: _quantiles(ns) for name, ns in timings.items()}
    bare = results["session.run (bare)"]["median_us"]
    for figures in results.values():
        figures["overhead_us"] = figures["median_us"] - bare
    return results


def environment(model: str, threads: int | None) -> dict[str, object]:
    """Versions, CPU and threads, recorded with every result."""
    import numpy as np
    import onnxruntime as ort
    import PIL

    from edgeseq.runtime.session import SessionConfig, physical_cores, usable_cpus

    cpu = platform.processor()
    if Path("/proc/cpuinfo").exists():
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return {
        "model": model,
        "model_bytes": Path(model).stat().st_size,
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "cpu": cpu,
        "usable_cpus": usable_cpus(),
        "physical_cores": physical_cores(),
        "intra_op_threads": SessionConfig(threads=threads).intra_op_threads,
    }


def main() -> int:
    """Print the figures as a small table, or JSON with --json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="an edgeseq ONNX model (default: the shipped digits model)")
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per variant (default 2000)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: physical cores)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    if args.model is None:
        from edgeseq.runtime import reference_model

        args.model = str(reference_model())
    report = {
        "environment": environment(args.model, args.threads),
        "import": import_times(),
        "memory_mb": memory(args.model, args.threads),
        "per_call": call_overhead(args.model, args.calls, args.threads),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for key, value in report["environment"].items():
        print(f"{key:>22}: {value}")
    for key, value in {**report["import"], **report["memory_mb"]}.items():
        print(f"{key:>22}: {value:.1f}")
    print(f"\n{'variant':<32}{'median µs':>11}{'p90 µs':>10}{'overhead µs':>13}")
    for name, figures in report["per_call"].items():
        print(f"{name:<32}{figures['median_us']:>11.1f}{figures['p90_us']:>10.1f}{figures['overhead_us']:>13.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
