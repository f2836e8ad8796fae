"""Regenerate docs/web-demo.png: the shipped digits model's page in headless Chromium, on one real scan.

Usage (repository root): PYTHONPATH=. python tests/web/make_demo_screenshot.py [MODEL] [OUT] [DIGIT_INDEX]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from chromium_cdp import Chromium, find_chromium
from PIL import Image
from sklearn.datasets import load_digits

from edgeseq.web import build_web, serve_in_thread


def main(model: str = "models/digits-rows-lstm.onnx", out: str = "docs/web-demo.png", index: int = 3) -> None:
    """Build the page, show scikit-learn digit ``index`` on it, save a 1000x700 screenshot."""
    executable = find_chromium()
    if executable is None:
        raise SystemExit("chromium not installed: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page"
        build_web(model, page)
        digits = load_digits()
        Image.fromarray((digits.images[index] * 255 / 16).round().astype(np.uint8), mode="L").save(page / "digit.png")
        server, url = serve_in_thread(page)
        try:
            with Chromium(executable, width=1000, height=700) as browser:
                browser.goto(url)
                browser.evaluate("window.edgeseqReady")
                # 30 runs so the latency line shows a median; then let the canvas repaint
                browser.evaluate(
                    "edgeseqPredict('digit.png', {repeat: 30}).then(() => new Promise(r => setTimeout(r, 300)))"
                )
                browser.screenshot(out)
        finally:
            server.shutdown()
            server.server_close()
    print(f"wrote {out} (digit {index}, true label {digits.target[index]})")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(*(args[:2]), *(int(a) for a in args[2:3]))
