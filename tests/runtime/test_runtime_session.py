"""Session options: providers really in use (trap #17), threads vs cores (trap #15), spinning, the cache."""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pytest
from testkit import REPO

from edgeseq import cpu
from edgeseq.cpu import usable_cpus, usable_physical_cores
from edgeseq.errors import DependencyError, InputError
from edgeseq.fileio import sha256_file
from edgeseq.runtime import Predictor
from edgeseq.runtime import session as session_mod
from edgeseq.runtime.options import SessionConfig, session_options
from edgeseq.runtime.session import cuda_available

gpu = pytest.mark.skipif(not cuda_available(), reason="needs onnxruntime-gpu and a CUDA GPU")


def test_default_threads_are_physical_cores_and_never_exceed_usable_cpus(tiny_classifier):
    cores = usable_physical_cores()
    assert 1 <= cores <= usable_cpus() <= (os.cpu_count() or 1)
    predictor = Predictor(tiny_classifier.onnx)
    assert predictor.threads == cores
    assert session_options(predictor.config).intra_op_num_threads == cores


def test_cgroup_quota_caps_usable_cpus(monkeypatch, tmp_path):
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")  # one CPU's worth of time per period
    monkeypatch.setattr(cpu, "CGROUP_CPU_MAX", str(quota))
    assert usable_cpus() == 1 and usable_physical_cores() == 1
    assert SessionConfig().intra_op_threads == 1


def test_spinning_is_off_by_default_and_can_be_enabled():
    off = session_options(SessionConfig())
    on = session_options(SessionConfig(allow_spinning=True))
    for key in ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning"):
        assert off.get_session_config_entry(key) == "0"
        assert on.get_session_config_entry(key) == "1"


@pytest.mark.parametrize("level", ["disable", "basic", "extended", "all"])
def test_every_optimization_level_gives_the_same_answers(tiny_classifier, level):
    x = np.random.default_rng(0).standard_normal((3, 1, 16, 16)).astype(np.float32)
    reference = Predictor(tiny_classifier.onnx, config=SessionConfig(graph_optimization="disable")).run(x)["logits"]
    out = Predictor(tiny_classifier.onnx, config=SessionConfig(graph_optimization=level)).run(x)["logits"]
    np.testing.assert_allclose(out, reference, atol=1e-5)  # fusions reorder float sums: ~1e-7 here


def _cached(model, cache, level: str = "all") -> Predictor:
    """A Predictor for ``model`` that caches its optimized graph at ``cache``."""
    return Predictor(model, config=SessionConfig(optimized_model_path=str(cache), graph_optimization=level))


def _key(cache) -> dict:
    return json.loads(session_mod.cache_key_path(cache).read_text(encoding="utf-8"))


def test_optimized_model_cache_is_written_then_reused(tiny_classifier, tmp_path):
    cache = tmp_path / "cache" / "tiny.opt.onnx"
    first = _cached(tiny_classifier.onnx, cache)
    assert cache.is_file() and not list(cache.parent.glob(".*.tmp"))  # written atomically
    assert _key(cache)["model_sha256"] == sha256_file(tiny_classifier.onnx)
    assert _key(cache)["cache_sha256"] == sha256_file(cache)
    written = cache.stat().st_mtime_ns
    time.sleep(0.01)
    second = _cached(tiny_classifier.onnx, cache)
    assert cache.stat().st_mtime_ns == written  # reused, not rewritten
    assert second.session._model_path == str(cache)
    assert second.metadata == first.metadata  # ORT keeps metadata_props in the optimized graph
    x = np.zeros((8, 8), np.uint8)
    a, b = first.predict(x), second.predict(x)
    assert a.label == b.label and a.score == pytest.approx(b.score, abs=1e-5)


SHIPPED = {name: REPO / "models" / f"{name}.onnx" for name in ("crnn-textline", "digits-rows-lstm")}


@pytest.mark.parametrize(
    "first, second", [("crnn-textline", "digits-rows-lstm"), ("digits-rows-lstm", "crnn-textline")]
)
def test_a_cache_written_for_one_model_is_not_used_for_another(first, second, tmp_path):
    # The review's reproduction: one cache path shared by two Predictors ran the first model's graph.
    if not all(path.is_file() for path in SHIPPED.values()):
        pytest.skip("the shipped models are not built")
    cache = tmp_path / "shared.opt.onnx"
    a = _cached(SHIPPED[first], cache)
    b = _cached(SHIPPED[second], cache)
    plain = Predictor(SHIPPED[second])
    assert b.session._model_path == str(SHIPPED[second])  # optimized from B itself, not loaded from A's cache
    assert b.metadata == plain.metadata and b.task == plain.task != a.task
    x = plain.preprocess(np.random.default_rng(0).integers(0, 256, size=(32, 96), dtype=np.uint8))
    np.testing.assert_allclose(b.run(x)["logits"], plain.run(x)["logits"], atol=1e-5)  # fusions: ~1e-7
    assert _key(cache)["model_sha256"] == sha256_file(SHIPPED[second])  # the cache now belongs to B
    assert _cached(SHIPPED[second], cache).session._model_path == str(cache)  # ... and B reuses it


def test_a_cache_written_at_one_optimization_level_is_not_reused_at_another(tiny_classifier, tmp_path):
    cache = tmp_path / "tiny.opt.onnx"
    _cached(tiny_classifier.onnx, cache, "basic")
    assert _key(cache)["graph_optimization"] == "basic"
    full = _cached(tiny_classifier.onnx, cache, "all")
    assert full.session._model_path == str(tiny_classifier.onnx)
    assert _key(cache)["graph_optimization"] == "all" and _key(cache)["cache_sha256"] == sha256_file(cache)
    assert _cached(tiny_classifier.onnx, cache, "all").session._model_path == str(cache)


