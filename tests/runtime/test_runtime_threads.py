"""One Predictor shared by many threads gives exactly the sequential results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from edgeseq.runtime import Predictor

THREADS = 8
CALLS_PER_THREAD = 200


def test_shared_predictor_is_thread_safe(tiny_classifier, tiny_ctc):
    rng = np.random.default_rng(0)
    classifier = Predictor(tiny_classifier.onnx, threads=1)
    ctc = Predictor(tiny_ctc.onnx, threads=1)
    # mixed inputs: single images, lists, variable-width text lines
    digits = [rng.integers(0, 256, size=(8, 8), dtype=np.uint8) for _ in range(16)]
    lines = [rng.integers(0, 256, size=(16, int(w)), dtype=np.uint8) for w in rng.integers(8, 80, size=16)]

    def job(i: int):
        if i % 3 == 0:
            return [r.to_json() for r in classifier.predict(digits[i % 16 : i % 16 + 3], top_k=3)]
        if i % 3 == 1:
            return classifier.predict(digits[i % 16], top_k=2).to_json()
        return ctc.predict(lines[i % 16]).to_json()

    calls = list(range(THREADS * CALLS_PER_THREAD))
    sequential = [job(i) for i in calls]
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        concurrent = list(pool.map(job, calls))
    # exact equality: the same session and the same input give bit-identical outputs on CPU
    assert concurrent == sequential
