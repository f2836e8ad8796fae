"""The CNN -> sequencer -> RNN -> head model and its factory, :func:`build_model`."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgeseq.config import ModelConfig, PreprocessConfig
from edgeseq.errors import ConfigError
from edgeseq.nn.backbones import BACKBONES, Backbone, check_backbone_args
from edgeseq.nn.heads import HEADS, Head
from edgeseq.nn.rnns import RNNS, SequenceRNN
from edgeseq.nn.sequencers import SEQUENCERS, Sequencer
from edgeseq.nn.tiny import tiny_model_config as tiny_model_config  # re-export: its home is edgeseq.nn.tiny


class ImageSequenceModel(nn.Module):
    """images (B, C, H, W) float32 -> logits: (B, num_outputs), or (B, T, num_outputs) for CTC.

    Attributes:
        backbone, sequencer, rnn, head: the four stages.
        task: ``"ctc"`` when the head is ``ctc``, else ``"classification"``.
        in_channels: 1 (grayscale) or 3 (RGB), from the preprocessing spec.
        num_outputs: width of the class axis (for CTC: alphabet size + 1, blank at index 0).
        input_size: the configured (height, width) of the preprocessing spec.
        freeze_backbone: backbone weights are frozen (see :meth:`train` and :meth:`forward`).
        model_cfg, preprocess_cfg: the configs it was built from (``None`` when built by hand).
    """

    def __init__(
        self,
        backbone: Backbone,
        sequencer: Sequencer,
        rnn: SequenceRNN,
        head: Head,
        *,
        in_channels: int,
        num_outputs: int,
        input_size: tuple[int, int],
        freeze_backbone: bool = False,
        model_cfg: ModelConfig | None = None,
        preprocess_cfg: PreprocessConfig | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.sequencer = sequencer
        self.rnn = rnn
        self.head = head
        self.task = "ctc" if head.per_timestep else "classification"
        self.in_channels = in_channels
        self.num_outputs = num_outputs
        self.input_size = tuple(input_size)
        self.model_cfg = model_cfg
        self.preprocess_cfg = preprocess_cfg
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            for p in self.backbone.parameters():
                p.requires_grad_(False)
            self.backbone.eval()

    def train(self, mode: bool = True) -> ImageSequenceModel:
        """Set training mode; a frozen backbone always stays in eval mode (BatchNorm statistics frozen)."""
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> logits (B, num_outputs) or, for CTC, (B, T, num_outputs).

        A frozen backbone runs under ``torch.no_grad()`` in training mode only (to save activation
        memory); in eval mode, as used for export, the graph stays free of grad-mode switches.
        """
        if self.freeze_backbone and self.training:
            with torch.no_grad():
                features = self.backbone(images)
        else:
            features = self.backbone(images)
        outputs, h_n = self.rnn(self.sequencer(features))
        return self.head(outputs, h_n)

    def _size(self, height: int | None, width: int | None) -> tuple[int, int]:
        return (self.input_size[0] if height is None else height, self.input_size[1] if width is None else width)

    def feature_size(self, height: int | None = None, width: int | None = None) -> tuple[int, int]:
        """Backbone output (H', W') for an input size (default: the configured size)."""
        return self.backbone.feature_size(*self._size(height, width))

    def sequence_shape(self, height: int | None = None, width: int | None = None) -> tuple[int, int]:
        """(T, D) the RNN sees for an input size (default: the configured size)."""
        fh, fw = self.feature_size(height, width)
        return self.sequencer.sequence_shape(self.backbone.out_channels, fh, fw)

    def min_input_size(self, min_feature: int = 1) -> tuple[int, int]:
        """Smallest (height, width) the backbone accepts with at least ``min_feature`` feature cells per axis.

        Only the axis in :meth:`dynamic_input_axes` may differ from :attr:`input_size` at run time (the other
        is fixed by the RNN input size D). For a dynamic axis exported with ``torch.export`` ask for
        ``min_feature=2`` (docs/traps.md #6: sizes 0 and 1 are specialised).
        """
        return self.backbone.min_input_size(min_feature)

    def export_min_input_size(self) -> tuple[int, int]:
        """Smallest (height, width) to declare for dynamic axes when exporting with ``torch.export``.

        On the dynamic axis the feature map keeps at least ``max(2, step + 1)`` cells, so both it and the
        sequence length T stay >= 2 (``torch.export`` specialises sizes 0 and 1, docs/traps.md #6; ResNet-18
        gives 33, not 32). A fixed axis returns the configured size, the only one the model accepts.
        """
        size = list(self.input_size)
        axis = self.sequencer.image_axis
        if axis is not None:
            min_feature = max(2, self.sequencer.step + 1)
            size[axis - 2] = self.backbone.min_input_size(min_feature)[axis - 2]
        return size[0], size[1]

    def dynamic_input_axes(self) -> dict[int, str]:
        """Input axes that may vary: batch, plus height (rows) or width (columns); channels: batch only."""
        axes = {0: "batch"}
        axis, name = self.sequencer.image_axis, self.sequencer.axis_name
        if axis is not None and name is not None:  # a sequencer names the axis it follows
            axes[axis] = name
        return axes

    def output_axes(self) -> dict[int, str]:
        """Output axes that may vary: batch, plus time for CTC when T follows a dynamic image axis."""
        axes = {0: "batch"}
        if self.task == "ctc" and self.sequencer.image_axis is not None:
            axes[1] = "time"
        return axes


