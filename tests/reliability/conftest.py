"""Fixtures for the reliability tests, and the summary of bad inputs tried (printed at the end of the run).

Models: the kit's tiny digits classifier (``tests/conftest.py``: written by the real exporter, so the file
has edgeseq metadata and a manifest); the shipped digits model for the soak when it is there. Hostile
graphs are built per test with ``reliability_testlib``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from reliability_testlib import SUMMARY_FILE, TALLY
from testkit import SHIPPED_MODEL, copy_model


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not TALLY:
        return
    summary = {kind: dict(counts) for kind, counts in sorted(TALLY.items())}
    totals: Counter = Counter()
    for counts in TALLY.values():
        totals.update(counts)
    try:
        SUMMARY_FILE.write_text(json.dumps({"by_kind": summary, "totals": dict(totals)}, indent=2) + "\n")
    except OSError:  # a read-only tmp must not fail the run
        pass
    terminalreporter.section("edgeseq reliability: bad inputs tried")
    for kind, counts in summary.items():
        terminalreporter.write_line(f"{kind:48s} {json.dumps(counts, sort_keys=True)}")
    terminalreporter.write_line(f"{'total':48s} {json.dumps(dict(totals), sort_keys=True)} -> {SUMMARY_FILE}")


@pytest.fixture(scope="session")
def tiny_model(tiny_classifier) -> Path:
    """Path of the kit's tiny classifier (``tiny.onnx`` with ``tiny.json`` beside it); do not modify it."""
    return tiny_classifier.onnx


@pytest.fixture()
def model_copy(tiny_model, tmp_path) -> Path:
    """A private copy of the tiny model and its manifest, free to damage."""
    return copy_model(tiny_model, tmp_path / "model")


@pytest.fixture(scope="session")
def soak_model(tiny_model) -> Path:
    """The shipped digits model when it is there (the real thing), else the tiny one."""
    return SHIPPED_MODEL if SHIPPED_MODEL.is_file() else tiny_model
