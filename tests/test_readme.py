"""The README shows what the code does: its embedding example is the tested one, its verbs exist."""

from __future__ import annotations

import re
from pathlib import Path

from edgeseq.cli import VERBS

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_embedding_example_is_the_tested_file() -> None:
    example = (ROOT / "tests" / "runtime" / "readme_example.py").read_text(encoding="utf-8")
    code = example[example.index("import sys") :].strip()
    assert code in README


def test_readme_documents_every_verb_and_names_only_real_ones() -> None:
    for verb in VERBS:
        assert f"edgeseq {verb}" in README, verb
    mentioned = set(re.findall(r"`edgeseq ([a-z]+)", README))
    assert mentioned <= set(VERBS), mentioned - set(VERBS)


def test_readme_setup_commands_match_ci() -> None:
    assert "bash .ci/run" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install --quiet -e ".[dev]"' in ci and "pytest" in ci
    assert 'pip install -e ".[train]" && edgeseq pipeline models/digits-rows-lstm.toml' in README


def test_ci_runs_the_linters_and_mypy_before_the_tests_and_the_readme_says_so() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    steps = ["ruff check .", "ruff format --check .", "mypy", "python -m pytest"]
    lines = [line.strip() for line in ci.splitlines()]
    where = [next(i for i, line in enumerate(lines) if line.startswith(step)) for step in steps]
    assert where == sorted(where), "ruff, ruff format, mypy, then pytest"
    development = README[README.index("## Development") :]
    for text in (*steps[:3], 'pytest -q -m "not slow"', "tests/test_architecture.py", "tests/conftest.py"):
        assert text in development, text


def test_readme_has_no_unfilled_sections() -> None:
    assert not re.search(r"\b[A-Z]+_(SECTION|RESULT|SUMMARY)\b", README)
