"""CTC decoding of ``(time, classes)`` scores into text; numpy and the standard library only.

Conventions (see ``edgeseq.runtime.metadata``): the class axis has ``len(alphabet) + 1`` entries;
``blank`` is the CTC blank and the other classes, in order, are the characters of ``alphabet``
(with the default ``blank=0``, class ``i + 1`` is ``alphabet[i]``).

The scores may be raw logits or log-probabilities: every decoder applies a log-softmax over the
class axis first, and a log-softmax of log-probabilities leaves them unchanged.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from edgeseq.errors import InputError

NEG_INF = -math.inf


def log_softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable log-softmax (subtracts the max first, so large logits do not overflow)."""
    scores = np.asarray(scores, dtype=np.float64)
    shifted = scores - np.max(scores, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _check_logits(logits: np.ndarray, alphabet: str, blank: int, ndim: int) -> np.ndarray:
    array = np.asarray(logits)
    if array.ndim != ndim:
        want = "(time, classes)" if ndim == 2 else "(batch, time, classes)"
        raise InputError(f"CTC logits: got shape {tuple(array.shape)}; expected {want}")
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"CTC logits: got dtype {array.dtype}; expected a float array")
    classes = array.shape[-1]
    if classes != len(alphabet) + 1:
        raise InputError(
            f"CTC logits: got {classes} classes; expected len(alphabet) + 1 = {len(alphabet) + 1} "
            f"(alphabet {alphabet!r} plus the blank)"
        )
    if not 0 <= blank < classes:
        raise InputError(f"CTC blank index: got {blank}; expected 0 <= blank < {classes}")
    if not np.all(np.isfinite(array)):
        raise InputError("CTC logits: got NaN or infinite values; expected finite scores")
    return array


def _class_to_char(alphabet: str, blank: int) -> list[str]:
    """Map class index → character; the blank maps to ''."""
    chars = list(alphabet)
    return chars[:blank] + [""] + chars[blank:]


def ctc_collapse(path: Sequence[int], blank: int = 0) -> tuple[int, ...]:
    """A best path of class indices to its label sequence: collapse repeats, then drop blanks."""
    out: list[int] = []
    previous = None
    for cls in path:
        if cls != previous and cls != blank:
            out.append(cls)
        previous = cls
    return tuple(out)


def ctc_greedy(logits: np.ndarray, alphabet: str, blank: int = 0) -> tuple[str, list[float]]:
    """Best-path CTC decoding: argmax per frame, collapse repeats, drop blanks.

    Args:
        logits: scores of shape ``(T, len(alphabet) + 1)`` (raw logits or log-probabilities).
        alphabet: the characters of the non-blank classes, in class order.
        blank: index of the blank class.

    Returns:
        ``(text, confidences)`` with one confidence per character of ``text``: the **maximum**
        softmax probability over the run of consecutive frames that emitted that character.

    Raises:
        InputError: wrong rank, class count, dtype, blank index or non-finite values.
    """
    array = _check_logits(logits, alphabet, blank, ndim=2)
    if array.shape[0] == 0:
        return "", []
    probs = np.exp(log_softmax(array))
    best = np.argmax(probs, axis=1)
    best_prob = probs[np.arange(len(best)), best]
    chars = _class_to_char(alphabet, blank)
    text: list[str] = []
    confidences: list[float] = []
    previous = -1
    for cls, prob in zip(best.tolist(), best_prob.tolist(), strict=True):
        if cls == previous:
            # same run: a repeated class without a blank in between is one character
            if cls != blank:
                confidences[-1] = max(confidences[-1], prob)
            continue
        previous = cls
        if cls != blank:
            text.append(chars[cls])
            confidences.append(prob)
    return "".join(text), confidences


