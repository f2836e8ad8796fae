"""OptimizeConfig validation (errors name optimize.<key>) and the shipped profiles."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edgeseq.cpu import parse_cpuinfo
from edgeseq.errors import ConfigError
from edgeseq.optimization import OptimizeConfig
from edgeseq.optimization.int8 import Int8Choice, Int8Settings, resolve_int8
from edgeseq.profiles import load_profile_optimize

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"variants": ["int9"]}, r"optimize.variants: got 'int9'"),
        ({"variants": []}, r"optimize.variants: got an empty list"),
        ({"variants": ["fp16", "fp16"]}, r"optimize.variants: got duplicates"),
        ({"target": "tpu"}, r"optimize.target: got 'tpu'"),
        ({"calibration_method": "entropie"}, r"did you mean 'entropy'"),
        ({"activation_type": "int8"}, r"optimize.activation_type"),
        ({"reduce_range": "yes"}, r"optimize.reduce_range: got 'yes'"),
        ({"dynamic_op_types": ["Conv", "LSTM"]}, r"ConvInteger"),
        ({"graph_level": "max"}, r"optimize.graph_level"),
        ({"calibration_samples": 0}, r"optimize.calibration_samples: got 0"),
        ({"max_accuracy_drop": "1"}, r"optimize.max_accuracy_drop: got '1'; expected a number"),
        ({"min_agreement": 150.0}, r"optimize.min_agreement"),
        ({"variants": ["fp32", "ort"], "ort_source": "int8-static"}, r"optimize.ort_source: got 'int8-static'"),
        ({"ort_target_platform": "riscv"}, r"optimize.ort_target_platform"),
        ({"per_chanel": True}, r"unknown key 'optimize.per_chanel' \(did you mean 'per_channel'\?\)"),
        ({"conv_kernel": "amx"}, r"optimize.conv_kernel: got 'amx'"),
    ],
)
def test_config_errors_name_the_key(table: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        OptimizeConfig.from_dict(table)


def test_the_cpu_int8_profile_is_the_default_config() -> None:
    # the pipeline uses OptimizeConfig() when no profile is named (export/ is not in the wheel)
    assert load_profile_optimize(REPO / "export" / "cpu-int8.toml") == OptimizeConfig()


def test_defaults_and_build_order() -> None:
    config = OptimizeConfig.from_dict({"variants": ["ort", "int8-mixed"], "ort_source": "int8-mixed"})
    assert config.ordered_variants() == ["fp32", "int8-mixed", "ort"]
    assert OptimizeConfig().max_accuracy_drop == 1.0 and OptimizeConfig().variant_options["reduce_range"] == "auto"


AMX = "flags\t: avx2 avx512f avx512_vnni amx_tile amx_int8\n"


def _resolve(config: OptimizeConfig, cpuinfo: str) -> Int8Choice:
    """The INT8 choice optimize makes for ``config`` on the CPU ``cpuinfo`` describes."""
    return resolve_int8(config.settings(Int8Settings), config.target, parse_cpuinfo(cpuinfo, arch="x86_64"))


VNNI = "flags\t: avx2 avx512f avx512_vnni\n"


@pytest.mark.parametrize(
    ("cpuinfo", "table", "kernel"),
    [
        (AMX, {}, "gemm"),
        (VNNI, {}, "symmetric"),
        (AMX, {"conv_kernel": "symmetric"}, "symmetric"),  # e.g. a file meant for OpenVINO
        (VNNI, {"conv_kernel": "gemm"}, "gemm"),
        (AMX, {"activation_type": "qint8"}, "symmetric"),  # auto never picks the S8S8 path
        (AMX, {"target": "cuda"}, "symmetric"),  # the AMX tuning is for CPU deployment only
        (AMX, {"target": "mobile"}, "symmetric"),
    ],
)
def test_conv_kernel_resolution(cpuinfo: str, table: dict, kernel: str) -> None:
    choice = _resolve(OptimizeConfig.from_dict(table), cpuinfo)
    assert choice.conv_kernel == kernel
    assert ("conv_kernel" in choice.reason) == ("conv_kernel" in table)  # "set by the profile: conv_kernel"
    assert ("zero point -1" in choice.reason) == (kernel == "gemm")


def test_gemm_conv_kernel_with_s8_activations_is_refused() -> None:
    config = OptimizeConfig.from_dict({"conv_kernel": "gemm", "activation_type": "qint8"})
    with pytest.raises(ConfigError, match=r'optimize.conv_kernel: "gemm" needs quint8 activations'):
        _resolve(config, AMX)


@pytest.mark.parametrize(("name", "target"), [("cpu-int8", "cpu"), ("cuda-fp16", "cuda"), ("mobile", "mobile")])
def test_shipped_profiles_load(name: str, target: str) -> None:
    config = load_profile_optimize(REPO / "export" / f"{name}.toml")
    assert config.target == target


@pytest.mark.slow
@pytest.mark.parametrize(("name", "recommended"), [("cpu-int8", None), ("cuda-fp16", "fp16"), ("mobile", "ort")])
def test_shipped_profiles_run_end_to_end(
    name: str, recommended: str | None, tiny_lstm: Path, labelled_by, tmp_path: Path
) -> None:
    import dataclasses

    config = dataclasses.replace(
        load_profile_optimize(REPO / "export" / f"{name}.toml"), latency_runs=3, max_accuracy_drop=100.0
    )
    from edgeseq.optimization import optimize

    samples = labelled_by(tiny_lstm, 16)
    result = optimize(tiny_lstm, tmp_path, config, calibration=samples, evaluation=samples)
    assert all(row.usable for row in result.variants), [(r.name, r.reason) for r in result.variants]
    if name == "mobile" and result.recommended == "fp32":  # .ort timed slower than fp32 here: said so
        assert "slower than fp32" in result.recommendation_reason
    elif recommended:
        assert result.recommended == recommended
    else:  # cpu: the fastest accepted non-fp16, non-.ort variant
        assert result.recommended in config.variants
    if name == "cuda-fp16":
        assert any("CUDAExecutionProvider is not available" in note for note in result.notes)


def test_more_threads_than_cpus_is_refused_before_any_variant(tiny_lstm: Path, tmp_path: Path) -> None:
    import os

    from edgeseq.optimization import optimize

    config = OptimizeConfig(variants=["fp32"], threads=(os.cpu_count() or 1) + 1, latency_runs=1)
    with pytest.raises(ConfigError, match="optimize.threads: got"):
        optimize(tiny_lstm, tmp_path / "out", config)
    assert not (tmp_path / "out" / "fp32.onnx").exists()


# Every key the flat [optimize] table had before the builders got their own settings (issue 14): all still accepted.
OLD_KEYS = {
    "variants": ["fp32", "ort-opt", "ort"],
    "target": "cpu",
    "calibration_method": "entropy",
    "calibration_samples": 8,
    "per_channel": False,
    "activation_type": "quint8",
    "weight_type": "qint8",
    "reduce_range": True,
    "conv_kernel": "symmetric",
    "exclude_first_conv": True,
    "nodes_to_exclude": ["conv1"],
    "dynamic_op_types": ["LSTM"],
    "graph_level": "all",
    "session_graph_level": "extended",
    "max_accuracy_drop": 2.0,
    "min_agreement": 90.0,
    "fp16_keep_io_types": False,
    "fp16_op_block_list": ["LSTM"],
    "ort_source": "ort-opt",
    "ort_target_platform": "arm",
    "threads": 1,
    "latency_runs": 3,
    "eval_batch": 4,
    "max_eval_samples": 10,
    "session_check_timeout_s": 5.0,
    "seed": 3,
}


def test_every_old_key_is_accepted_and_reported_flat() -> None:
    config = OptimizeConfig.from_dict(OLD_KEYS)
    assert config.to_json() == OLD_KEYS  # the report's "config" keeps the flat form
    assert set(OptimizeConfig().to_json()) == set(OLD_KEYS)
    # keywords and variant_options are the same config as the TOML table
    shared = {k: v for k, v in OLD_KEYS.items() if k in {f.name for f in dataclasses.fields(OptimizeConfig)}}
    options = {k: v for k, v in OLD_KEYS.items() if k not in shared}
    assert OptimizeConfig(**OLD_KEYS) == OptimizeConfig(**shared, variant_options=options) == config


@pytest.mark.parametrize(
    ("key", "value", "variant", "field"),
    [
        ("graph_level", "all", "ort-opt", "graph_level"),
        ("calibration_method", "percentile", "int8-static", "calibration_method"),
        ("calibration_method", "percentile", "int8-mixed", "calibration_method"),  # one key, two builders
        ("dynamic_op_types", ["MatMul"], "int8-dynamic", "dynamic_op_types"),
        ("dynamic_op_types", ["MatMul"], "int8-mixed", "dynamic_op_types"),
        ("fp16_op_block_list", ["LSTM"], "fp16", "fp16_op_block_list"),
        ("ort_target_platform", "amd64", "ort", "ort_target_platform"),
    ],
)
def test_a_builder_key_reaches_that_builders_settings(key: str, value, variant: str, field: str) -> None:
    config = OptimizeConfig.from_dict({key: value})
    assert getattr(config.settings_for(variant), field) == value
    assert config.variant_options[key] == value


def test_set_overrides_reach_builder_keys() -> None:
    from edgeseq.config import apply_overrides

    raw = apply_overrides({}, ["graph_level=all", "per_channel=false", "max_accuracy_drop=2"])
    config = OptimizeConfig.from_dict(raw)
    assert config.settings_for("ort-opt").graph_level == "all"
    assert config.settings_for("int8-static").per_channel is False and config.max_accuracy_drop == 2.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"per_chanel": True}, r"unknown key 'optimize.per_chanel' \(did you mean 'per_channel'\?\)"),
        ({"variant_options": {"graph_levle": "all"}}, r"unknown key 'optimize.graph_levle'"),
        ({"graph_level": "max"}, r"optimize.graph_level: got 'max'"),
        ({"per_channel": "yes"}, r"optimize.per_channel: got 'yes'; expected true or false"),
    ],
)
def test_keyword_errors_name_the_key(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        OptimizeConfig(**kwargs)


def test_session_graph_level_is_stored_as_the_short_name() -> None:
    assert OptimizeConfig(session_graph_level="extended").session_graph_level == "extended"
    with pytest.raises(ConfigError, match="optimize.session_graph_level: got 'ORT_ENABLE_ALL'"):
        OptimizeConfig(session_graph_level="ORT_ENABLE_ALL")  # the profile key always took short names
