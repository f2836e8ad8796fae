"""The memory budget of a config's sizes: refuse what cannot fit before anything is allocated.

A recipe, a ``--set`` or a checkpoint from elsewhere can ask for an LSTM of 30,000 units or images a
million pixels high; building or feeding that model takes the machine's memory (and the kernel then
kills the process). :func:`check_memory_budget` estimates a lower bound from the sizes alone (standard
library only: nothing is built) and refuses a config above the memory limit
(:func:`edgeseq.memory.memory_limit`) with one line naming the key. Training calls it with the batch
size, model loading from a checkpoint at batch 1, evaluation at its batch.
"""

from __future__ import annotations

from edgeseq.config import ExperimentConfig
from edgeseq.errors import ResourceLimitError
from edgeseq.memory import format_bytes, limit_source, memory_limit

# Bytes of one float32; RNN weights carry a gradient and two Adam moments while training; the first
# feature map of every backbone holds at least as many values as the image (and training keeps both
# for the backward pass). These make the estimate a lower bound: a config it refuses cannot fit.
FLOAT_BYTES = 4
TRAINING_WEIGHT_COPIES = 4
ACTIVATION_COPIES = 2
RNN_GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def memory_estimate(cfg: ExperimentConfig, *, training: bool = False, batch: int = 1) -> dict[str, int]:
    """Lower bounds of the bytes a config's sizes need, by the key that sets them.

    Args:
        cfg: the config.
        training: count training's extra copies (gradients, optimizer state, saved activations).
        batch: images per forward pass.

    Returns:
        ``{"model.hidden_size": RNN weight bytes, "preprocess.height/width": bytes of one batch's images
        and first feature maps}`` (``preprocess.height/max_width`` with ``resize = "height"``).
    """
    model, pre = cfg.model, cfg.preprocess
    dirs = 2 if model.bidirectional else 1
    params = 0
    for layer in range(model.num_layers):
        inputs = 1 if layer == 0 else dirs * model.hidden_size  # the backbone's feature size is at least 1
        params += dirs * RNN_GATES[model.rnn] * model.hidden_size * (inputs + model.hidden_size + 2)
    weights = params * FLOAT_BYTES * (TRAINING_WEIGHT_COPIES if training else 1)
    width_key, width = ("max_width", pre.max_width) if pre.resize == "height" else ("width", pre.width)
    pixels = batch * pre.channels * pre.height * width
    images = pixels * FLOAT_BYTES * ACTIVATION_COPIES * (2 if training else 1)
    return {"model.hidden_size": weights, f"preprocess.height/{width_key}": images}


def check_memory_budget(
    cfg: ExperimentConfig, *, training: bool = False, batch: int = 1, limit: int | str | None = None
) -> None:
    """Refuse a config whose sizes need more memory than the limit, before anything is allocated.

    Args:
        cfg: the config (a recipe, or one read from a checkpoint).
        training: check for training (weights x4, activations x2) rather than inference.
        batch: images per forward pass (``train.batch_size`` when training).
        limit: bytes or a size such as ``"8G"``; default :func:`edgeseq.memory.memory_limit`.

    Raises:
        ResourceLimitError: one line naming the key, its value, the estimate and the limit.
    """
    budget = memory_limit(limit)
    parts = memory_estimate(cfg, training=training, batch=batch)
    total = sum(parts.values())
    if total <= budget:
        return
    key = max(parts, key=lambda k: parts[k])
    pre = cfg.preprocess
    if key == "model.hidden_size":
        values = f"hidden_size={cfg.model.hidden_size}, num_layers={cfg.model.num_layers}"
    else:
        values = f"{pre.height}x{pre.max_width if pre.resize == 'height' else pre.width} pixels, batch {batch}"
    raise ResourceLimitError(
        f"{key}: got {values}; needs at least {format_bytes(total)} of memory "
        f"({'training' if training else 'inference'}), above the limit of {format_bytes(budget)} "
        f"({limit_source(limit)}); expected smaller sizes",
        needed=total,
        limit=budget,
    )