def _check_num_outputs(num_outputs: Any) -> None:
    if isinstance(num_outputs, bool) or not isinstance(num_outputs, int) or num_outputs < 1:
        raise ConfigError(
            f"num_outputs: got {num_outputs!r}; expected a positive integer "
            "(number of labels, or alphabet size + 1 for ctc)"
        )


def _check_feature_size(name: str, backbone: Backbone, pre: PreprocessConfig) -> tuple[int, int]:
    """Refuse input sizes that leave the feature map empty; returns (H', W') at the configured size."""
    min_h, min_w = backbone.min_input_size()
    fh, fw = backbone.feature_size(pre.height, pre.width)
    where = f"with backbone {name!r} (reduction {backbone.reduction[0]}x{backbone.reduction[1]})"
    if fh < 1:
        raise ConfigError(
            f"preprocess.height: {pre.height} gives a feature map of 0 rows {where}; expected height >= {min_h}"
        )
    if fw < 1:
        raise ConfigError(
            f"preprocess.width: {pre.width} gives a feature map of 0 columns {where}; expected width >= {min_w}"
        )
    if pre.resize == "height" and backbone.feature_size(pre.height, pre.min_width)[1] < 1:
        raise ConfigError(
            f"preprocess.min_width: {pre.min_width} gives a feature map of 0 columns {where}; "
            f"expected min_width >= {min_w}"
        )
    return fh, fw


def _check_component_names(model_cfg: ModelConfig) -> None:
    """Refuse unknown backbone/sequencer/rnn/head names (with a suggestion) and a non-table ``backbone_args``."""
    for kind, registry, name in (
        ("backbone", BACKBONES, model_cfg.backbone),
        ("sequencer", SEQUENCERS, model_cfg.sequencer),
        ("rnn", RNNS, model_cfg.rnn),
        ("head", HEADS, model_cfg.head),
    ):
        if name not in registry:
            raise ConfigError(f"model.{kind}: {registry.unknown_message(name)}")
    if not isinstance(model_cfg.backbone_args, dict):
        raise ConfigError(f"model.backbone_args: got {model_cfg.backbone_args!r}; expected a table")


def _build_backbone(model_cfg: ModelConfig, pre: PreprocessConfig) -> tuple[Backbone, tuple[int, int]]:
    """The backbone and its feature-map size (H', W') at the configured input size."""
    builder = BACKBONES.get(model_cfg.backbone)
    check_backbone_args(model_cfg.backbone, builder, model_cfg.backbone_args)
    backbone = builder(pre.channels, model_cfg.pretrained, model_cfg.weights_path, **model_cfg.backbone_args)
    return backbone, _check_feature_size(model_cfg.backbone, backbone, pre)


def _build_sequencer(
    model_cfg: ModelConfig, pre: PreprocessConfig, backbone: Backbone, feature_size: tuple[int, int]
) -> tuple[Sequencer, int]:
    """The sequencer and the feature width D of each timestep; refuses a ``step`` longer than its axis."""
    fh, fw = feature_size
    sequencer = SEQUENCERS.get(model_cfg.sequencer)(model_cfg.step)
    axis_length = sequencer.axis_length(backbone.out_channels, fh, fw)
    if model_cfg.step > axis_length:
        raise ConfigError(
            f"model.step: got {model_cfg.step} but the feature map has {axis_length} {model_cfg.sequencer} at "
            f"{pre.height}x{pre.width} with backbone {model_cfg.backbone!r}; expected step <= {axis_length}"
        )
    _, features = sequencer.sequence_shape(backbone.out_channels, fh, fw)
    return sequencer, features


def build_model(model_cfg: ModelConfig, preprocess_cfg: PreprocessConfig, num_outputs: int) -> ImageSequenceModel:
    """Build the model a config describes.

    Args:
        model_cfg: architecture (backbone, sequencer, rnn, head, sizes).
        preprocess_cfg: the input spec (height, width, color -> 1 or 3 channels).
        num_outputs: width of the class axis: number of labels, or ``len(alphabet) + 1`` for ctc
            (the blank is index 0).

    Returns:
        An :class:`ImageSequenceModel` in training mode.

    Raises:
        ConfigError: unknown component names, unknown ``backbone_args``, an input too small for the
            backbone, ``step`` larger than the sequence axis, RNN dropout with one layer, missing
            pretrained weights (offline), or ``num_outputs < 1``.
        ModelFileError: ``weights_path`` is not a matching weights-only state_dict.
    """
    _check_num_outputs(num_outputs)
    _check_component_names(model_cfg)
    backbone, feature_size = _build_backbone(model_cfg, preprocess_cfg)
    sequencer, features = _build_sequencer(model_cfg, preprocess_cfg, backbone, feature_size)
    rnn = RNNS.get(model_cfg.rnn)(
        features, model_cfg.hidden_size, model_cfg.num_layers, model_cfg.bidirectional, model_cfg.dropout
    )
    head = HEADS.get(model_cfg.head)(rnn.out_features, num_outputs, rnn.directions)
    return ImageSequenceModel(
        backbone,
        sequencer,
        rnn,
        head,
        in_channels=preprocess_cfg.channels,
        num_outputs=num_outputs,
        input_size=(preprocess_cfg.height, preprocess_cfg.width),
        freeze_backbone=model_cfg.freeze_backbone,
        model_cfg=model_cfg,
        preprocess_cfg=preprocess_cfg,
    )
