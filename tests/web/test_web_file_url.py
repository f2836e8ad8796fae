"""The page `edgeseq web` writes works opened from disk (file://) in headless Chromium, or says what to do.

Browsers refuse fetch() and module imports of local files; the page then runs from page-data.js (see
edgeseq/web/static/boot.js). Checked on the shipped digits model with a real scan: the label equals the
Python runtime's, and the logits agree within the browser parity test's tolerance (1e-4; WebAssembly's
SIMD kernels sum in another order than native onnxruntime's AVX code, measured <= 2.4e-6).
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import numpy as np
import pytest
from chromium_cdp import Chromium, find_chromium

from edgeseq.runtime import Predictor
from edgeseq.web import build_web

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "digits-rows-lstm.onnx"
SAMPLE = REPO / "samples" / "digit-7.png"
LOGIT_ATOL = 1e-4
TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        pytest.skip("chromium not installed: apt-get install -y chromium (or set EDGESEQ_CHROMIUM)")
    chromium = Chromium(executable, timeout=TIMEOUT_S)
    yield chromium
    chromium.close()


def _predict_from_disk(browser: Chromium, page: Path) -> dict:
    browser.goto(page.joinpath("index.html").resolve().as_uri())
    info = browser.evaluate("window.edgeseqBooted.then(() => window.edgeseqReady)", timeout=TIMEOUT_S)
    assert info["provider"] == "wasm" and info["cross_origin_isolated"] is False
    png = base64.b64encode(SAMPLE.read_bytes()).decode()
    # the sample goes in as a data: URL (the page's own fetch of a local file would be refused too)
    return browser.evaluate(f"window.edgeseqPredict('data:image/png;base64,{png}')", timeout=TIMEOUT_S)


def test_page_works_opened_from_disk(browser: Chromium, tmp_path: Path) -> None:
    page = tmp_path / "page"
    result = build_web(MODEL, page, backend="wasm")
    assert "page-data.js" in result.files
    got = _predict_from_disk(browser, page)
    predictor = Predictor(MODEL)
    assert got["label"] == predictor.predict(str(SAMPLE)).label == "7"
    (native,) = predictor.run(predictor.preprocess(str(SAMPLE))).values()
    assert np.max(np.abs(np.asarray(got["logits"]) - native.reshape(-1))) <= LOGIT_ATOL
    subtitle = browser.evaluate("document.getElementById('subtitle').textContent")
    assert "10 classes" in subtitle and "loading" not in subtitle
    assert browser.evaluate("document.getElementById('error').hidden") is True


def test_page_without_embedded_data_says_how_to_serve_it(browser: Chromium, tmp_path: Path) -> None:
    page = tmp_path / "page"
    build_web(MODEL, page, backend="wasm")
    result = build_web(MODEL, page, backend="wasm", embed=False)  # a rebuild removes the old page-data.js
    assert "page-data.js" not in result.files and not (page / "page-data.js").exists()
    browser.goto(page.joinpath("index.html").resolve().as_uri())
    deadline = time.monotonic() + 30
    while browser.evaluate("document.getElementById('error').hidden") and time.monotonic() < deadline:
        time.sleep(0.2)
    message = browser.evaluate("document.getElementById('error').textContent")
    assert "opened from disk" in message and "--serve" in message and "http.server" in message
    assert "loading the model" not in browser.evaluate("document.getElementById('subtitle').textContent")
