"""The runtime and `edgeseq predict` work in a Python where importing torch fails."""

from __future__ import annotations

import json

import numpy as np
import pytest
from testkit import SHIPPED_MODEL, digits_uint8, run_without_torch, save_pngs

# The shipped model's test accuracy is recorded in its metadata (~0.97+); 100 test-split digits
# at 0.9 leave room for a few hard ones while a broken preprocessing (chance: 0.1) cannot pass.
SHIPPED_ACCURACY_FLOOR = 0.9

PREDICT_SCRIPT = """
import json, sys
from edgeseq.runtime import Predictor
predictor = Predictor(sys.argv[1])
results = predictor.predict(sys.argv[2:], top_k=3)
assert sys.modules.get("torch") is None and "onnx" not in sys.modules, "the runtime imported torch or onnx"
print(json.dumps([r.to_json() for r in results]))
"""


def test_runtime_predicts_without_torch_and_agrees_with_torch(tiny_classifier, digit_pngs):
    import torch

    path, model, pre = tiny_classifier.onnx, tiny_classifier.model, tiny_classifier.preprocess
    paths, _, pixels = digit_pngs
    proc = run_without_torch(PREDICT_SCRIPT, str(path), *map(str, paths))
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)

    from edgeseq.runtime.preprocess import preprocess_image

    with torch.no_grad():
        logits = model(torch.from_numpy(np.stack([preprocess_image(p, pre) for p in pixels]))).numpy()
    assert [r["index"] for r in results] == logits.argmax(1).tolist()


# Heavy optional packages the runtime must never need: importing any of them raises ImportError here.
BLOCKED = ("torch", "torchvision", "onnx", "onnxscript", "onnxslim", "sklearn", "matplotlib", "openvino")
# edgeseq modules a runtime import may load: the L0 core (LAYERS[0] of tests/test_architecture.py, packages
# with their submodules) and the runtime itself
CORE = ("edgeseq", "edgeseq.errors", "edgeseq.registry", "edgeseq.fileio", "edgeseq.config", "edgeseq.cpu",
        "edgeseq.presets", "edgeseq.memory", "edgeseq.budget")  # fmt: skip

IMPORT_EVERY_RUNTIME_MODULE = f"""
import importlib, pkgutil, sys
for blocked in {BLOCKED!r}:
    sys.modules[blocked] = None
import edgeseq.runtime
names = sorted(m.name for m in pkgutil.walk_packages(edgeseq.runtime.__path__, "edgeseq.runtime."))
problems = []
for name in [*names, "edgeseq.runtime", "edgeseq.cpu", "edgeseq.errors"]:
    # each module on its own: forget every edgeseq module first, so no earlier import hides what it needs
    for loaded in [m for m in sys.modules if m == "edgeseq" or m.startswith("edgeseq.")]:
        del sys.modules[loaded]
    importlib.import_module(name)
    above = sorted(
        m for m in sys.modules
        if m.startswith("edgeseq.") and not m.startswith("edgeseq.runtime")
        and not any(m == c or m.startswith(c + ".") for c in {CORE!r})
    )
    if above:
        problems.append(f"{{name}} loaded {{above}}")
loaded = [m for m in {BLOCKED!r} if sys.modules.get(m) is not None]
assert not loaded, loaded
assert not problems, "importing the runtime loaded modules above it: " + "; ".join(problems)
print(len(names), " ".join(names))
"""


def test_every_runtime_module_imports_without_torch_and_onnx():
    """edgeseq.runtime and each of its submodules, each imported on its own, work with torch, onnx and the
    other heavy extras blocked, and load no edgeseq module above the runtime (L0 core only)."""
    proc = run_without_torch(IMPORT_EVERY_RUNTIME_MODULE)
    assert proc.returncode == 0, proc.stderr
    count, *names = proc.stdout.split()
    # the façade and the homes of the rebuild are among them
    assert {"edgeseq.runtime.safety", "edgeseq.runtime.isolation", "edgeseq.runtime.options"} <= set(names)
    assert "edgeseq.runtime.modelfile.policy" in names and int(count) == len(names) >= 14


def test_blocker_really_blocks_torch():
    proc = run_without_torch("import torch")
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr


def test_cli_predict_without_torch(tiny_classifier, digit_pngs):
    path = tiny_classifier.onnx
    folder = digit_pngs[0][0].parent
    code = "import sys\nfrom edgeseq.cli import main\nsys.exit(main(sys.argv[1:]))"
    proc = run_without_torch(code, "predict", str(path), str(folder), "--json", "--top-k", "2")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["file"] for line in lines] == sorted(str(p) for p in digit_pngs[0])
    assert all(len(line["top_k"]) == 2 for line in lines)


def _shipped_or_skip():
    if not SHIPPED_MODEL.is_file():
        pytest.skip(f"the shipped model {SHIPPED_MODEL} is not built yet")
    return SHIPPED_MODEL


def shipped_test_digits(tmp_path, count: int = 100):
    """The first ``count`` digits of the test split the shipped model's recipe holds out, as PNG files."""
    from edgeseq.data.splits import split_indices

    pixels, labels = digits_uint8()
    # models/digits-rows-lstm.toml: val_fraction 0.1, test_fraction 0.2, split_seed 0, stratified by label
    _, _, test = split_indices(len(labels), 0.1, 0.2, 0, labels)
    pick = np.asarray(test[:count])
    return save_pngs(pixels[pick], tmp_path / "test-digits"), labels[pick]


def test_shipped_model_reads_real_digits_without_torch(tmp_path):
    model = _shipped_or_skip()
    paths, labels = shipped_test_digits(tmp_path)
    proc = run_without_torch(PREDICT_SCRIPT, str(model), *map(str, paths))
    assert proc.returncode == 0, proc.stderr
    predicted = [int(r["label"]) for r in json.loads(proc.stdout)]
    accuracy = float(np.mean(np.asarray(predicted) == labels))
    assert accuracy >= SHIPPED_ACCURACY_FLOOR, f"accuracy {accuracy:.3f} on {len(labels)} test digits"
