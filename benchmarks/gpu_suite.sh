#!/usr/bin/env bash
# The GPU part of the benchmark suite: ONNX Runtime CUDA, FP32 and FP16, batch sweep, on resnet18-rows-lstm
# (224x224) and the text-line CRNN (width sweep: each new width pays cuDNN's setup, docs/traps.md #16; every
# shape is warmed up before timing). Results go beside the CPU ones: benchmarks/results/gpu/.
# About 2-4 minutes on one GPU. (Provider/parity checks of the runtime are in benchmarks/gpu_check.sh.)
#
# Usage: benchmarks/gpu_suite.sh [OUT_DIR]
# Needs: a CUDA GPU, onnxruntime-gpu (pip install '.[gpu]') and the training extras (torch, onnx) to prepare
# the models. Exit 2 when it cannot run here.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python}"
OUT="${1:-benchmarks/results/gpu}"
WORK="${EDGESEQ_BENCH_WORK:-runs/bench-suite-gpu}"

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu_suite: no NVIDIA GPU here (nvidia-smi missing or failing)" >&2
    exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
if ! "$PYTHON" -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())"; then
    echo "gpu_suite: this onnxruntime has no CUDAExecutionProvider; pip install '.[gpu]' (onnxruntime-gpu)" >&2
    exit 2
fi

# FP32 export + FP16 variant (edgeseq.optimization, target cuda) for each model, random weights (latency only).
"$PYTHON" - "$WORK" <<'PY'
import sys
from pathlib import Path

from edgeseq.pipeline.suite import SuiteModel, prepare_model

work = Path(sys.argv[1])
for name, recipe in (("resnet18-rows-lstm", "models/resnet18-rows-lstm.toml"), ("crnn-textline", "models/crnn-textline.toml")):
    files = prepare_model(SuiteModel(name=name, recipe=recipe, variants=["fp32", "fp16"]), work)
    missing = {"fp32", "fp16"} - set(files)
    if missing:
        sys.exit(f"gpu_suite: {name}: could not build {sorted(missing)}")
    print(name, {k: str(v) for k, v in files.items()})
PY

R18="$WORK/resnet18-rows-lstm"
CRNN="$WORK/crnn-textline"
# Batch sweep at 224x224: CUDA FP32 and FP16.
"$PYTHON" -m edgeseq bench "$R18/model.onnx" "$R18/variants/fp16.onnx" --backend ort-cuda \
    --batch 1,8,32,64 --min-time 1 --no-profile --out "$OUT/resnet18"
# Sequence-length sweep on the CTC model.
"$PYTHON" -m edgeseq bench "$CRNN/model.onnx" "$CRNN/variants/fp16.onnx" --backend ort-cuda \
    --batch 1,32 --width 64,128,256,512 --min-time 1 --no-profile --out "$OUT/crnn-textline"
echo "gpu_suite: results in $OUT"
