"""OptimizeConfig validation (errors name optimize.<key>) and the shipped profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeseq.errors import ConfigError
from edgeseq.optimization import OptimizeConfig, load_profile_optimize

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
    assert OptimizeConfig().max_accuracy_drop == 1.0 and OptimizeConfig().reduce_range == "auto"


AMX = "flags\t: avx2 avx512f avx512_vnni amx_tile amx_int8\n"
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
    from edgeseq.optimization import _resolve_int8
    from edgeseq.passes.cpuinfo import parse_cpuinfo

    choice = _resolve_int8(OptimizeConfig.from_dict(table), parse_cpuinfo(cpuinfo, arch="x86_64"))
    assert choice.conv_kernel == kernel
    assert ("conv_kernel" in choice.reason) == ("conv_kernel" in table)  # "set by the profile: conv_kernel"
    assert ("zero point -1" in choice.reason) == (kernel == "gemm")


def test_gemm_conv_kernel_with_s8_activations_is_refused() -> None:
    from edgeseq.optimization import _resolve_int8
    from edgeseq.passes.cpuinfo import parse_cpuinfo

    config = OptimizeConfig.from_dict({"conv_kernel": "gemm", "activation_type": "qint8"})
    with pytest.raises(ConfigError, match=r'optimize.conv_kernel: "gemm" needs quint8 activations'):
        _resolve_int8(config, parse_cpuinfo(AMX, arch="x86_64"))


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
    if recommended:
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
