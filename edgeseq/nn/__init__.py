"""The torch side of edgeseq: CNN backbone -> sequencer -> RNN -> head.

``build_model(model_cfg, preprocess_cfg, num_outputs)`` is the front door; the component registries
(``BACKBONES``, ``SEQUENCERS``, ``RNNS``, ``HEADS``) list what a config may name, and ``TINY_CONFIGS``
the tiny test variants (``tiny_config("test_rows_lstm")``, see :mod:`edgeseq.nn.tiny`).
Importing this package imports torch; building a model imports torchvision (its blocks are walked for sizes).
"""

from __future__ import annotations

from edgeseq.nn.backbones import BACKBONES, Backbone
from edgeseq.nn.heads import HEADS, Head
from edgeseq.nn.model import ImageSequenceModel, build_model
from edgeseq.nn.rnns import RNNS, SequenceRNN
from edgeseq.nn.sequencers import SEQUENCERS, Sequencer
from edgeseq.nn.tiny import TINY_CONFIGS, tiny_config, tiny_model_config, tiny_num_outputs

__all__ = [
    "BACKBONES",
    "HEADS",
    "RNNS",
    "SEQUENCERS",
    "TINY_CONFIGS",
    "Backbone",
    "Head",
    "ImageSequenceModel",
    "Sequencer",
    "SequenceRNN",
    "build_model",
    "tiny_config",
    "tiny_model_config",
    "tiny_num_outputs",
]
