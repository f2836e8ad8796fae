"""One onnxruntime-web version everywhere: edgeseq's pin, the web extra, the assets distribution and its files."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from edgeseq.web.ortweb import ASSETS_DISTRIBUTION, ORT_WEB_VERSION

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "web" / "assets"


def test_the_version_is_pinned_in_one_agreement() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert f"{ASSETS_DISTRIBUTION}=={ORT_WEB_VERSION}" in extras["web"]
    init = (ASSETS / "edgeseq_web_assets" / "__init__.py").read_text()
    assert f'__version__ = "{ORT_WEB_VERSION}"' in init
    record = json.loads((ASSETS / "edgeseq_web_assets" / "dist" / "VENDOR.json").read_text())
    assert record["version"] == ORT_WEB_VERSION
    assert json.loads((REPO / "web" / "package.json").read_text())["dependencies"]["onnxruntime-web"] == ORT_WEB_VERSION


def test_the_assets_distribution_declares_its_license() -> None:
    project = tomllib.loads((ASSETS / "pyproject.toml").read_text())["project"]
    assert project["name"] == ASSETS_DISTRIBUTION and project["license"] == "MIT"
    assert "Microsoft" in (ASSETS / "LICENSE").read_text()
