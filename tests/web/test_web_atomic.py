"""``edgeseq web`` writes the page whole or not at all (issue 20).

A full disk is simulated with ``RLIMIT_FSIZE`` in a child process: the 27 MB WebAssembly runtime is
larger than the limit, so the build fails half way; the earlier page must be left exactly as it was
and nothing half-written may appear under the output folder's name.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from child_limits import REPO, run_limited

from edgeseq.web import build_web

pytest.importorskip("onnx")

SHIPPED = REPO / "models" / "digits-rows-lstm.onnx"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_full_disk_leaves_the_earlier_page_untouched(tmp_path: Path) -> None:
    page = tmp_path / "site"
    build_web(SHIPPED, page, backend="wasm", title="earlier")
    before = _snapshot(page)
    child = run_limited(cli=["web", str(SHIPPED), "-o", str(page), "--backend", "auto"], file_size=1024**2)
    assert child.returncode == 2, child.stderr
    (line,) = child.stderr.strip().splitlines()
    assert line.startswith("edgeseq web: error: cannot write ") and "File too large" in line
    assert _snapshot(page) == before
    assert [p.name for p in tmp_path.iterdir()] == ["site"]  # no work folder left beside it


def test_a_full_disk_on_a_first_build_leaves_no_page(tmp_path: Path) -> None:
    page = tmp_path / "site"
    child = run_limited(cli=["web", str(SHIPPED), "-o", str(page)], file_size=1024**2)
    assert child.returncode == 2, child.stderr
    assert not page.exists() or not any(page.iterdir())
    assert [p.name for p in tmp_path.iterdir() if p.name != "site"] == []


def test_a_rebuild_keeps_files_that_are_not_the_page(tmp_path: Path) -> None:
    page = tmp_path / "site"
    build_web(SHIPPED, page, backend="wasm")
    (page / "NOTES.md").write_text("mine\n")
    result = build_web(SHIPPED, page, backend="wasm", title="again")
    assert (page / "NOTES.md").read_text() == "mine\n"
    assert sorted(_snapshot(page)) == sorted([*result.files, "NOTES.md"])
    assert [p.name for p in tmp_path.iterdir()] == ["site"]
