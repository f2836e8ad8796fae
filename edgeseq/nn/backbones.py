"""CNN backbones: images (B, C, H, W) -> feature map (B, C', H', W').

Every backbone declares ``out_channels``, its nominal ``reduction`` (stride in H and W) and computes
its exact output size analytically (:meth:`Backbone.feature_size`), so sequence lengths and RNN input
sizes are known without running the network.

The size arithmetic walks the *main path* of the network (convolutions and pools in order) with the
PyTorch formula ``floor((n + 2p - d(k-1) - 1) / s) + 1`` (ceil for ``ceil_mode`` pools). Residual
shortcuts and squeeze-excitation branches never change the size (they are added or multiplied back
onto the main path), so they are skipped.

torchvision backbones are the classification networks truncated to their last feature map
(ResNet: everything before the global pool; MobileNet/EfficientNet/VGG: ``.features``).
With 1-channel (grayscale) input the first convolution is replaced by a 1-channel one whose weights
are the RGB weights summed over the channel axis — the usual practice: a gray image replicated to
three channels would give exactly the same activations, so pretrained features stay meaningful.
"""

from __future__ import annotations

import inspect
import math
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeseq.errors import ConfigError, ModelFileError, first_line
from edgeseq.registry import Registry

BACKBONES: Registry[Backbone] = Registry("backbone")

# Search ceiling for min_input_size: far above any realistic reduction (VGG/ResNet reduce by 32).
_MAX_SEARCH_SIZE = 4096


def _pair(value: int | tuple[int, ...] | str) -> tuple[int, int]:
    if isinstance(value, str):  # padding="same"/"valid" is not used by any registered backbone
        raise ValueError(f"string padding {value!r} is not supported by the size arithmetic")
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


def _out_len(n: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's output length of a convolution or pooling along one axis (0 when nothing fits)."""
    span = n + 2 * padding - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    if not ceil_mode:
        return span // stride + 1
    out = math.ceil(span / stride) + 1
    if (out - 1) * stride >= n + padding:  # the last window must start inside the input or left padding
        out -= 1
    return out


def _residual_block_types() -> tuple[type, ...]:
    from torchvision.models.resnet import BasicBlock, Bottleneck

    return BasicBlock, Bottleneck


def _size_neutral_types() -> tuple[type, ...]:
    from torchvision.ops.misc import SqueezeExcitation

    return (SqueezeExcitation,)


# The layers whose geometry decides the feature-map size.
SpatialLayer = nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d


def spatial_layers(module: nn.Module) -> Iterator[SpatialLayer]:
    """Yield the convolutions and pools of ``module``'s main path, in execution order."""
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        yield module
        return
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        raise ValueError("adaptive pooling has no fixed size arithmetic; truncate the backbone before it")
    if isinstance(module, _size_neutral_types()):
        return  # squeeze-excitation rescales its input: the size is unchanged
    if isinstance(module, _residual_block_types()):
        for name in ("conv1", "conv2", "conv3"):  # the shortcut (downsample) matches the main path by design
            if hasattr(module, name):
                yield getattr(module, name)
        return
    for child in module.children():
        yield from spatial_layers(child)


_Geometry = tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int], bool]


def layer_geometry(layer: SpatialLayer) -> _Geometry:
    """(kernel, stride, padding, dilation, ceil_mode) of one convolution or pooling layer, as (h, w) pairs."""
    return (
        _pair(layer.kernel_size),
        _pair(layer.stride if layer.stride is not None else layer.kernel_size),
        _pair(layer.padding),
        _pair(getattr(layer, "dilation", 1)),
        bool(getattr(layer, "ceil_mode", False)),
    )