def _no_key(cache, other):
    session_mod.cache_key_path(cache).unlink()


def _cache_replaced(cache, other):
    shutil.copyfile(other, cache)  # a newer file (the old mtime rule reused it), the key left as it was


def _key_not_json(cache, other):
    session_mod.cache_key_path(cache).write_text("{not json")


def _key_of_another_runtime(cache, other):
    key = _key(cache)
    session_mod.cache_key_path(cache).write_text(json.dumps({**key, "onnxruntime": "0.0.1"}))


@pytest.mark.parametrize("spoil", [_no_key, _cache_replaced, _key_not_json, _key_of_another_runtime])
def test_a_cache_its_key_does_not_vouch_for_is_rebuilt(tiny_classifier, tiny_ctc, tmp_path, spoil):
    cache = tmp_path / "tiny.opt.onnx"
    _cached(tiny_classifier.onnx, cache)
    time.sleep(0.01)
    spoil(cache, tiny_ctc.onnx)
    predictor = _cached(tiny_classifier.onnx, cache)
    assert predictor.session._model_path == str(tiny_classifier.onnx) and predictor.task == "classification"
    assert _key(cache)["cache_sha256"] == sha256_file(cache) and _key(cache)["onnxruntime"] != "0.0.1"


def _under_a_file(tmp_path, model):
    (tmp_path / "file.txt").write_text("x")
    return tmp_path / "file.txt" / "cache.onnx"


def _deeper_under_a_file(tmp_path, model):
    (tmp_path / "file.txt").write_text("x")
    return tmp_path / "file.txt" / "sub" / "cache.onnx"


def _a_folder(tmp_path, model):
    (tmp_path / "folder").mkdir()
    return tmp_path / "folder"


def _the_model_itself(tmp_path, model):
    copy = tmp_path / "model.onnx"
    shutil.copyfile(model, copy)
    return copy


@pytest.mark.parametrize("where", [_under_a_file, _deeper_under_a_file, _a_folder, _the_model_itself])
def test_an_unusable_cache_location_is_one_input_error(tiny_classifier, tmp_path, where):
    cache = where(tmp_path, tiny_classifier.onnx)
    model = cache if where is _the_model_itself else tiny_classifier.onnx
    before = sha256_file(model)
    with pytest.raises(InputError, match=r"^optimized_model_path") as info:
        _cached(model, cache)
    assert "\n" not in str(info.value)
    assert sha256_file(model) == before  # the model itself is never overwritten


@pytest.mark.skipif(cuda_available(), reason="this onnxruntime has the CUDA provider")
def test_auto_picks_cpu_and_explicit_cuda_refuses_without_it(tiny_classifier):
    assert Predictor(tiny_classifier.onnx).providers == ("CPUExecutionProvider",)
    assert Predictor(tiny_classifier.onnx, providers="cpu").providers == ("CPUExecutionProvider",)
    with pytest.raises(DependencyError, match=r"providers='cuda': this onnxruntime has no CUDAExecutionProvider"):
        Predictor(tiny_classifier.onnx, providers="cuda")


def test_explicit_cuda_refuses_a_silent_cpu_fallback(tiny_classifier, monkeypatch):
    # Pretend onnxruntime-gpu is installed: ORT is then asked for CUDA, cannot provide it, and
    # (trap #17) carries on with CPU after a warning. edgeseq must raise instead.
    if cuda_available():
        pytest.skip("a real CUDA provider is present; covered by the gpu tests")
    monkeypatch.setattr(session_mod, "cuda_available", lambda: True)
    with pytest.warns(UserWarning, match="CUDAExecutionProvider"):
        with pytest.raises(DependencyError, match=r"fell back to CPUExecutionProvider; expected CUDAExecutionProvider"):
            Predictor(tiny_classifier.onnx, providers="cuda")
    with pytest.warns(UserWarning):  # "auto" accepts the fallback and reports what it got
        assert Predictor(tiny_classifier.onnx, providers="auto").providers == ("CPUExecutionProvider",)


# ----------------------------------------------------------------------------------------- GPU only
# CUDA vs CPU on the same fp32 graph: cuDNN picks other algorithms (and may use TF32 for convs),
# so logits differ by ~1e-4 at most on small models; 1e-3 still catches a wrong kernel (errors ~1e-1).
CUDA_ATOL = 1e-3


@pytest.mark.gpu
@gpu
def test_cuda_is_really_used_and_matches_cpu(tiny_classifier, digit_pngs):
    cuda = _cuda_or_skip(tiny_classifier.onnx)
    assert cuda.providers[0] == "CUDAExecutionProvider"
    assert Predictor(tiny_classifier.onnx, providers="auto").providers[0] == "CUDAExecutionProvider"
    cpu = Predictor(tiny_classifier.onnx, providers="cpu")
    batch = cpu.preprocess(digit_pngs[0])
    np.testing.assert_allclose(cuda.run(batch)["logits"], cpu.run(batch)["logits"], atol=CUDA_ATOL)
    assert [r.index for r in cuda.predict(batch)] == [r.index for r in cpu.predict(batch)]


@pytest.mark.gpu
@gpu
def test_cuda_ctc_variable_widths_match_cpu(tiny_ctc):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(16, w), dtype=np.uint8) for w in (8, 24, 64)]
    cuda = _cuda_or_skip(tiny_ctc.onnx)
    cpu = Predictor(tiny_ctc.onnx, providers="cpu")
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
