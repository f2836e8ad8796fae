"""The browser tests need the onnxruntime-web files (edgeseq-web-assets); without them they skip with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeseq.web.ortweb import assets_dir

HERE = Path(__file__).parent
# modules that build pages (test_web_js.py runs the page's JavaScript in Node and needs no runtime files)
NEEDS_ASSETS = ("test_web_browser_parity.py", "test_web_file_url.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if assets_dir() is not None:
        return
    skip = pytest.mark.skip(reason="edgeseq-web-assets is not installed: pip install ./web/assets (or 'edgeseq[web]')")
    for item in items:
        path = Path(str(item.fspath))
        if path.parent == HERE and path.name in NEEDS_ASSETS:
            item.add_marker(skip)
