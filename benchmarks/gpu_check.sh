#!/usr/bin/env bash
# CUDA checks for the torch-free runtime, in one short run (about a minute on a GPU machine):
#   1. the CUDA provider is really in use: Predictor(providers="cuda") reports it, and ONNX Runtime's
#      profile shows the graph's nodes executed by CUDAExecutionProvider (ORT falls back to CPU
#      silently otherwise: docs/traps.md #17);
#   2. parity: CUDA vs CPU logits on the same preprocessed batch, and the same predicted labels;
#   3. latency: median/p90 per call on CPU and CUDA at batch 1 and 64 (after warm-up: TRAPS #16).
# Then the gpu-marked runtime tests, when the training extras (torch, onnx) are installed.
#
# Usage: benchmarks/gpu_check.sh [MODEL.onnx]   (default: the shipped models/digits-rows-lstm.onnx)
# Needs: pip install '.[gpu]' (onnxruntime-gpu) and a CUDA GPU. Exit 1 when a check fails, 2 when it cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python}"
MODEL="${1:-models/digits-rows-lstm.onnx}"

if [[ ! -f "$MODEL" ]]; then
    echo "gpu_check: model $MODEL not found; pass an edgeseq ONNX model" >&2
    exit 2
fi
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi

"$PYTHON" - "$MODEL" <<'PY'
import glob
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

from edgeseq.errors import EdgeseqError
from edgeseq.runtime import Predictor
from edgeseq.runtime.session import CUDA, SessionConfig, session_options

# CUDA vs CPU on the same fp32 graph: cuDNN chooses other algorithms (TF32 for convs where allowed),
# so logits differ by ~1e-4 on small models; 1e-3 still catches a wrong kernel (errors of ~1e-1).
CUDA_ATOL = 1e-3
WARMUP, CALLS = 20, 200

model = sys.argv[1]
report = {"onnxruntime": ort.__version__, "available_providers": ort.get_available_providers(), "model": model}
if CUDA not in ort.get_available_providers():
    print(f"gpu_check: this onnxruntime has no {CUDA}; install onnxruntime-gpu (pip install '.[gpu]')", file=sys.stderr)
    sys.exit(2)
try:
    cuda = Predictor(model, providers="cuda")
except EdgeseqError as exc:
    print(f"gpu_check: FAIL: {exc}", file=sys.stderr)
    sys.exit(1)
cpu = Predictor(model, providers="cpu")
auto = Predictor(model, providers="auto")
report["providers"] = {"cuda": cuda.providers, "cpu": cpu.providers, "auto": auto.providers}
failures = []
if cuda.providers[0] != CUDA or auto.providers[0] != CUDA:
    failures.append(f"providers: cuda={cuda.providers} auto={auto.providers}; expected {CUDA} first")

# 1. which provider executed each node, from ORT's own profile
with tempfile.TemporaryDirectory() as tmp:
    options = session_options(SessionConfig(providers="cuda"))
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(tmp, "profile")
    profiled = ort.InferenceSession(model, sess_options=options, providers=[CUDA, "CPUExecutionProvider"])
    x = cpu.preprocess(np.zeros((cpu.metadata.preprocess["height"], cpu.metadata.preprocess["width"]), np.uint8))
    profiled.run(None, {cuda.input_name: x})
    events = json.load(open(profiled.end_profiling()))
nodes = [e for e in events if e.get("cat") == "Node" and "provider" in e.get("args", {})]
by_provider = {}
for e in nodes:
    by_provider[e["args"]["provider"]] = by_provider.get(e["args"]["provider"], 0) + 1
report["node_runs_by_provider"] = by_provider
if by_provider.get(CUDA, 0) == 0:
    failures.append(f"no node ran on {CUDA}: {by_provider}")

# 2. parity on real digits when scikit-learn is there, else random pixels
spec = cpu.metadata.preprocess
try:
    from sklearn.datasets import load_digits

    images = list((load_digits().images[:256] * 255 / 16).round().astype(np.uint8))
    report["parity_data"] = "sklearn digits (256)"
except ImportError:
    rng = np.random.default_rng(0)
    images = list(rng.integers(0, 256, size=(256, spec["height"], spec.get("width", spec["height"])), dtype=np.uint8))
    report["parity_data"] = "random pixels (256)"
shapes = {cpu.preprocess(im).shape for im in images[:8]}
worst = 0.0
if len(shapes) == 1:  # fixed-size model: one batch
    batch = cpu.preprocess(images)
    worst = float(np.abs(cuda.run(batch)[cuda.metadata.outputs.logits] - cpu.run(batch)[cpu.metadata.outputs.logits]).max())
a, b = cuda.predict(images), cpu.predict(images)
key = (lambda r: r.text) if cpu.task == "ctc" else (lambda r: r.label)
agree = float(np.mean([key(p) == key(q) for p, q in zip(a, b)]))
report["parity"] = {"max_abs_logit_diff": worst, "atol": CUDA_ATOL, "prediction_agreement": agree}
if worst > CUDA_ATOL or agree < 1.0:
    failures.append(f"parity: max |diff| {worst:.2e} (atol {CUDA_ATOL}), agreement {agree:.4f}")

# 3. latency of the Predictor (preprocessed input, so it is the inference itself)
def latency(predictor, batch):
    for _ in range(WARMUP):
        predictor.run(batch)
    ns = []
    for _ in range(CALLS):
        t = time.perf_counter_ns()
        predictor.run(batch)
        ns.append(time.perf_counter_ns() - t)
    ns.sort()
    return {"median_ms": statistics.median(ns) / 1e6, "p90_ms": ns[int(0.9 * (len(ns) - 1))] / 1e6}

one = cpu.preprocess(images[:1])
many = cpu.preprocess(images[:64]) if len(shapes) == 1 else one
report["latency"] = {
    f"{name}_batch{b.shape[0]}": latency(p, b) for name, p in (("cpu", cpu), ("cuda", cuda)) for b in (one, many)
}
report["cpu_threads"] = cpu.threads
print(json.dumps(report, indent=2, default=str))
if failures:
    for f in failures:
        print(f"gpu_check: FAIL: {f}", file=sys.stderr)
    sys.exit(1)
print("gpu_check: OK (CUDA in use, parity within tolerance)", file=sys.stderr)
PY

if "$PYTHON" -c "import torch, onnx" 2>/dev/null; then
    "$PYTHON" -m pytest tests/runtime -m gpu -q -p no:cacheprovider
else
    echo "gpu_check: torch/onnx not installed; skipping the gpu-marked tests (they export models)" >&2
fi
