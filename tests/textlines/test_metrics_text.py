"""CER, exact match, edit distance and accuracy on hand-made strings."""

from __future__ import annotations

import pytest

from edgeseq.errors import InputError
from edgeseq.metrics import accuracy, cer, edit_distance, exact_match


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("abc", "abc", 0),
        ("", "abc", 3),
        ("abc", "", 3),
        ("kitten", "sitting", 3),
        ("1234", "1243", 2),
        ("11", "1", 1),
        ("flaw", "lawn", 2),
    ],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


def test_cer_is_total_errors_over_total_target_chars() -> None:
    # 1 substitution in 4 chars + 2 deletions in 6 chars = 3 / 10, not the mean of per-line rates (0.29)
    assert cer(["1234", "1234"], ["1235", "123456"]) == pytest.approx(0.3)
    assert cer(["abc"], ["abc"]) == 0.0
    assert cer(["", "x"], ["", ""]) == 1.0
    assert cer([], []) == 0.0


def test_exact_match() -> None:
    assert exact_match(["12", "3", ""], ["12", "4", ""]) == pytest.approx(2 / 3)
    assert exact_match([], []) == 0.0


def test_accuracy() -> None:
    assert accuracy([1, 2, 3, 4], [1, 2, 0, 4]) == pytest.approx(0.75)


@pytest.mark.parametrize("fn", [cer, exact_match, accuracy])
def test_length_mismatch_raises(fn) -> None:
    with pytest.raises(InputError, match="expected equal counts"):
        fn(["a"], ["a", "b"]) if fn is not accuracy else fn([1], [1, 2])
