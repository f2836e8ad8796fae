"""The old module paths (edgeseq.passes.*, edgeseq.accuracy) still work for one release, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import sys

import pytest

import edgeseq
from edgeseq import cpu, graphs
from edgeseq.bench import sidebyside
from edgeseq.optimization import conv_weights, gate, int8, quantization, samples, sandbox
from edgeseq.optimization.variants import fp16, ort_format, ort_opt

SHIMS = {
    "edgeseq.accuracy": {
        "Score": gate.Score,
        "gate": gate.gate,
        "evaluate": gate.evaluate,
        "make_session": gate.make_session,
        "interleaved_latency_ns": sidebyside.interleaved_latency_ns,
        "median_latency_ms": sidebyside.median_latency_ms,
    },
    "edgeseq.passes.calibration": {"SampleSet": samples.SampleSet, "from_arrays": samples.from_arrays},
    "edgeseq.passes.conv_weights": {"shift_conv_weight_zero_points": conv_weights.shift_conv_weight_zero_points},
    "edgeseq.passes.cpuinfo": {
        "Int8Choice": int8.Int8Choice,
        "choose_conv_kernel": int8.choose_conv_kernel,
        "CpuFeatures": cpu.CpuFacts,
        "detect_cpu_features": cpu.read_cpu_facts,
    },
    "edgeseq.passes.fp16": {"convert_fp16": fp16.convert_fp16},
    "edgeseq.passes.graphinfo": {"op_histogram": graphs.op_histogram, "qdq_wrapped": graphs.qdq_wrapped},
    "edgeseq.passes.graphopt": {"optimize_graph": ort_opt.optimize_graph, "PORTABILITY": ort_opt.PORTABILITY},
    "edgeseq.passes.int8_dynamic": {"quantize_dynamic_ops": quantization.quantize_dynamic_ops},
    "edgeseq.passes.int8_static": {"quantize_static_qdq": quantization.quantize_static_qdq},
    "edgeseq.passes.ortformat": {"convert_to_ort": ort_format.convert_to_ort},
    "edgeseq.passes.sandbox": {"check_session": sandbox.check_session, "SessionCheck": sandbox.SessionCheck},
}


@pytest.mark.parametrize("module", sorted(SHIMS))
def test_old_paths_reexport_the_new_objects_and_warn(module: str) -> None:
    sys.modules.pop(module, None)
    with pytest.warns(DeprecationWarning, match=f"{module} is deprecated"):
        old = importlib.import_module(module)
    for name, obj in SHIMS[module].items():
        assert getattr(old, name) is obj, name


def test_graphopt_level_names_come_from_graph_level() -> None:
    with pytest.warns(DeprecationWarning):
        sys.modules.pop("edgeseq.passes.graphopt", None)
        graphopt = importlib.import_module("edgeseq.passes.graphopt")
    assert graphopt.ort_level_name("all") == "ORT_ENABLE_ALL"
    assert graphopt.GRAPH_LEVELS["extended"] == "ORT_ENABLE_EXTENDED"


def test_the_lazy_name_and_the_moved_profile_loader() -> None:
    from edgeseq.optimization.run import optimize
    from edgeseq.profiles import load_profile_optimize

    assert edgeseq.optimize is optimize
    assert callable(load_profile_optimize)
    with pytest.raises(AttributeError, match="moved to edgeseq.profiles.load_profile_optimize"):
        importlib.import_module("edgeseq.optimization").load_profile_optimize  # noqa: B018
