"""Recurrent layers over (B, T, D) sequences: LSTM, GRU and Elman RNN, batch first.

No initial-state buffers (a fixed-batch ``h0`` freezes or breaks the batch axis in export,
docs/traps.md #7) and no packed sequences (every image column is a valid timestep; packing fails
on the dynamo path and has a history of wrong outputs, docs/traps.md #8).
"""

from __future__ import annotations

import torch
from torch import nn

from edgeseq.errors import ConfigError
from edgeseq.registry import Registry

_KINDS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class SequenceRNN(nn.Module):
    """A batch-first ``nn.LSTM``/``nn.GRU``/``nn.RNN`` returning ``(outputs, h_n)`` for every kind.

    Attributes:
        kind: "lstm", "gru" or "rnn".
        hidden_size, num_layers, directions: the layer geometry.
        out_features: width of ``outputs`` (hidden_size · directions).
    """

    def __init__(
        self,
        kind: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if dropout and num_layers < 2:
            # PyTorch only warns and then ignores it: refuse rather than silently train without dropout
            raise ConfigError(
                f"model.dropout: got {dropout} with model.num_layers={num_layers}; RNN dropout acts between "
                "layers, expected dropout=0 or num_layers >= 2"
            )
        self.kind = kind
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.directions = 2 if bidirectional else 1
        self.out_features = hidden_size * self.directions
        self.rnn = _KINDS[kind](
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout,
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D) -> (outputs (B, T, hidden·directions), h_n (layers·directions, B, hidden)).

        The initial state is left to the RNN (zeros sized from the actual batch).
        """
        outputs, state = self.rnn(x)
        h_n = state[0] if isinstance(state, tuple) else state  # LSTM returns (h_n, c_n)
        return outputs, h_n


RNNS: Registry[SequenceRNN] = Registry("rnn")


@RNNS.register("lstm")
def lstm(
    input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0
) -> SequenceRNN:
    """Long short-term memory (nn.LSTM), exported as ONNX LSTM."""
    return SequenceRNN("lstm", input_size, hidden_size, num_layers, bidirectional, dropout)


@RNNS.register("gru")
def gru(
    input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0
) -> SequenceRNN:
    """Gated recurrent unit (nn.GRU), exported as ONNX GRU."""
    return SequenceRNN("gru", input_size, hidden_size, num_layers, bidirectional, dropout)


@RNNS.register("rnn")
def rnn(
    input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0
) -> SequenceRNN:
    """Elman RNN with tanh (nn.RNN), exported as ONNX RNN."""
    return SequenceRNN("rnn", input_size, hidden_size, num_layers, bidirectional, dropout)
