"""Session options: providers really in use (trap #17), threads vs cores (trap #15), spinning, the cache."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from edgeseq.errors import DependencyError
from edgeseq.runtime import Predictor
from edgeseq.runtime import session as session_mod
from edgeseq.runtime.session import SessionConfig, cuda_available, physical_cores, session_options, usable_cpus

gpu = pytest.mark.skipif(not cuda_available(), reason="needs onnxruntime-gpu and a CUDA GPU")


def test_default_threads_are_physical_cores_and_never_exceed_usable_cpus(tiny_classifier):
    cores = physical_cores()
    assert 1 <= cores <= usable_cpus() <= (os.cpu_count() or 1)
    predictor = Predictor(tiny_classifier[0])
    assert predictor.threads == cores
    assert session_options(predictor.config).intra_op_num_threads == cores


def test_cgroup_quota_caps_usable_cpus(monkeypatch):
    monkeypatch.setattr(session_mod, "_cgroup_cpu_quota", lambda: 1)
    assert usable_cpus() == 1 and physical_cores() == 1


def test_spinning_is_off_by_default_and_can_be_enabled():
    off = session_options(SessionConfig())
    on = session_options(SessionConfig(allow_spinning=True))
    for key in ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning"):
        assert off.get_session_config_entry(key) == "0"
        assert on.get_session_config_entry(key) == "1"


@pytest.mark.parametrize("level", ["disable", "basic", "extended", "all"])
def test_every_optimization_level_gives_the_same_answers(tiny_classifier, level):
    x = np.random.default_rng(0).standard_normal((3, 1, 16, 16)).astype(np.float32)
    reference = Predictor(tiny_classifier[0], config=SessionConfig(graph_optimization="disable")).run(x)["logits"]
    out = Predictor(tiny_classifier[0], config=SessionConfig(graph_optimization=level)).run(x)["logits"]
    np.testing.assert_allclose(out, reference, atol=1e-5)  # fusions reorder float sums: ~1e-7 here


def test_optimized_model_cache_is_written_then_reused(tiny_classifier, tmp_path):
    cache = tmp_path / "cache" / "tiny.opt.onnx"
    config = SessionConfig(optimized_model_path=str(cache))
    first = Predictor(tiny_classifier[0], config=config)
    assert cache.is_file() and not list(cache.parent.glob(".*.tmp"))  # written atomically
    written = cache.stat().st_mtime_ns
    time.sleep(0.01)
    second = Predictor(tiny_classifier[0], config=config)
    assert cache.stat().st_mtime_ns == written  # reused, not rewritten
    assert second.session._model_path == str(cache)
    assert second.metadata == first.metadata  # ORT keeps metadata_props in the optimized graph
    x = np.zeros((8, 8), np.uint8)
    a, b = first.predict(x), second.predict(x)
    assert a.label == b.label and a.score == pytest.approx(b.score, abs=1e-5)


@pytest.mark.skipif(cuda_available(), reason="this onnxruntime has the CUDA provider")
def test_auto_picks_cpu_and_explicit_cuda_refuses_without_it(tiny_classifier):
    assert Predictor(tiny_classifier[0]).providers == ("CPUExecutionProvider",)
    assert Predictor(tiny_classifier[0], providers="cpu").providers == ("CPUExecutionProvider",)
    with pytest.raises(DependencyError, match=r"providers='cuda': this onnxruntime has no CUDAExecutionProvider"):
        Predictor(tiny_classifier[0], providers="cuda")


def test_explicit_cuda_refuses_a_silent_cpu_fallback(tiny_classifier, monkeypatch):
    # Pretend onnxruntime-gpu is installed: ORT is then asked for CUDA, cannot provide it, and
    # (trap #17) carries on with CPU after a warning. edgeseq must raise instead.
    if cuda_available():
        pytest.skip("a real CUDA provider is present; covered by the gpu tests")
    monkeypatch.setattr(session_mod, "cuda_available", lambda: True)
    with pytest.warns(UserWarning, match="CUDAExecutionProvider"):
        with pytest.raises(DependencyError, match=r"fell back to CPUExecutionProvider; expected CUDAExecutionProvider"):
            Predictor(tiny_classifier[0], providers="cuda")
    with pytest.warns(UserWarning):  # "auto" accepts the fallback and reports what it got
        assert Predictor(tiny_classifier[0], providers="auto").providers == ("CPUExecutionProvider",)


# ----------------------------------------------------------------------------------------- GPU only
# CUDA vs CPU on the same fp32 graph: cuDNN picks other algorithms (and may use TF32 for convs),
# so logits differ by ~1e-4 at most on small models; 1e-3 still catches a wrong kernel (errors ~1e-1).
CUDA_ATOL = 1e-3


@pytest.mark.gpu
@gpu
def test_cuda_is_really_used_and_matches_cpu(tiny_classifier, digit_pngs):
    cuda = _cuda_or_skip(tiny_classifier[0])
    assert cuda.providers[0] == "CUDAExecutionProvider"
    assert Predictor(tiny_classifier[0], providers="auto").providers[0] == "CUDAExecutionProvider"
    cpu = Predictor(tiny_classifier[0], providers="cpu")
    batch = cpu.preprocess(digit_pngs[0])
    np.testing.assert_allclose(cuda.run(batch)["logits"], cpu.run(batch)["logits"], atol=CUDA_ATOL)
    assert [r.index for r in cuda.predict(batch)] == [r.index for r in cpu.predict(batch)]


@pytest.mark.gpu
@gpu
def test_cuda_ctc_variable_widths_match_cpu(tiny_ctc):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(16, w), dtype=np.uint8) for w in (8, 24, 64)]
    cuda = _cuda_or_skip(tiny_ctc[0])
    cpu = Predictor(tiny_ctc[0], providers="cpu")
    for image in images:
        x = cpu.preprocess(image)
        np.testing.assert_allclose(cuda.run(x)["logits"], cpu.run(x)["logits"], atol=CUDA_ATOL)


def _cuda_or_skip(path) -> Predictor:
    """A CUDA Predictor, or a skip when onnxruntime-gpu is installed on a machine without a usable GPU."""
    try:
        return Predictor(path, providers="cuda")
    except DependencyError as exc:
        pytest.skip(f"no usable CUDA device: {exc}")


def test_cuda_provider_options(monkeypatch):
    monkeypatch.setattr(session_mod, "cuda_available", lambda: True)
    requested = session_mod.requested_providers(SessionConfig(providers="cuda", cuda_device=1))
    assert requested == [
        ("CUDAExecutionProvider", {"device_id": 1, "cudnn_conv_algo_search": "HEURISTIC"}),
        "CPUExecutionProvider",
    ]
    assert session_mod.requested_providers(SessionConfig(providers="cpu")) == ["CPUExecutionProvider"]
    exhaustive = SessionConfig(providers="auto", cudnn_conv_algo_search="exhaustive")
    assert session_mod.requested_providers(exhaustive)[0][1]["cudnn_conv_algo_search"] == "EXHAUSTIVE"
