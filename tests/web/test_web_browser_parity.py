"""Parity in a real browser: the `edgeseq web` page in headless Chromium against the Python runtime.

For the digits model (the shipped models/digits-rows-lstm.onnx, else a tiny exported stand-in) on
real scikit-learn digit scans, and for a CTC text-line model on rendered lines of variable width:
  * the tensor the page feeds equals the Python runtime's bit for bit (same preprocessing);
  * labels / decoded strings are equal;
  * logits and softmax scores agree within the tolerances below.
Latency (median of repeated session.run calls, one thread on both sides) is reported beside the
native ONNX Runtime figure, and a screenshot of the page is kept as an artifact.

Skipped only when no Chromium binary is installed (CI installs Debian's `chromium`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pytest
from chromium_cdp import Chromium, find_chromium
from PIL import Image

from edgeseq.web import build_web, serve_in_thread

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SHIPPED_DIGITS = REPO / "models" / "digits-rows-lstm.onnx"
SHIPPED_TEXTLINE = REPO / "models" / "crnn-textline.onnx"

# The page feeds the same input tensor as Python (asserted exactly below), so what remains is the
# kernels: onnxruntime-web runs MLAS's WebAssembly SIMD128 code (or WebGPU shaders for the ops
# its WebGPU provider has), native onnxruntime its AVX2/AVX-512 code, with other float32 summation
# orders in Conv/Gemm/LSTM. Measured here, WebAssembly and WebGPU (SwiftShader) alike: max |logit
# diff| <= 2.4e-6 on the shipped and stand-in digits models and the CTC stand-in. The bounds leave
# 40x headroom and stay far below what a preprocessing bug causes (>= 1e-2 on these models).
LOGIT_ATOL = 1e-4
SCORE_ATOL = 1e-5  # softmax probabilities move by at most 1/4 of the largest logit difference
NUM_DIGITS = 60  # real 8x8 scans: 6 per class
NUM_LINES = 12
# session.run calls per image for the latency medians; WebGPU on SwiftShader (software) takes ~60 ms a run
REPEATS = {"wasm": 10, "webgpu": 2}
TIMEOUT_S = 90.0


def _chromium(webgpu: bool):
    executable = find_chromium()
    if executable is None:
        pytest.skip("chromium not installed: apt-get install -y chromium (or set EDGESEQ_CHROMIUM to a Chrome binary)")
    return Chromium(executable, timeout=TIMEOUT_S, webgpu=webgpu)


@pytest.fixture(scope="module")
def browser():
    """Chromium without a GPU: the page runs on WebAssembly (the "auto" page falls back to it)."""
    chromium = _chromium(webgpu=False)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def webgpu_browser():
    """Chromium with WebGPU on SwiftShader's software Vulkan adapter."""
    chromium = _chromium(webgpu=True)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots and figures: in EDGESEQ_ARTIFACTS_DIR when set (CI keeps it), else a pytest tmp folder."""
    chosen = os.environ.get("EDGESEQ_ARTIFACTS_DIR")
    if chosen:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        return Path(chosen)
    return tmp_path_factory.mktemp("web-artifacts")


def _export_tiny(path: Path, task: str, in_graph: bool = False) -> Path:
    """A small random-weight edgeseq model exported like the real ones (stand-in for a missing shipped model)."""
    import torch

    from edgeseq.config import PreprocessConfig
    from edgeseq.export import ExportOptions, export_onnx
    from edgeseq.nn.model import build_model, tiny_model_config
    from edgeseq.runtime.metadata import ModelMetadata

    torch.manual_seed(0)
    if task == "ctc":
        pre = PreprocessConfig(resize="height", width=64, min_width=16, max_width=256, invert=True)
        config = tiny_model_config(sequencer="columns", head="ctc", bidirectional=True)
        meta = ModelMetadata(task="ctc", alphabet="0123456789", blank_index=0, preprocess=dataclasses.asdict(pre))
        classes = 11
    else:
        pre = PreprocessConfig()
        config = tiny_model_config(hidden_size=32)
        meta = ModelMetadata(
            task="classification", labels=[str(i) for i in range(10)], preprocess=dataclasses.asdict(pre)
        )
        classes = 10
    model = build_model(config, pre, classes).eval()
    example = torch.zeros(1, 1, pre.height, pre.width)
    export_onnx(model, example, path, ExportOptions(verify=False, preprocess_in_graph=in_graph), metadata=meta)
    return path


def _digit_pngs(folder: Path) -> list[str]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    names = []
    for label in range(10):
        for index in np.flatnonzero(digits.target == label)[: NUM_DIGITS // 10]:
            name = f"digit-{label}-{index}.png"
            pixels = (digits.images[index] * 255 / 16).round().astype(np.uint8)  # 0..16 -> 0..255
            Image.fromarray(pixels, mode="L").save(folder / name)
            names.append(name)
    return names


def _line_pngs(folder: Path) -> list[str]:
    from edgeseq.config import DataConfig
    from edgeseq.data.textlines import random_text, render_line

    rng = np.random.default_rng(0)
    cfg = DataConfig(dataset="textlines")
    names = []
    for i in range(NUM_LINES):
        height = (24, 32, 48)[i % 3]  # heights other than the model's, so the page resizes
        name = f"line-{i}.png"
        render_line(random_text(rng, cfg), rng, cfg, height).save(folder / name)
        names.append(name)
    return names


def _run_page(browser: Chromium, url: str, names: list[str], repeats: int) -> tuple[dict, list[dict]]:
    browser.goto(url + "?threads=1")
    info = browser.evaluate("window.edgeseqReady")
    script = f"""(async () => {{
        const out = [];
        for (const name of {json.dumps(names)}) {{
            const r = await window.edgeseqPredict('images/' + name, {{repeat: {repeats}}});
            out.push({{label: r.label, text: r.text, top_k: r.top_k, logits: r.logits, logits_dims: r.logits_dims,
                       input: Array.from(r.input.data), dims: r.input.dims, inference_ms: r.inference_ms}});
        }}
        await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
        return out;
    }})()"""
    return info, browser.evaluate(script, timeout=TIMEOUT_S)


def _native(model: Path, image_dir: Path, names: list[str], repeats: int) -> list[dict]:
    from edgeseq.runtime import Predictor

    predictor = Predictor(model, threads=1)
    output = predictor.metadata.outputs.logits
    rows = []
    for name in names:
        x = predictor.preprocess(str(image_dir / name))
        times = []
        for _ in range(repeats):
            start = time.perf_counter_ns()
            (logits,) = predictor.session.run([output], {predictor.input_name: x})
            times.append((time.perf_counter_ns() - start) / 1e6)
        result = predictor.predict(str(image_dir / name))
        rows.append({"input": x, "logits": logits, "result": result, "ms": times})
    return rows


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _compare(
    model: Path, backend: str, images, browser: Chromium, tmp_path: Path, artifacts: Path, provider: str = "wasm"
) -> dict:
    page = tmp_path / "page"
    build = build_web(model, page, backend=backend)
    image_dir = page / "images"
    image_dir.mkdir()
    names = images(image_dir)
    server, url = serve_in_thread(page)
    try:
        info, got = _run_page(browser, url, names, REPEATS[provider])
    finally:
        server.shutdown()
        server.server_close()
    has_adapter = "navigator.gpu ? navigator.gpu.requestAdapter().then(a => a !== null) : false"
    if provider == "webgpu" and info["provider"] != "webgpu" and not browser.evaluate(has_adapter):
        pytest.skip("this Chromium offers no WebGPU adapter (no GPU and no SwiftShader Vulkan); WebAssembly cases ran")
    want = _native(model, image_dir, names, REPEATS[provider])
    assert info["provider"] == provider, f"the page ran on {info['provider']}; expected {provider}"

    logit_diff = score_diff = 0.0
    texts = []
    for name, g, w in zip(names, got, want, strict=True):
        browser_input = np.asarray(g["input"], dtype=w["input"].dtype).reshape(g["dims"])
        np.testing.assert_array_equal(browser_input, w["input"], err_msg=f"{name}: the page fed a different tensor")
        logits = np.asarray(g["logits"], dtype=np.float32).reshape(g["logits_dims"])
        assert logits.shape == w["logits"].shape, name
        logit_diff = max(logit_diff, float(np.abs(logits - w["logits"]).max()))
        score_diff = max(score_diff, float(np.abs(_softmax(logits) - _softmax(w["logits"])).max()))
        texts.append(g["text"] if build.task == "ctc" else g["label"])
        if build.task == "ctc":
            assert g["text"] == w["result"].text, f"{name}: browser read {g['text']!r}, Python {w['result'].text!r}"
        else:
            assert g["label"] == w["result"].label, f"{name}: browser says {g['label']}, Python {w['result'].label}"
    assert logit_diff <= LOGIT_ATOL, f"{provider}: max |logit diff| {logit_diff:.3g} > {LOGIT_ATOL}"
    assert score_diff <= SCORE_ATOL, f"{provider}: max |score diff| {score_diff:.3g} > {SCORE_ATOL}"

    shot = browser.screenshot(artifacts / f"web-{model.stem}-{provider}-{backend}.png")
    figures = {
        "model": str(model),
        "backend": backend,
        "provider": info["provider"],
        "threads": info["threads"],
        "browser": info["user_agent"],
        "images": len(names),
        "max_abs_logit_diff": logit_diff,
        "max_abs_score_diff": score_diff,
        "browser_median_ms": statistics.median(t for g in got for t in g["inference_ms"][1:]),
        "native_median_ms": statistics.median(t for w in want for t in w["ms"][1:]),
        "page_bytes": build.total_bytes,
        "outputs": texts,
        "webgpu_fallback": build.opcheck.webgpu_fallback,
        "screenshot": str(shot),
    }
    (artifacts / f"web-{model.stem}-{provider}-{backend}.json").write_text(json.dumps(figures, indent=2))
    print(f"\nweb parity: {json.dumps(figures)}")
    return figures


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if SHIPPED_DIGITS.is_file():
        return SHIPPED_DIGITS
    return _export_tiny(tmp_path_factory.mktemp("digits") / "digits-tiny.onnx", "classification")


@pytest.mark.parametrize(
    ("backend", "provider"),
    [("wasm", "wasm"), ("auto", "wasm"), ("auto", "webgpu")],
    ids=["wasm-page", "auto-page-no-gpu", "auto-page-webgpu"],
)
def test_web_digits_parity_in_chromium(request, digits_model, backend, provider, tmp_path, artifacts) -> None:
    browser = request.getfixturevalue("webgpu_browser" if provider == "webgpu" else "browser")
    _compare(digits_model, backend, _digit_pngs, browser, tmp_path, artifacts, provider)


def _ctc_models() -> list:
    models = [pytest.param("tiny", id="tiny-ctc")]
    if SHIPPED_TEXTLINE.is_file():
        models.append(pytest.param(str(SHIPPED_TEXTLINE), id="crnn-textline"))
    return models


@pytest.mark.parametrize("which", _ctc_models())
def test_web_ctc_parity_in_chromium(browser, which, tmp_path, artifacts) -> None:
    model = _export_tiny(tmp_path / "ctc-tiny.onnx", "ctc") if which == "tiny" else Path(which)
    _compare(model, "wasm", _line_pngs, browser, tmp_path, artifacts)


def test_web_in_graph_preprocessing_parity_in_chromium(browser, tmp_path, artifacts) -> None:
    """A model that takes uint8 NHWC pixels (normalisation inside the graph): the page feeds the resized pixels."""
    model = _export_tiny(tmp_path / "digits-in-graph.onnx", "classification", in_graph=True)
    _compare(model, "wasm", _digit_pngs, browser, tmp_path, artifacts)


def test_web_drawing_canvas_predicts(browser, digits_model, tmp_path) -> None:
    """Drawing with (synthetic) mouse events on the canvas runs the model and lists the top-k classes."""
    page = tmp_path / "page"
    build_web(digits_model, page, backend="wasm", top_k=4)
    server, url = serve_in_thread(page)
    try:
        browser.goto(url)
        browser.evaluate("window.edgeseqReady")
        box = browser.evaluate(
            "(() => { const r = document.getElementById('draw').getBoundingClientRect(); "
            "return [r.left, r.top, r.width, r.height]; })()"
        )
        left, top, width, height = box
        stroke = [(0.5, 0.2), (0.5, 0.4), (0.5, 0.6), (0.5, 0.8)]  # a "1"
        for i, (fx, fy) in enumerate(stroke):
            kind = "mousePressed" if i == 0 else "mouseMoved"
            browser.call(
                "Input.dispatchMouseEvent",
                {
                    "type": kind,
                    "x": left + fx * width,
                    "y": top + fy * height,
                    "button": "left",
                    "buttons": 1,
                    "clickCount": 1,
                },
                session=True,
            )
        x, y = left + stroke[-1][0] * width, top + stroke[-1][1] * height
        browser.call(
            "Input.dispatchMouseEvent",
            {"type": "mouseReleased", "x": x, "y": y, "button": "left", "clickCount": 1},
            session=True,
        )
        shown = browser.evaluate(
            "new Promise(done => { const poll = () => { const n = document.querySelectorAll('#topk li').length; "
            "n ? done(n) : setTimeout(poll, 20); }; poll(); })"
        )
        assert shown == 4
        ink = browser.evaluate(
            "(() => { const d = document.getElementById('draw').getContext('2d').getImageData(0, 0, 280, 280).data; "
            "let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] > 128; return n; })()"
        )
        assert ink > 1000, "the stroke should have left ink on the canvas"
    finally:
        server.shutdown()
        server.server_close()
