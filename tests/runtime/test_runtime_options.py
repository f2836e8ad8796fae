"""edgeseq.runtime.options (GraphLevel, SessionConfig, session_options) and session.open_session."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
from testkit import REPO

from edgeseq.errors import ConfigError, InputError, ModelFileError
from edgeseq.runtime import isolation, safety, session
from edgeseq.runtime.options import GraphLevel, SessionConfig, session_options
from edgeseq.runtime.session import SessionLoadError, open_session

ORT_NAMES = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED"}
ORT_NAMES["all"] = "ORT_ENABLE_ALL"


@pytest.mark.parametrize("short", ["disable", "basic", "extended", "all"])
def test_graph_level_round_trips(short):
    level = GraphLevel(short)
    assert level == short and str(level) == short and f"{level}" == short and json.dumps(level) == f'"{short}"'
    assert level.ort_name == ORT_NAMES[short]
    assert level.ort_level == getattr(ort.GraphOptimizationLevel, ORT_NAMES[short])
    for form in (short, level, ORT_NAMES[short], level.ort_level):
        assert GraphLevel.parse(form) is level
    assert GraphLevel.from_ort(level.ort_level) is level and GraphLevel.from_ort(ORT_NAMES[short]) is level


@pytest.mark.parametrize(
    "bad", ["max", "ALL", "ORT_ENABLE_LAYOUT", ort.GraphOptimizationLevel.ORT_ENABLE_LAYOUT, 3, None]
)
def test_graph_level_refuses_anything_else(bad):
    with pytest.raises(ConfigError, match=r"graph_optimization: got .*; expected one of disable, basic, extended, all"):
        GraphLevel.parse(bad)


def test_old_level_tables_agree_with_graph_level():
    assert session.GRAPH_OPTIMIZATION_LEVELS == {level.value: level.ort_level for level in GraphLevel}
    assert safety.GRAPH_LEVELS == isolation.GRAPH_LEVELS == ORT_NAMES


def test_session_config_stores_the_short_name():
    for form in ("extended", GraphLevel.EXTENDED, "ORT_ENABLE_EXTENDED"):
        config = SessionConfig(graph_optimization=form)
        assert type(config.graph_optimization) is str and config.graph_optimization == "extended"
        assert config.graph_level is GraphLevel.EXTENDED
    with pytest.raises(ConfigError, match="graph_optimization: got 'max'"):
        SessionConfig(graph_optimization="max")


def test_session_options_fields(tmp_path):
    config = SessionConfig(threads=1, graph_optimization="basic", allow_spinning=True, log_severity=2)
    options = session_options(
        config,
        optimized_model_path=tmp_path / "opt.onnx",
        profile_prefix=tmp_path / "prof",
        config_entries={"session.use_env_allocators": "1"},
    )
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert options.log_severity_level == 2
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert options.get_session_config_entry("session.use_env_allocators") == "1"
    assert options.optimized_model_filepath == str(tmp_path / "opt.onnx")
    assert options.enable_profiling and options.profile_file_prefix == str(tmp_path / "prof")
    plain = session_options()  # SessionConfig()'s defaults: no file output, no profiling
    assert plain.optimized_model_filepath == "" and not plain.enable_profiling
    assert plain.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_session_options_thread_override_may_oversubscribe():
    """Benchmarks measure oversubscription (docs/traps.md #15); SessionConfig itself refuses it."""
    many = (os.cpu_count() or 1) * 4
    with pytest.raises(ConfigError, match="threads: got"):
        SessionConfig(threads=many)
    assert session_options(SessionConfig(), intra_op_threads=many).intra_op_num_threads == many
    with pytest.raises(ConfigError, match="intra_op_threads: got 0"):
        session_options(intra_op_threads=0)


def test_open_session_with_a_config_options_or_bytes(tiny_classifier):
    path = tiny_classifier.onnx
    x = np.zeros((2, 1, 16, 16), np.float32)
    by_config = open_session(path, SessionConfig(providers="cpu", threads=1), check=True)
    by_options = open_session(path, session_options(SessionConfig(threads=1)), ["CPUExecutionProvider"])
    by_bytes = open_session(path.read_bytes(), SessionConfig(providers="cpu", threads=1))
    outputs = [s.run(None, {s.get_inputs()[0].name: x})[0] for s in (by_config, by_options, by_bytes)]
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_array_equal(outputs[0], outputs[2])
    assert by_options.get_providers() == ["CPUExecutionProvider"]
    with pytest.raises(InputError, match="check=True needs a model path"):
        open_session(path.read_bytes(), check=True)


def test_open_session_errors(tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x08")  # ir_version only
    with pytest.raises(ModelFileError, match="it has no graph"):
        open_session(garbage, check=True)  # refused by edgeseq's check before ONNX Runtime sees it
    with pytest.raises(
        SessionLoadError, match=r"^cannot load model .*garbage.onnx.*expected a valid ONNX model$"
    ) as info:
        open_session(garbage)  # no check: ONNX Runtime's own refusal, as one line
    assert isinstance(info.value, ModelFileError) and info.value.source == str(garbage)
    assert "\n" not in str(info.value) and isinstance(info.value.ort_error, Exception)
    with pytest.raises(SessionLoadError, match=r"cannot load model '<2 bytes>'"):
        open_session(b"\x08\x08")


def test_the_child_imports_the_same_edgeseq(tiny_classifier, tmp_path):
    """Without PYTHONPATH (a source checkout run as `python script.py`), the probe child still finds this edgeseq."""
    marker = "del sys.path[0]\n"
    assert marker in isolation._CHILD_CODE
    code = (
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\n"
        "from edgeseq.runtime import isolation\n"
        f"isolation._CHILD_CODE = isolation._CHILD_CODE.replace({marker!r}, {marker!r} + "
        "'import edgeseq; print(\"FROM\", edgeseq.__file__)\\n')\n"
        f"child = isolation.open_session_in_child({str(tiny_classifier.onnx)!r}, 'ORT_ENABLE_ALL', ['CPUExecutionProvider'])\n"
        "print(child.returncode, child.stdout, child.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"FROM {REPO / 'edgeseq' / '__init__.py'}" in proc.stdout and "RAN" in proc.stdout, proc.stdout
