"""The page's pure JavaScript (static/preprocess.js, static/model.js) against the Python runtime, in Node.

Preprocessing: bit-exact. preprocess.js re-implements Pillow's integer resampling and numpy's float32
arithmetic, so for opaque images the tensor the browser feeds is byte-for-byte the one
``edgeseq.runtime.preprocess`` produces. Any difference at all is a bug, hence no tolerance.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeseq.runtime.preprocess import normalize, to_pixels
from edgeseq.web.pillow_compat import pillow_vertical_pass_first

HERE = Path(__file__).parent
STATIC = HERE.parents[1] / "edgeseq" / "web" / "static"

BASE = {"height": 32, "width": 32, "color": "L", "mean": [0.5], "std": [0.5], "interpolation": "bilinear"}

# (image mode, image width, image height, spec overrides)
CASES = [
    ("L", 8, 8, {}),  # the digits model: 8x8 scans upscaled to 32x32
    ("L", 100, 37, {}),  # downscale, both axes
    ("L", 20, 64, {}),  # up in one axis, down in the other: Pillow >= 12 resamples vertically first
    ("L", 64, 20, {}),
    ("RGB", 40, 300, {"height": 240, "width": 32}),  # both down, height much more
    ("L", 32, 32, {}),  # no resize
    ("L", 57, 41, {"interpolation": "bicubic"}),
    ("L", 57, 41, {"interpolation": "lanczos"}),
    ("L", 57, 41, {"interpolation": "box"}),
    ("L", 57, 41, {"interpolation": "hamming"}),
    ("L", 57, 41, {"interpolation": "nearest"}),
    ("L", 7, 5, {"interpolation": "nearest"}),
    ("L", 9, 9, {"interpolation": "bicubic"}),  # bicubic's negative lobes: clipping to 0..255
    ("RGB", 40, 30, {}),  # RGB -> L with Pillow's fixed-point luma
    ("RGB", 40, 30, {"color": "RGB", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}),
    ("RGBA", 23, 17, {"color": "RGB"}),  # translucent pixels composited over white
    ("RGBA", 23, 17, {}),  # RGBA -> L ignores alpha
    ("L", 50, 20, {"invert": True, "mean": [0.1], "std": [0.3]}),
    # resize="height" (CTC text lines): width follows the aspect ratio, rounded half to even like Python
    ("L", 3, 2, {"resize": "height", "height": 3, "min_width": 1, "max_width": 100}),  # 4.5 -> 4, not 5
    ("L", 5, 2, {"resize": "height", "height": 3, "min_width": 1, "max_width": 100}),  # 7.5 -> 8
    ("L", 300, 40, {"resize": "height", "height": 32, "min_width": 8, "max_width": 1024}),
    ("L", 300, 40, {"resize": "height", "height": 32, "min_width": 8, "max_width": 100}),  # clamped
    ("L", 4, 80, {"resize": "height", "height": 32, "min_width": 8, "max_width": 1024}),  # widened
]


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed: the JavaScript preprocessing test needs Node.js (apt-get install nodejs)")
    return node


def _run_js(node: str, mode: str, cases: list, tmp_path: Path) -> list:
    cases_file, out_file = tmp_path / f"{mode}-cases.json", tmp_path / f"{mode}-out.json"
    cases_file.write_text(json.dumps(cases))
    subprocess.run(
        [node, str(HERE / "js_check.mjs"), str(STATIC), mode, str(cases_file), str(out_file)], check=True, timeout=60
    )
    return json.loads(out_file.read_text())


def _image(mode: str, width: int, height: int, rng: np.random.Generator) -> Image.Image:
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    array = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    if mode == "RGBA":
        array[0, :, 3] = 0  # fully transparent row
        array[1, :, 3] = 255  # fully opaque row
    return Image.fromarray(array[:, :, 0] if channels == 1 else array, mode=mode)


def _browser_rgba(image: Image.Image) -> np.ndarray:
    """What canvas getImageData gives for this image: RGBA, gray replicated, alpha 255 when absent."""
    return np.asarray(image.convert("RGBA"), dtype=np.uint8)


def test_preprocess_js_is_bit_exact_with_python(tmp_path: Path) -> None:
    node = _node()
    rng = np.random.default_rng(0)
    cases, expected = [], []
    for mode, width, height, overrides in CASES:
        spec = {**BASE, **overrides}
        image = _image(mode, width, height, rng)
        pixels = to_pixels(image, spec)
        expected.append((pixels, normalize(pixels, spec)))
        rgba = _browser_rgba(image)
        cases.append(
            {
                "rgba": base64.b64encode(rgba.tobytes()).decode(),
                "width": width,
                "height": height,
                "spec": spec,
                "pillowPassOrder": pillow_vertical_pass_first(),
            }
        )
    results = _run_js(node, "preprocess", cases, tmp_path)
    assert len(results) == len(CASES)
    for case, (want_pixels, want_tensor), got in zip(CASES, expected, results, strict=True):
        got_pixels = np.frombuffer(base64.b64decode(got["pixels"]), dtype=np.uint8)
        got_tensor = np.frombuffer(base64.b64decode(got["tensor"]), dtype=np.float32)
        assert got["dims"] == [1, *want_tensor.shape], case
        np.testing.assert_array_equal(got_pixels, want_pixels.reshape(-1), err_msg=f"pixels differ for {case}")
        np.testing.assert_array_equal(got_tensor, want_tensor.reshape(-1), err_msg=f"tensor differs for {case}")


def _decode_cases(rng: np.random.Generator) -> list[dict]:
    cases = []
    for blank in (0, 3):
        for time_steps in (0, 1, 7, 40):
            # few classes and low-entropy logits, so repeats, blanks and doubled characters all occur
            logits = rng.normal(0.0, 3.0, size=(time_steps, 6)).astype(np.float32)
            cases.append(
                {
                    "kind": "ctc",
                    "logits": logits.reshape(-1).tolist(),
                    "T": time_steps,
                    "C": 6,
                    "alphabet": "ab1 c",
                    "blank": blank,
                }
            )
    tied = np.zeros((4, 4), dtype=np.float32)  # every frame a four-way tie: argmax takes the first class
    cases.append({"kind": "ctc", "logits": tied.reshape(-1).tolist(), "T": 4, "C": 4, "alphabet": "xyz", "blank": 0})
    labels = [f"class-{i}" for i in range(10)]
    for top_k in (1, 3, 10, 20):
        logits = rng.normal(0.0, 2.0, size=10).astype(np.float32)
        cases.append({"kind": "classify", "logits": logits.tolist(), "labels": labels, "top_k": top_k})
    ties = np.array([1.0, 3.0, 3.0, -1.0, 3.0], dtype=np.float32)  # equal scores keep class order
    cases.append({"kind": "classify", "logits": ties.tolist(), "labels": list("abcde"), "top_k": 5})
    return cases


# float64 softmax on both sides from the same float32 logits; only exp/log rounding differs (~1e-16)
DECODE_SCORE_ATOL = 1e-12


def test_decode_js_matches_python(tmp_path: Path) -> None:
    from edgeseq.runtime.decode import ctc_greedy
    from edgeseq.runtime.predictor import _classify

    node = _node()
    cases = _decode_cases(np.random.default_rng(1))
    results = _run_js(node, "decode", cases, tmp_path)
    assert len(results) == len(cases)
    texts = set()
    for case, got in zip(cases, results, strict=True):
        logits = np.asarray(case["logits"], dtype=np.float32)
        if case["kind"] == "ctc":
            text, confidences = ctc_greedy(logits.reshape(case["T"], case["C"]), case["alphabet"], case["blank"])
            assert got["text"] == text, case
            np.testing.assert_allclose(got["char_confidences"], confidences, rtol=0, atol=DECODE_SCORE_ATOL)
            texts.add(text)
        else:
            want = _classify(logits, case["labels"], case["top_k"])
            assert got["label"] == want.label and got["index"] == want.index, case
            assert [t["label"] for t in got["top_k"]] == [label for label, _ in want.top_k], case
            np.testing.assert_allclose(
                [t["score"] for t in got["top_k"]], [s for _, s in want.top_k], rtol=0, atol=DECODE_SCORE_ATOL
            )
    assert len(texts) > 5, "the CTC cases should decode to varied strings"
