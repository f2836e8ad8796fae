"""Help texts: every option of evaluate and models explained, bench's forms with their own help, optimize's example."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from edgeseq.cli import build_parser


def _subparser(verb: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[verb]


def _help(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 0
    return out.getvalue()


@pytest.mark.parametrize("verb", ["evaluate", "models", "train", "pipeline", "optimize", "web", "predict"])
def test_every_option_has_help_text(verb: str) -> None:
    parser = _subparser(verb)
    assert parser.description, verb
    for action in parser._actions:
        assert action.help, f"{verb} {action.option_strings or action.dest} has no help"


def test_bench_compare_help_is_only_compares() -> None:
    text = _help(["bench", "compare", "--help"])
    assert text.startswith("usage: edgeseq bench compare BASE.json NEW.json")
    assert "--tolerance" in text and "--normalize" in text
    assert "--checkpoint" not in text and "--batch" not in text and "--wait-idle" not in text


def test_bench_suite_help_is_only_suites() -> None:
    text = _help(["bench", "suite", "--help"])
    assert text.startswith("usage: edgeseq bench suite SUITE.toml")
    assert "--wait-idle" in text and "--tolerance" not in text


def test_bench_help_still_lists_everything() -> None:
    text = " ".join(_help(["bench", "--help"]).split())
    assert "--checkpoint" in text and "--tolerance" in text and "bench compare --help" in text


def test_optimize_example_is_an_optimize_key() -> None:
    text = " ".join(_help(["optimize", "--help"]).split())  # argparse wraps lines
    assert "--set optimize.max_accuracy_drop=0.5" in text and "train.epochs" not in text
