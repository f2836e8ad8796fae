"""Concurrency and soak: one Predictor shared by 8 threads gives exactly the sequential results, and resident
memory stays flat over 10,000 calls (good and bad inputs mixed).

Uses the shipped models/digits-rows-lstm.onnx when it is there, else the tiny exported classifier.
"""

from __future__ import annotations

import gc
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from reliability_testlib import SUMMARY_FILE, rss_bytes, tally

from edgeseq.errors import EdgeseqError
from edgeseq.runtime import Predictor

THREADS = 8
CALLS_PER_THREAD = 500
SOAK_CALLS = 10_000
WARMUP_CALLS = 1_000
# Measured here: growth of 0-1 MiB after warm-up over 10,000 calls (glibc may keep a few freed pages).
# A leak of one 8x8 image per call (64 B + numpy/PIL object overhead, ~1 KiB) would add ~10 MiB.
RSS_GROWTH_LIMIT = 8 * 1024**2


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """64 inputs of every accepted kind: uint8 arrays of several sizes, PIL images, PNG paths, lists."""
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("soak")
    items: list = []
    for i in range(64):
        kind = i % 4
        pixels = rng.integers(0, 256, size=(8 + i % 5, 8 + i % 7), dtype=np.uint8)
        if kind == 0:
            items.append(pixels)
        elif kind == 1:
            items.append(Image.fromarray(pixels, mode="L"))
        elif kind == 2:
            path = folder / f"img{i}.png"
            Image.fromarray(pixels, mode="L").save(path)
            items.append(path)
        else:
            items.append([pixels, pixels[::-1].copy(), pixels.T.copy()])
    return items


def _as_json(result):
    return [r.to_json() for r in result] if isinstance(result, list) else result.to_json()


def test_one_predictor_shared_by_8_threads(soak_model, inputs):
    predictor = Predictor(soak_model, providers="cpu", threads=1)
    reference = [_as_json(predictor.predict(x, top_k=3)) for x in inputs]

    def worker(seed: int) -> int:
        mismatches = 0
        order = np.random.default_rng(seed).integers(0, len(inputs), size=CALLS_PER_THREAD)
        for i in order:
            mismatches += _as_json(predictor.predict(inputs[i], top_k=3)) != reference[i]
        return mismatches

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        mismatches = sum(pool.map(worker, range(THREADS)))
    tally("concurrency: calls from 8 threads", "identical to sequential", THREADS * CALLS_PER_THREAD - mismatches)
    # exact equality: one session, one input -> bit-identical outputs on CPU, whatever the interleaving
    assert mismatches == 0


@pytest.mark.slow  # 11,000 calls: about 18 s of CPU
def test_memory_stays_flat_over_10000_calls(soak_model, inputs):
    predictor = Predictor(soak_model, providers="cpu", threads=1)
    bad = [np.zeros((8, 8), np.int16), np.full((1, 1, 16, 16), np.nan, np.float32), Path("/nonexistent.png"), []]

    def call(i: int) -> None:
        if i % 10 == 9:  # one call in ten is a bad input: error paths must not leak either
            with pytest.raises(EdgeseqError):
                predictor.predict(bad[i % len(bad)])
        else:
            predictor.predict(inputs[i % len(inputs)])

    for i in range(WARMUP_CALLS):
        call(i)
    gc.collect()
    start = rss_bytes()
    for i in range(SOAK_CALLS):
        call(i)
    gc.collect()
    growth = rss_bytes() - start
    tally("soak: calls after warm-up", "ok", SOAK_CALLS)
    _record({"soak_calls": SOAK_CALLS, "rss_growth_bytes": growth, "rss_start_bytes": start, "model": str(soak_model)})
    assert growth < RSS_GROWTH_LIMIT, f"RSS grew {growth / 2**20:.1f} MiB over {SOAK_CALLS} calls"


def _record(fields: dict) -> None:
    """Add the soak figures to the session's summary file (for the closing note)."""
    path = SUMMARY_FILE.with_name("edgeseq-reliability-soak.json")
    try:
        path.write_text(json.dumps(fields, indent=2) + "\n")
    except OSError:
        pass