def layer_output_size(geometry: _Geometry, h: int, w: int) -> tuple[int, int]:
    """Output (h, w) of one convolution or pooling layer (given by its geometry) for an (h, w) input."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil_mode = geometry
    return _out_len(h, kh, sh, ph, dh, ceil_mode), _out_len(w, kw, sw, pw, dw, ceil_mode)


class Backbone(nn.Module):
    """A CNN feature extractor with declared output channels, reduction and exact size arithmetic.

    Attributes:
        body: the network, ``forward`` is ``body(images)``.
        out_channels: C' of the feature map.
        reduction: nominal stride (in H, in W): the product of the strides on the main path.
    """

    def __init__(self, body: nn.Module, in_channels: int) -> None:
        super().__init__()
        self.body = body
        self.in_channels = in_channels
        layers = list(spatial_layers(body))
        convs = [m for m in layers if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ValueError("a backbone needs at least one convolution")
        self.out_channels: int = convs[-1].out_channels
        # the main path's geometry, read once: the body's layers are not replaced after construction
        self._geometry: list[_Geometry] = [layer_geometry(m) for m in layers]
        rh = rw = 1
        for _, (sh, sw), *_ in self._geometry:
            rh, rw = rh * sh, rw * sw
        self.reduction: tuple[int, int] = (rh, rw)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> feature map (B, out_channels, H', W')."""
        return self.body(images)

    def feature_size(self, height: int, width: int) -> tuple[int, int]:
        """The exact (H', W') for an input of ``height`` x ``width``, without running the network.

        A result of 0 on an axis means the input is too small (PyTorch would raise).
        """
        h, w = height, width
        for geometry in self._geometry:
            h, w = layer_output_size(geometry, h, w)
            if h <= 0 or w <= 0:
                return max(h, 0), max(w, 0)
        return h, w

    def min_input_size(self, min_feature: int = 1) -> tuple[int, int]:
        """The smallest (height, width) giving a feature map of at least ``min_feature`` on each axis.

        Use ``min_feature=1`` for what the network accepts at all. For a dynamic axis exported with
        ``torch.export`` use ``min_feature=2``: sizes 0 and 1 are specialised by its guards
        (docs/traps.md #6), for example ResNet-18 needs 33, not 32.
        """
        return self._min_along(0, min_feature), self._min_along(1, min_feature)

    def _min_along(self, axis: int, min_feature: int) -> int:
        # Output size is monotonic in input size along each axis, so the first size that works is minimal;
        # the other axis is held large so it never limits.
        for n in range(1, _MAX_SEARCH_SIZE + 1):
            size = (n, _MAX_SEARCH_SIZE) if axis == 0 else (_MAX_SEARCH_SIZE, n)
            if self.feature_size(*size)[axis] >= min_feature:
                return n
        raise ValueError(f"no input up to {_MAX_SEARCH_SIZE} pixels gives {min_feature} feature cells")


def check_backbone_args(name: str, builder: Callable[..., Any], args: dict[str, Any]) -> None:
    """Refuse ``model.backbone_args`` keys the builder does not take, naming the key and the valid ones."""
    params = inspect.signature(builder).parameters
    reserved = {"in_channels", "pretrained", "weights_path"}
    valid = [p for p in params if p not in reserved and params[p].kind is inspect.Parameter.KEYWORD_ONLY]
    for key in args:
        if key not in valid:
            expected = ", ".join(valid) if valid else "no arguments"
            raise ConfigError(f"model.backbone_args.{key}: unknown for backbone {name!r}; expected {expected}")


# ---------------------------------------------------------------------------------------------
# smallcnn


def _positive_int_list(key: str, value: Any, length: int | None = None) -> list[int]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{key}: got {value!r}; expected a non-empty list of positive integers")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
        raise ConfigError(f"{key}: got {value!r}; expected positive integers")
    if length is not None and len(value) != length:
        raise ConfigError(f"{key}: got {len(value)} values; expected {length}")
    return [int(v) for v in value]


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    # bias=False: the BatchNorm right after supplies the shift
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


@BACKBONES.register("smallcnn")
def smallcnn(
    in_channels: int,
    pretrained: str | None = None,
    weights_path: str | None = None,
    *,
    channels: list[int] | None = None,
    pools: list[list[int]] | None = None,
    double_conv: bool = False,
) -> Backbone:
    """Small VGG-style CNN for small grayscale inputs (digits, text lines); args: channels, pools, double_conv.

    Each stage is conv3x3-BN-ReLU (twice with ``double_conv``) then MaxPool with kernel = stride = pool.
    Defaults: ``channels=[32, 64]``, ``pools=[[2, 2], [2, 2]]``. A text-line recipe uses
    ``channels=[32, 64, 128, 128]``, ``pools=[[2, 2], [2, 2], [2, 1], [2, 1]]`` (height 32 -> 2, width / 4).
    """
    if pretrained or weights_path:
        key = "model.pretrained" if pretrained else "model.weights_path"
        raise ConfigError(f"{key}: backbone 'smallcnn' has no pretrained weights; expected a torchvision backbone")
    channels = _positive_int_list("model.backbone_args.channels", channels if channels is not None else [32, 64])
    if pools is None:
        pools = [[2, 2]] * len(channels)
    if not isinstance(pools, (list, tuple)) or len(pools) != len(channels):
        raise ConfigError(
            f"model.backbone_args.pools: got {pools!r}; expected {len(channels)} [ph, pw] pairs, one per channel stage"
        )
    pools = [_positive_int_list(f"model.backbone_args.pools[{i}]", p, length=2) for i, p in enumerate(pools)]
    if not isinstance(double_conv, bool):
        raise ConfigError(f"model.backbone_args.double_conv: got {double_conv!r}; expected true or false")
    layers: list[nn.Module] = []
    cin = in_channels
    for cout, (ph, pw) in zip(channels, pools, strict=True):
        layers += _conv_bn_relu(cin, cout)
        if double_conv:
            layers += _conv_bn_relu(cout, cout)
        layers.append(nn.MaxPool2d(kernel_size=(ph, pw), stride=(ph, pw)))
        cin = cout
    return Backbone(nn.Sequential(*layers), in_channels)


# ---------------------------------------------------------------------------------------------
# torchvision


