"""CTC decoding on hand-made logits: greedy (repeats, blanks, empty, all-blank, doubled chars) and beam search."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeseq.errors import InputError
from edgeseq.runtime.decode import ctc_beam_search, ctc_greedy, ctc_greedy_batch, log_softmax

ALPHABET = "0123456789"
BLANK = 0
# Probability given to the chosen class of a frame in one-hot-ish logits; the rest share 1 - P_HIGH.
P_HIGH = 0.9
# Confidences go through float32 log-probabilities (relative round-off ~6e-8) and back; 1e-6 covers it.
ATOL = 1e-6


def frames(path: list[int], classes: int = len(ALPHABET) + 1, p_high: float = P_HIGH) -> np.ndarray:
    """Log-probabilities (T, C) whose argmax in frame t is path[t], with probability p_high."""
    probs = np.full((len(path), classes), (1.0 - p_high) / (classes - 1))
    probs[np.arange(len(path)), path] = p_high
    return np.log(probs).astype(np.float32)


def cls(ch: str) -> int:
    return ALPHABET.index(ch) + 1


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ([cls("1"), cls("2"), cls("3")], "123"),
        ([cls("1"), cls("1"), cls("1"), cls("2")], "12"),  # repeats collapse
        ([BLANK, cls("4"), BLANK, BLANK, cls("5"), BLANK], "45"),  # blanks dropped
        ([cls("1"), BLANK, cls("1")], "11"),  # a blank separates a doubled character
        ([cls("1"), cls("1"), BLANK, cls("1"), cls("1")], "11"),
        ([BLANK, BLANK, BLANK], ""),  # all blank
        ([], ""),  # no frames at all
    ],
)
def test_greedy_decodes_hand_made_paths(path: list[int], expected: str) -> None:
    text, conf = ctc_greedy(frames(path), ALPHABET, BLANK)
    assert text == expected
    assert len(conf) == len(text)
    assert all(c == pytest.approx(P_HIGH, abs=ATOL) for c in conf)


def test_greedy_confidence_is_max_over_the_run() -> None:
    probs = np.full((3, 11), 0.01)
    probs[0, cls("7")], probs[1, cls("7")], probs[2, BLANK] = 0.6, 0.95, 0.9
    probs /= probs.sum(axis=1, keepdims=True)
    text, conf = ctc_greedy(np.log(probs), ALPHABET)
    assert text == "7"
    assert conf[0] == pytest.approx(probs[1, cls("7")], abs=ATOL)


def test_greedy_accepts_raw_logits_and_other_blank_index() -> None:
    logits = np.array([[5.0, 0.0, 0.0], [0.0, 0.0, 9.0], [0.0, 9.0, 0.0]], dtype=np.float32)
    # blank is the last class: class 0 -> 'a', class 1 -> 'b'
    text, conf = ctc_greedy(logits, "ab", blank=2)
    assert text == "ab"
    assert conf[0] == pytest.approx(math.exp(5) / (math.exp(5) + 2), abs=1e-6)


def test_greedy_batch_uses_lengths_so_padding_is_ignored() -> None:
    a = frames([cls("1"), BLANK, cls("2"), cls("2")])
    b = frames([cls("3"), cls("3"), BLANK, cls("9")])  # its last two frames stand for padding
    batch = np.stack([a, b])
    out = ctc_greedy_batch(batch, ALPHABET, lengths=np.array([4, 2]))
    assert [t for t, _ in out] == ["12", "3"]
    assert [t for t, _ in ctc_greedy_batch(batch, ALPHABET)] == ["12", "39"]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ctc_greedy(np.zeros((4, 5), np.float32), ALPHABET), "11"),
        (lambda: ctc_greedy(np.zeros((2, 4, 11), np.float32), ALPHABET), "time, classes"),
        (lambda: ctc_greedy(np.zeros((4, 11), np.int64), ALPHABET), "float"),
        (lambda: ctc_greedy(np.full((4, 11), np.nan, np.float32), ALPHABET), "finite"),
        (lambda: ctc_greedy(np.zeros((4, 11), np.float32), ALPHABET, blank=11), "blank"),
        (lambda: ctc_greedy_batch(np.zeros((2, 4, 11), np.float32), ALPHABET, lengths=[4]), "one per sample"),
        (lambda: ctc_greedy_batch(np.zeros((2, 4, 11), np.float32), ALPHABET, lengths=[4, 5]), "length"),
        (lambda: ctc_beam_search(np.zeros((4, 11), np.float32), ALPHABET, beam_width=0), "beam_width"),
    ],
)
def test_decoders_reject_bad_input(call, match: str) -> None:
    with pytest.raises(InputError, match=match):
        call()


@pytest.mark.parametrize("seed", range(5))
def test_beam_equals_greedy_when_one_path_dominates(seed: int) -> None:
    rng = np.random.default_rng(seed)
    path = rng.integers(0, 11, size=20).tolist()
    logp = frames(path, p_high=0.99)
    greedy, _ = ctc_greedy(logp, ALPHABET)
    beam, score = ctc_beam_search(logp, ALPHABET, beam_width=8)
    assert beam == greedy
    assert score <= 0.0


def test_beam_beats_greedy_when_summing_paths_matters() -> None:
    # Two frames, alphabet "a", per frame P(blank) = 0.6 and P(a) = 0.4: the best single path is blank-blank ("", 0.36), but
    # P("a") = a-a + a-blank + blank-a = 0.16 + 0.24 + 0.24 = 0.64 > 0.36.
    logp = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
    greedy, _ = ctc_greedy(logp, "a")
    beam, score = ctc_beam_search(logp, "a", beam_width=4)
    assert greedy == ""
    assert beam == "a"
    assert score == pytest.approx(math.log(0.64), abs=ATOL)


def test_beam_score_is_exact_total_probability_with_a_wide_beam() -> None:
    # Brute force over all 3^3 paths of a 3-frame, 2-letter problem.
    rng = np.random.default_rng(0)
    logp = log_softmax(rng.normal(size=(3, 3)))
    totals: dict[str, float] = {}
    for a in range(3):
        for b in range(3):
            for c in range(3):
                path = [a, b, c]
                text = "".join("xy"[k - 1] for i, k in enumerate(path) if k != 0 and (i == 0 or path[i - 1] != k))
                totals[text] = totals.get(text, 0.0) + math.exp(sum(logp[t, k] for t, k in enumerate(path)))
    best = max(totals, key=totals.get)
    beam, score = ctc_beam_search(logp, "xy", beam_width=100)
    assert beam == best
    assert score == pytest.approx(math.log(totals[best]), abs=ATOL)


def test_beam_is_stable_for_long_confident_inputs() -> None:
    # 2000 frames with extreme logits: probabilities underflow in linear space, not in log space.
    logits = np.zeros((2000, 11), dtype=np.float32)
    logits[:, BLANK] = 80.0
    logits[::100, cls("5")] = 200.0
    beam, score = ctc_beam_search(logits, ALPHABET, beam_width=3)
    assert beam == "5" * 20
    assert math.isfinite(score)
