"""The OpenVINO backend of the benchmark: the same ONNX file, compiled for the CPU at the row's static shape.

``openvino`` is optional and imported when a row opens a model; without it the row is skipped.
"""

from __future__ import annotations

from typing import Any

from edgeseq.bench.spec import BackendUnavailable, MeasureSpec, OpenedModel

OPENVINO_MISSING = "openvino is not installed (pip install 'edgeseq[openvino]')"
_OV_TYPE_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16", "i8": "int8", "u8": "int8"}


def ov_precision(type_name: str, model_precision: str) -> str:
    """What an OpenVINO CPU model computes in: its inference precision hint, with int8 for a QDQ graph."""
    hint = _OV_TYPE_NAMES.get(type_name, type_name)
    if model_precision == "int8":
        return "int8" if hint == "int8" else f"int8+{hint}"
    return hint


def open_openvino(spec: MeasureSpec) -> OpenedModel:
    """Read the same ONNX file with OpenVINO, reshape to the static benchmark shape, compile for CPU.

    ``openvino`` keeps OpenVINO's default precision (bf16 on CPUs with AMX/AVX512-BF16,
    docs/traps.md #14); ``openvino-f32`` forces f32 for a like-for-like row. The precision that
    actually ran is read back from the compiled model.

    Raises:
        BackendUnavailable: openvino is not installed.
    """
    try:
        import openvino as ov
    except ImportError:
        raise BackendUnavailable(OPENVINO_MISSING) from None
    core = ov.Core()
    model = core.read_model(spec.model_path)
    # A static shape is what OpenVINO's own benchmark_app uses with -shape: its best case.
    model.reshape({spec.input_name: spec.shape})
    config: dict[str, Any] = {
        "INFERENCE_NUM_THREADS": spec.threads,
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
    }
    if spec.backend == "openvino-f32":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    return OpenedModel(
        infer=lambda x: request.infer({0: x}),
        provider="openvino-CPU",
        precision=ov_precision(hint, spec.model_precision),
        settings={
            "INFERENCE_PRECISION_HINT": hint,
            "INFERENCE_NUM_THREADS": compiled.get_property("INFERENCE_NUM_THREADS"),
            "NUM_STREAMS": int(compiled.get_property("NUM_STREAMS")),
            "static_reshape": True,
            "openvino": ov.__version__.split("-")[0],
        },
    )
