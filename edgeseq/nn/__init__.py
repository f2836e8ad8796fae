"""The torch side of edgeseq: CNN backbone -> sequencer -> RNN -> head.

``build_model(model_cfg, preprocess_cfg, num_outputs)`` is the front door; the component registries
(``BACKBONES``, ``SEQUENCERS``, ``RNNS``, ``HEADS``) list what a config may name.
Importing this package imports torch and torchvision.
"""

from __future__ import annotations

from edgeseq.nn.backbones import BACKBONES, Backbone
from edgeseq.nn.heads import HEADS, Head
from edgeseq.nn.model import ImageSequenceModel, build_model, tiny_model_config
from edgeseq.nn.rnns import RNNS, SequenceRNN
from edgeseq.nn.sequencers import SEQUENCERS, Sequencer

__all__ = [
    "BACKBONES",
    "HEADS",
    "RNNS",
    "SEQUENCERS",
    "Backbone",
    "Head",
    "ImageSequenceModel",
    "Sequencer",
    "SequenceRNN",
    "build_model",
    "tiny_model_config",
]