def ctc_greedy_batch(
    logits: np.ndarray,
    alphabet: str,
    blank: int = 0,
    lengths: Sequence[int] | np.ndarray | None = None,
) -> list[tuple[str, list[float]]]:
    """Greedy-decode a batch ``(B, T, C)``; ``lengths[i]`` frames of sample ``i`` are used (default: all T).

    Padded frames past a sample's valid length are ignored, so right-padding a batch does not
    change a sample's text as long as ``lengths`` are the per-sample output lengths.

    Raises:
        InputError: bad logits, or ``lengths`` of the wrong count or outside ``0..T``.
    """
    array = _check_logits(logits, alphabet, blank, ndim=3)
    batch, time = array.shape[:2]
    if lengths is None:
        valid = [time] * batch
    else:
        valid = [int(n) for n in np.asarray(lengths).reshape(-1).tolist()]
        if len(valid) != batch:
            raise InputError(f"CTC lengths: got {len(valid)} lengths; expected one per sample ({batch})")
        bad = [n for n in valid if not 0 <= n <= time]
        if bad:
            raise InputError(f"CTC lengths: got {bad[0]}; expected 0 <= length <= {time} (the time axis)")
    return [ctc_greedy(array[i, : valid[i]], alphabet, blank) for i in range(batch)]


def _logsumexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    high, low = (a, b) if a >= b else (b, a)
    return high + math.log1p(math.exp(low - high))


def _accumulate(
    beams: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], p_blank: float, p_char: float
) -> None:
    """Add (log-sum) probability mass to a prefix's blank-ending and character-ending totals."""
    entry = beams.setdefault(prefix, [NEG_INF, NEG_INF])
    entry[0] = _logsumexp(entry[0], p_blank)
    entry[1] = _logsumexp(entry[1], p_char)


def ctc_beam_search(logits: np.ndarray, alphabet: str, blank: int = 0, beam_width: int = 10) -> tuple[str, float]:
    """CTC prefix beam search in log space (no language model).

    Unlike greedy decoding it sums the probability of every alignment of a prefix, so it finds the
    most probable *text* rather than the most probable single path.

    Args:
        logits: scores ``(T, len(alphabet) + 1)`` (raw logits or log-probabilities).
        alphabet: characters of the non-blank classes, in class order.
        blank: index of the blank class.
        beam_width: prefixes kept after each frame (>= 1).

    Returns:
        ``(text, log_probability)``: the best prefix and the natural log of its total probability
        over the alignments the beam kept (``0.0`` for an empty input).

    Raises:
        InputError: bad logits or ``beam_width < 1``.
    """
    if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
        raise InputError(f"beam_width: got {beam_width!r}; expected an integer >= 1")
    array = _check_logits(logits, alphabet, blank, ndim=2)
    log_probs = log_softmax(array)
    chars = _class_to_char(alphabet, blank)
    # prefix (tuple of class ids) -> (log P ending in blank, log P ending in a non-blank)
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}
    for frame in log_probs:
        frame_list = frame.tolist()
        next_beams: dict[tuple[int, ...], list[float]] = {}
        add = functools.partial(_accumulate, next_beams)
        for prefix, (p_b, p_nb) in beams.items():
            total = _logsumexp(p_b, p_nb)
            # blank: the prefix is unchanged and now ends in a blank
            add(prefix, total + frame_list[blank], NEG_INF)
            last = prefix[-1] if prefix else None
            for cls, lp in enumerate(frame_list):
                if cls == blank:
                    continue
                if cls == last:
                    # repeat without a blank in between collapses onto the same prefix...
                    add(prefix, NEG_INF, p_nb + lp)
                    # ...while after a blank it starts a new, doubled character
                    add(prefix + (cls,), NEG_INF, p_b + lp)
                else:
                    add(prefix + (cls,), NEG_INF, total + lp)
        ranked = sorted(
            next_beams.items(),
            key=lambda item: (-_logsumexp(item[1][0], item[1][1]), item[0]),  # ties broken by prefix: deterministic
        )
        beams = {prefix: (p[0], p[1]) for prefix, p in ranked[:beam_width]}
    best_prefix, (p_b, p_nb) = next(iter(beams.items()))  # beams are kept sorted, best first
    return "".join(chars[c] for c in best_prefix), float(_logsumexp(p_b, p_nb))
