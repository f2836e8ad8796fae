"""Models quantized in PyTorch: found before export, dynamic ones exported through an exact float copy.

Neither exporter takes a PyTorch-quantized module on torch 2.14, and none of their messages says why
(TorchScript: "Only tuples, lists and Variables are supported as JIT inputs/outputs ... ScriptObject";
dynamo: "CellParamsBase ... does not have a field with name '__obj_flatten__'"). So edgeseq looks first:

* **Dynamic quantization** (``torch.ao.quantization.quantize_dynamic``, as EasyOCR does on CPU; also FX
  dynamic): ``Linear``, ``LSTM``, ``GRU`` and the cells of ``torch.ao.nn.quantized.dynamic`` (and the fused
  ``LinearReLU``) hold int8 (or fp16) weights and quantize activations on the fly. :func:`dequantize_dynamic`
  makes a float copy with the *dequantized* weights under the same names (``_weight_bias()`` gives
  nn.LSTM's parameter names; biases are stored in float). With fp16 weights the copy matches the quantized
  module to 1.5e-8, which proves the mapping (gate order, directions, cells); with qint8 the copy differs
  only by the activation quantization the float graph drops on purpose. The copy is exported and checked
  against at the usual fp32 tolerance; the ONNX-side int8 equivalent is the ``int8-dynamic`` variant of
  ``edgeseq optimize`` (see :mod:`edgeseq.pipeline.torch_quantized`, which builds it and checks it against
  the quantized module at :data:`edgeseq.parity.INT8_TOLERANCES`).
* **Static quantization** (eager or FX ``convert``, QAT): quantized convolutions/linears with quantized
  activations, or any quantized parameter or buffer. Refused: the TorchScript exporter fails on quantized
  activations between float ops and the dynamo exporter on packed weights.
* **PT2E** (``convert_pt2e``: a GraphModule calling ``quantized_decomposed`` ops): refused; on torch 2.14 it
  exports only with the sequence axis frozen to the example.

Refusals are one line naming the module and what to do: export the float model and quantize the ONNX graph.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from edgeseq.errors import ExportError

DYNAMIC_KIND = "torch-dynamic"
_QUANTIZED_PACKAGES = ("torch.ao.nn.quantized", "torch.nn.quantized", "torch.ao.nn.intrinsic.quantized")
# float modules that live in the quantized packages (used in float models prepared for quantization)
_FLOAT_HELPERS = ("FloatFunctional", "FXFloatFunctional")
_DO_INSTEAD = "export the float model and quantize the ONNX graph (edgeseq optimize --variants int8-static,int8-mixed)"


@dataclass
class TorchQuantization:
    """What :func:`inspect_quantization` found: the dynamic-quantized modules of a model.

    Attributes:
        modules: qualified name -> class (``torch.ao.nn.quantized.dynamic.LSTM``), in model order.
        weight_dtypes: the weight dtypes found (``qint8``, ``float16``).
    """

    modules: dict[str, str] = field(default_factory=dict)
    weight_dtypes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """What the manifest records under ``torch_quantization``."""
        return {
            "kind": DYNAMIC_KIND,
            "modules": dict(self.modules),
            "weight_dtypes": list(self.weight_dtypes),
            "exported": "a float copy with the dequantized weights (activation quantization is not in the graph)",
            "parity_reference": "the dequantized float copy",
        }


def _dynamic_classes() -> tuple[tuple[type, ...], type | None]:
    """The dynamic-quantized module classes of this torch build (none where quantization is gone)."""
    try:
        import torch.ao.nn.quantized.dynamic as nnqd
    except ImportError:  # a torch without torch.ao quantization: nothing can be quantized
        return (), None
    linear_relu: type | None
    try:
        from torch.ao.nn.intrinsic.quantized.dynamic import LinearReLU as linear_relu
    except ImportError:  # fused dynamic modules gone: plain ones only
        linear_relu = None
    return (nnqd.Linear, nnqd.LSTM, nnqd.GRU, nnqd.LSTMCell, nnqd.GRUCell, nnqd.RNNCell), linear_relu


def _class_name(module: nn.Module) -> str:
    cls = type(module)
    return f"{cls.__module__.split('.modules')[0]}.{cls.__qualname__}"


def _is_quantized_class(module: nn.Module) -> bool:
    cls = type(module)
    return cls.__module__.startswith(_QUANTIZED_PACKAGES) and cls.__name__ not in _FLOAT_HELPERS


def _quantized_tensor(module: nn.Module) -> str | None:
    """The name of a quantized parameter or buffer held directly by ``module``, if any."""
    for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
        if tensor is not None and tensor.is_quantized:
            return name
    return None


def _refuse_pt2e(model: nn.Module) -> None:
    """A PT2E-quantized GraphModule (``quantized_decomposed`` ops): one line naming the first op."""
    graph = getattr(model, "graph", None)
    if not isinstance(model, torch.fx.GraphModule) or graph is None:
        return
    for node in graph.nodes:
        if "quantized_decomposed" in str(node.target):
            raise ExportError(
                f"the model is a PT2E-quantized GraphModule (node {node.name!r} calls {node.target}): torch 2.14 "
                f"exports it only with the sequence axis frozen to the example's size; {_DO_INSTEAD}"
            )


def _weight_dtype(module: nn.Module) -> str:
    dtype = getattr(module, "dtype", None) or getattr(module, "weight_dtype", None)
    if dtype is None and hasattr(module, "_packed_params"):
        dtype = getattr(module._packed_params, "dtype", None)
    return str(dtype).replace("torch.", "") if dtype is not None else "unknown"


def inspect_quantization(model: nn.Module) -> TorchQuantization | None:
    """The model's dynamic-quantized modules (None when there are none).

    Raises:
        ExportError: one line naming the module: static (eager/FX) or PT2E quantization, a quantized
            tensor in a float module, or a dynamic-quantized kind edgeseq cannot rebuild (e.g. Conv2d).
    """
    _refuse_pt2e(model)
    dynamic, linear_relu = _dynamic_classes()
    supported = dynamic + ((linear_relu,) if linear_relu is not None else ())
    found = TorchQuantization()
    inside: list[str] = []
    module: nn.Module
    for name, module in model.named_modules():
        if any(name.startswith(f"{outer}.") for outer in inside):
            continue  # the packed parameters of a dynamic module
        where = f"module {name or '<model>'!r} ({_class_name(module)})"
        if supported and isinstance(module, supported):
            found.modules[name] = _class_name(module)
            dtype = _weight_dtype(module)
            if dtype not in found.weight_dtypes:
                found.weight_dtypes.append(dtype)
            inside.append(name)
        elif _is_quantized_class(module) and ".dynamic" in type(module).__module__:
            raise ExportError(
                f"{where} is dynamically quantized, but edgeseq rebuilds only Linear, LSTM, GRU and RNN cells in "
                f"float; quantize only those (quantize_dynamic(model, {{nn.LSTM, nn.GRU, nn.Linear}})) or {_DO_INSTEAD}"
            )
        elif _is_quantized_class(module):
            kind = " by FX" if isinstance(model, torch.fx.GraphModule) else ""
            raise ExportError(
                f"{where} is statically quantized{kind} (int8 activations between ops): neither exporter can "
                f"write it on torch 2.14; {_DO_INSTEAD}"
            )
        elif _quantized_tensor(module):
            raise ExportError(
                f"{where} holds the quantized tensor {_quantized_tensor(module)!r}: neither exporter writes "
                f"quantized tensors on torch 2.14; {_DO_INSTEAD}"
            )
    return found if found.modules else None


def _float(tensor: torch.Tensor | None) -> torch.Tensor | None:
    if tensor is None:
        return None
    return tensor.dequantize() if tensor.is_quantized else tensor.detach().float()


def _copy_into(target: torch.Tensor, source: torch.Tensor | None) -> None:
    value = _float(source)
    if value is None:
        raise ExportError(f"a dynamic-quantized module has no value for a parameter of shape {list(target.shape)}")
    target.copy_(value)


def _float_linear(module: Any) -> nn.Linear:
    weight, bias = module.weight(), module.bias()
    linear = nn.Linear(module.in_features, module.out_features, bias=bias is not None)
    with torch.no_grad():
        _copy_into(linear.weight, weight)
        if bias is not None:
            _copy_into(linear.bias, bias)
    return linear


def _float_rnn(module: Any) -> nn.RNNBase:
    kinds: dict[str, Any] = {"LSTM": nn.LSTM, "GRU": nn.GRU}
    rnn: nn.RNNBase = kinds[module.mode](
        module.input_size,
        module.hidden_size,
        num_layers=module.num_layers,
        bias=module.bias,
        batch_first=module.batch_first,
        dropout=float(module.dropout),
        bidirectional=module.bidirectional,
    )
    # {"weight": {"weight_ih_l0": qtensor, ...}, "bias": {"bias_ih_l0": tensor, ...}}: nn.LSTM's own names
    weights = module._weight_bias()
    with torch.no_grad():
        for name, tensor in {**weights["weight"], **(weights["bias"] if module.bias else {})}.items():
            _copy_into(getattr(rnn, name), tensor)
    return rnn


def _float_cell(module: Any) -> nn.RNNCellBase:
    name = type(module).__name__
    cell: nn.RNNCellBase
    if name == "LSTMCell":
        cell = nn.LSTMCell(module.input_size, module.hidden_size, bias=module.bias)
    elif name == "GRUCell":
        cell = nn.GRUCell(module.input_size, module.hidden_size, bias=module.bias)
    else:
        cell = nn.RNNCell(module.input_size, module.hidden_size, bias=module.bias, nonlinearity=module.nonlinearity)
    weights = module._weight_bias()
    with torch.no_grad():
        _copy_into(cell.weight_ih, weights["weight"]["weight_ih"])
        _copy_into(cell.weight_hh, weights["weight"]["weight_hh"])
        if module.bias:
            _copy_into(cell.bias_ih, weights["bias"]["bias_ih"])
            _copy_into(cell.bias_hh, weights["bias"]["bias_hh"])
    return cell


def _float_module(module: nn.Module) -> nn.Module | None:
    """The float equivalent of one dynamic-quantized module (None for any other module)."""
    dynamic, linear_relu = _dynamic_classes()
    if not dynamic:
        return None
    linear, lstm, gru = dynamic[:3]
    if linear_relu is not None and isinstance(module, linear_relu):
        return nn.Sequential(_float_linear(module), nn.ReLU())
    if isinstance(module, linear):
        return _float_linear(module)
    if isinstance(module, (lstm, gru)):
        return _float_rnn(module)
    if isinstance(module, dynamic[3:]):
        return _float_cell(module)
    return None


def dequantize_dynamic(model: nn.Module) -> nn.Module:
    """A float copy of ``model`` with every dynamic-quantized module replaced by its float equivalent.

    The copy carries the *dequantized* weights, so it computes what the quantized model computes minus the
    activation quantization. The input model is not modified.
    """
    out = copy.deepcopy(model)
    replacements = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation warnings on every weight access
        for name, module in out.named_modules():
            new = _float_module(module)
            if new is not None:
                new.train(module.training)
                replacements.append((name, new))
    for name, new in replacements:
        if name == "":
            return new  # the model itself is one quantized module
        out.set_submodule(name, new)
    return out


def torch_quantize_dynamic(model: nn.Module) -> nn.Module:
    """``quantize_dynamic(model, {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8)`` on a copy, warnings silenced.

    What EasyOCR does to its recognizer on CPU, and what ``edgeseq export --torch-quantized dynamic`` applies to
    a checkpoint's model (deterministic: the same weights always give the same quantized module).
    """
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "torch.ao.quantization is deprecated" (it still works on 2.14)
        quantized: nn.Module = quantize_dynamic(
            copy.deepcopy(model), {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8, inplace=False
        )
    return quantized.eval()


def float_reference(model: nn.Module) -> tuple[nn.Module, TorchQuantization | None, list[str]]:
    """What to export and check parity against: ``model``, or its dequantized copy when dynamically quantized.

    Returns:
        (the reference module, what was found or None, one rewrite line per replaced module)

    Raises:
        ExportError: a kind of PyTorch quantization that cannot be exported (see :func:`inspect_quantization`).
    """
    found = inspect_quantization(model)
    if found is None:
        return model, None, []
    reference = dequantize_dynamic(model).eval()
    rewrites = [
        f"{name}: {cls.rsplit('.', 1)[-1]} ({_dtype_of(model, name)}, dynamic) -> float copy with the dequantized weights"
        for name, cls in found.modules.items()
    ]
    return reference, found, rewrites


def _dtype_of(model: nn.Module, name: str) -> str:
    return _weight_dtype(model.get_submodule(name)) if name else _weight_dtype(model)
