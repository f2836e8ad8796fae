"""Typed prediction results returned by :class:`edgeseq.runtime.Predictor`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Prediction:
    """A classification result.

    Attributes:
        label: the most probable class name.
        index: its index on the model's class axis.
        score: its softmax probability (0..1).
        top_k: the ``k`` most probable ``(label, probability)`` pairs, best first.
    """

    label: str
    index: int
    score: float
    top_k: list[tuple[str, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "label": self.label,
            "index": self.index,
            "score": self.score,
            "top_k": [{"label": label, "score": score} for label, score in self.top_k],
        }


@dataclass(frozen=True)
class TextPrediction:
    """A CTC (text-line) result from greedy decoding.

    Attributes:
        text: the decoded text.
        confidence: the lowest per-character confidence (a line is as trustworthy as its weakest
            character); for an empty text, the mean blank probability over the frames.
        char_confidences: for each character of ``text``, the softmax probability of the frame that emitted it.
    """

    text: str
    confidence: float
    char_confidences: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {"text": self.text, "confidence": self.confidence, "char_confidences": list(self.char_confidences)}