def _load_torchvision(arch: str, pretrained: str | None, weights_path: str | None) -> nn.Module:
    """The full torchvision classification model, with downloaded or local weights if asked."""
    import torchvision

    if pretrained:
        weights_enum = torchvision.models.get_model_weights(arch)
        try:
            weights = weights_enum.verify(pretrained)
        except (KeyError, ValueError):
            valid = ", ".join(["DEFAULT", *weights_enum.__members__])
            raise ConfigError(f"model.pretrained: got {pretrained!r} for {arch}; expected one of: {valid}") from None
        try:
            return torchvision.models.get_model(arch, weights=weights)
        except (OSError, RuntimeError) as exc:  # URLError is an OSError; a truncated download a RuntimeError
            raise ConfigError(
                f"model.pretrained: could not download torchvision weights {pretrained!r} for {arch} (offline?); "
                "download them elsewhere and set model.weights_path to the local .pth file"
                f" ({first_line(exc, with_type=True)})"
            ) from None
    model = torchvision.models.get_model(arch, weights=None)
    if weights_path:
        _load_state_dict_file(model, arch, weights_path)
    return model


def _load_state_dict_file(model: nn.Module, arch: str, weights_path: str) -> None:
    path = Path(weights_path)
    if not path.is_file():
        raise ConfigError(f"model.weights_path: file {str(path)!r} not found; expected the {arch} state_dict (.pth)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # never unpickle code (docs/traps.md #19)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ModelFileError(
            f"model.weights_path: {str(path)!r} is not a loadable weights-only state_dict ({type(exc).__name__})"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(
            f"model.weights_path: {str(path)!r} holds {type(state).__name__}; "
            f"expected the torchvision {arch} state_dict (a dict of tensors)"
        )
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ModelFileError(
            f"model.weights_path: {str(path)!r} does not match torchvision {arch}: "
            f"{len(result.missing_keys)} missing keys (e.g. {result.missing_keys[:2]}), "
            f"{len(result.unexpected_keys)} unexpected keys (e.g. {result.unexpected_keys[:2]})"
        )


def _truncate(arch: str, model: nn.Module) -> nn.Module:
    if arch.startswith("resnet"):
        return nn.Sequential(*list(model.children())[:-2])  # drop avgpool and fc
    return model.get_submodule("features")


def _adapt_first_conv(body: nn.Module, in_channels: int) -> None:
    """Replace the first 3-channel convolution by an ``in_channels`` one (summed RGB weights for 1 channel)."""
    for name, module in body.named_modules():  # noqa: B007 - name is used after the loop
        if isinstance(module, nn.Conv2d):
            break
    else:  # pragma: no cover - every registered backbone has convolutions
        raise ValueError("no convolution found")
    if module.in_channels == in_channels:
        return
    if in_channels != 1:
        raise ConfigError(f"preprocess.color: got {in_channels} channels; expected 1 (L) or 3 (RGB)")
    geometry: dict[str, Any] = {
        "kernel_size": module.kernel_size,
        "stride": module.stride,
        "padding": module.padding,
        "dilation": module.dilation,
    }
    new = nn.Conv2d(1, module.out_channels, **geometry, groups=module.groups, bias=module.bias is not None)
    with torch.no_grad():
        new.weight.copy_(module.weight.sum(dim=1, keepdim=True))
        if module.bias is not None and new.bias is not None:
            new.bias.copy_(module.bias)
    parent_name, _, attr = name.rpartition(".")
    parent = body.get_submodule(parent_name) if parent_name else body
    setattr(parent, attr, new)


def torchvision_backbone(
    arch: str, in_channels: int, pretrained: str | None = None, weights_path: str | None = None
) -> Backbone:
    """Build a truncated torchvision backbone (see the module docstring)."""
    if in_channels not in (1, 3):
        raise ConfigError(f"preprocess.color: got {in_channels} channels; expected 1 (L) or 3 (RGB)")
    body = _truncate(arch, _load_torchvision(arch, pretrained, weights_path))
    _adapt_first_conv(body, in_channels)
    return Backbone(body, in_channels)


def _register_torchvision(arch: str, doc: str) -> None:
    def builder(in_channels: int, pretrained: str | None = None, weights_path: str | None = None) -> Backbone:
        return torchvision_backbone(arch, in_channels, pretrained, weights_path)

    builder.__name__ = arch
    builder.__doc__ = doc
    BACKBONES.register(arch)(builder)


for _arch, _doc in (
    ("resnet18", "torchvision ResNet-18 up to layer4 (512 channels, stride 32)."),
    ("resnet34", "torchvision ResNet-34 up to layer4 (512 channels, stride 32)."),
    ("resnet50", "torchvision ResNet-50 up to layer4 (2048 channels, stride 32)."),
    ("mobilenet_v3_small", "torchvision MobileNetV3-Small features (576 channels, stride 32)."),
    ("mobilenet_v3_large", "torchvision MobileNetV3-Large features (960 channels, stride 32)."),
    ("efficientnet_b0", "torchvision EfficientNet-B0 features (1280 channels, stride 32)."),
    ("vgg11_bn", "torchvision VGG-11 with BatchNorm, features (512 channels, stride 32, floor pooling)."),
):
    _register_torchvision(_arch, _doc)
