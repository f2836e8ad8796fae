"""Comparing one output of torch with ONNX Runtime's: shapes, then values, then agreement of the decisions."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeseq.parity.report import TOP1_TIE_MARGIN, ParityTolerances
from edgeseq.runtime.decode import ctc_collapse


def greedy_decode(indices: np.ndarray, blank: int = 0) -> list[tuple[int, ...]]:
    """CTC greedy decoding of argmax indices (B, T): collapse repeats, drop blanks."""
    return [ctc_collapse(row.tolist(), blank) for row in indices]


def compare_output(
    name: str, ref: np.ndarray, got: np.ndarray, tol: ParityTolerances, *, ctc: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """Compare one output: shapes first, then values.

    Args:
        name: the output's name (quoted in the problems).
        ref: torch's output.
        got: ONNX Runtime's output.
        tol: the thresholds.
        ctc: also compare greedy-decoded sequences (CTC outputs, (B, T, classes)).

    Returns:
        (figures for a :class:`~edgeseq.parity.report.ParityRow`, problems; none when they agree)
    """
    figures: dict[str, Any] = {"torch_shape": list(ref.shape), "onnx_shape": list(got.shape)}
    if ref.shape != got.shape:
        return figures, [f"output {name!r}: shape {list(got.shape)} from ONNX Runtime, {list(ref.shape)} from torch"]
    ref64, got64 = ref.astype(np.float64), got.astype(np.float64)
    if ref64.size == 0:
        return figures, []
    problems = _nonfinite_problems(name, ref64, got64)
    both = np.isfinite(ref64) & np.isfinite(got64)
    problems += _difference(name, ref64[both], got64[both], tol, figures)
    if ref.ndim >= 2 and ref.shape[-1] > 1:
        problems += _agreement(name, ref64, got64, tol, figures, ctc=ctc and ref.ndim == 3)
    return figures, problems


def _nonfinite_problems(name: str, ref64: np.ndarray, got64: np.ndarray) -> list[str]:
    """Non-finite values must match exactly (same positions, same inf/nan); the figures cover the rest."""
    fin_ref, fin_got = np.isfinite(ref64), np.isfinite(got64)
    if not np.array_equal(fin_ref, fin_got):
        who = "ONNX Runtime" if (fin_ref & ~fin_got).any() else "torch"
        return [f"output {name!r}: {who} produced non-finite values where the other did not"]
    if not np.array_equal(ref64[~fin_ref], got64[~fin_got], equal_nan=True):
        return [f"output {name!r}: non-finite values differ (inf vs nan or sign) between torch and ONNX Runtime"]
    return []


def _difference(name: str, r: np.ndarray, g: np.ndarray, tol: ParityTolerances, figures: dict[str, Any]) -> list[str]:
    """Elementwise and cosine figures of the finite values ``r`` (torch) and ``g`` (onnx) into ``figures``."""
    problems = []
    diff = np.abs(g - r)
    figures["max_abs"] = float(diff.max()) if diff.size else 0.0
    figures["max_rel"] = float((diff / np.maximum(np.abs(r), tol.atol)).max()) if diff.size else 0.0
    allowed = tol.atol + tol.rtol * np.abs(r)
    if tol.range_rtol and r.size:
        allowed = allowed + tol.range_rtol * float(np.abs(r).max())
    excess = diff - allowed
    if excess.size and excess.max() > 0.0:
        worst = int(np.argmax(excess))
        bound = f"{tol.atol:g} + {tol.rtol:g}*|torch|" + (f" + {tol.range_rtol:g}*max|torch|" if tol.range_rtol else "")
        problems.append(
            f"output {name!r}: max |diff| {figures['max_abs']:.3e} exceeds {bound} "
            f"(torch {r[worst]:.6g}, onnx {g[worst]:.6g})"
        )
    norms = float(np.linalg.norm(r)), float(np.linalg.norm(g))
    if norms[0] > 0 and norms[1] > 0:
        figures["cosine"] = float(np.dot(r, g) / (norms[0] * norms[1]))
    else:  # identical only when both are all zeros
        figures["cosine"] = 1.0 if norms == (0.0, 0.0) else 0.0
    if not figures["cosine"] >= tol.min_cosine:
        problems.append(f"output {name!r}: cosine similarity {figures['cosine']:.7f} below {tol.min_cosine}")
    return problems


def _agreement(
    name: str, ref64: np.ndarray, got64: np.ndarray, tol: ParityTolerances, figures: dict[str, Any], *, ctc: bool
) -> list[str]:
    """Top-1 (argmax over the last axis) and, for CTC, greedy-decoded sequence agreement into ``figures``."""
    problems = []
    ref_top, got_top = ref64.argmax(-1), got64.argmax(-1)
    agree = ref_top == got_top
    figures["top1"] = float(agree.mean())
    # a disagreement only counts when torch itself is not at a tie between the two classes: closer than
    # the elementwise allowance (with range_rtol, e.g. int8, values may legitimately move that much)
    best = np.take_along_axis(ref64, ref_top[..., None], -1)[..., 0]
    chosen = np.take_along_axis(ref64, got_top[..., None], -1)[..., 0]
    finite = np.abs(ref64[np.isfinite(ref64)])
    spread = tol.range_rtol * float(finite.max()) if tol.range_rtol and finite.size else 0.0
    with np.errstate(invalid="ignore"):  # inf - inf at matching non-finite positions (judged before)
        real = (~agree) & (best - chosen > TOP1_TIE_MARGIN + tol.rtol * np.abs(best) + spread)
    if real.any() and float(real.mean()) > 1.0 - tol.min_top1:
        problems.append(f"output {name!r}: top-1 differs at {int(real.sum())} of {agree.size} positions")
    if ctc:
        ref_seq, got_seq = greedy_decode(ref_top), greedy_decode(got_top)
        figures["sequence"] = float(np.mean([a == b for a, b in zip(ref_seq, got_seq, strict=True)]))
        if figures["sequence"] < tol.min_sequence and real.any():
            problems.append(f"output {name!r}: greedy-decoded sequences agree on {figures['sequence']:.3f} only")
    return problems
