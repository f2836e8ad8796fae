"""Sessions of unknown models are created in a child process first: a native crash there becomes a
ModelFileError naming the signal, and the caller lives on (docs/traps.md #13)."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from reliability_testlib import tally

from edgeseq.errors import ModelFileError
from edgeseq.runtime import isolation
from edgeseq.runtime.options import SessionConfig
from edgeseq.runtime.safety import create_session_isolated, probe_in_subprocess

# Prepended to the child's code: the child dies by a real signal, as onnxruntime does on a bad graph.
CRASH = "import os, signal; os.kill(os.getpid(), signal.{sig})\n"


def test_good_model_opens_in_a_child_then_here(tiny_model):
    assert probe_in_subprocess(tiny_model) == "ran"
    session = create_session_isolated(tiny_model, SessionConfig(providers="cpu", threads=1))
    (logits,) = session.run(None, {session.get_inputs()[0].name: np.zeros((3, 1, 16, 16), np.float32)})
    assert logits.shape == (3, 10)


@pytest.mark.parametrize("sig", ["SIGSEGV", "SIGABRT", "SIGBUS"])
def test_a_crash_while_creating_is_a_model_file_error(tiny_model, monkeypatch, sig):
    monkeypatch.setattr(isolation, "_CHILD_CODE", CRASH.format(sig=sig) + isolation._CHILD_CODE)
    number = int(getattr(signal, sig))
    with pytest.raises(ModelFileError, match=rf"crashed \(signal {number}, {sig}\) while creating a session"):
        create_session_isolated(tiny_model)
    tally("model file: session creation crash (simulated signal)")
    assert os.getpid() > 0  # still alive


def test_a_crash_in_the_probe_run_is_named(tiny_model, monkeypatch):
    code = isolation._CHILD_CODE.replace("        sess.run(None, feeds)", "        " + CRASH.format(sig="SIGSEGV"))
    assert code != isolation._CHILD_CODE
    monkeypatch.setattr(isolation, "_CHILD_CODE", code)
    with pytest.raises(ModelFileError, match="while running it once"):
        probe_in_subprocess(tiny_model)


def test_a_hang_is_a_model_file_error(tiny_model, monkeypatch):
    monkeypatch.setattr(isolation, "_CHILD_CODE", "import time; time.sleep(30)\n")
    with pytest.raises(ModelFileError, match="did not finish within 0.5 s"):
        probe_in_subprocess(tiny_model, timeout_s=0.5)


def test_garbage_that_onnxruntime_refuses_is_a_model_file_error(tmp_path):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"\x08\x08")  # ir_version only: passes nothing in ORT either
    with pytest.raises(ModelFileError, match="cannot load model"):
        probe_in_subprocess(path)
    tally("model file: refused by onnxruntime in the child")


def test_checks_run_before_the_child(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ModelFileError, match="is empty"):
        create_session_isolated(path)


def test_probe_options_are_checked(tiny_model):
    with pytest.raises(ModelFileError, match="graph_optimization"):
        probe_in_subprocess(tiny_model, graph_optimization="max")


def test_a_stray_module_in_the_current_folder_is_not_imported(tiny_model, tmp_path, monkeypatch):
    """`python -c` puts the current folder first on sys.path; the child runs elsewhere, so this is not loaded."""
    (tmp_path / "onnxruntime.py").write_text("raise SystemExit(9)\n")
    monkeypatch.chdir(tmp_path)
    assert probe_in_subprocess(tiny_model) == "ran"


def test_an_allowed_domain_is_allowed_by_both_checks(tmp_path, monkeypatch):
    """create_session_isolated checks the file, then create_session checks it again: both with the caller's domains."""
    import onnx
    from onnx import TensorProto, helper

    from edgeseq.runtime import session as session_mod

    graph = helper.make_graph(
        [helper.make_node("MyOp", ["x"], ["y"], domain="my.domain")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "custom.onnx"
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("my.domain", 1)]), path
    )

    class Opened:  # stands in for the session a registered custom-op library would give
        def get_providers(self):
            return ["CPUExecutionProvider"]

    monkeypatch.setattr(isolation, "probe_in_subprocess", lambda *a, **k: "ran")
    monkeypatch.setattr(session_mod, "_load", lambda *a, **k: Opened())
    with pytest.raises(ModelFileError, match="my.domain"):
        create_session_isolated(path)  # not allowed: refused by the first check
    assert isinstance(create_session_isolated(path, allow_domains=["my.domain"]), Opened)
