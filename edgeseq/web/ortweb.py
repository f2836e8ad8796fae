"""Where a page's onnxruntime-web files come from: the ``edgeseq-web-assets`` distribution, or ``--ort-dist``.

The browser runtime (about 41 MB of WebAssembly) is not in the base ``edgeseq`` wheel, which apps and
devices embed: ``pip install 'edgeseq[web]'`` installs ``edgeseq-web-assets``, a separate distribution
built from this repository (``web/assets``) that holds the pinned build unmodified from npm, with
``VENDOR.json`` (its version and the sha256 of every file). ``--ort-dist DIR`` takes the files from an
onnxruntime-web ``dist/`` folder instead (offline machines, other versions).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeseq.errors import DependencyError, InputError
from edgeseq.fileio import sha256_file

ORT_WEB_VERSION = "1.30.0"  # the onnxruntime-web build edgeseq's page is tested with (pyproject pins it)
ASSETS_MODULE = "edgeseq_web_assets"
ASSETS_DISTRIBUTION = "edgeseq-web-assets"
INSTALL_HINT = "pip install 'edgeseq[web]'"
BACKENDS = {
    # WebGPU execution provider with the WebAssembly provider as fallback (ORT's asyncify WebGPU build)
    "auto": ("ort.webgpu.min.mjs", "ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm"),
    # the WebAssembly (CPU) provider only: about half the download
    "wasm": ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"),
}


@dataclass(frozen=True)
class OrtFiles:
    """The onnxruntime-web files a page bundles: their folder, version and names (the module first)."""

    folder: Path
    version: str
    names: tuple[str, ...]


def assets_dir() -> Path | None:
    """The installed ``edgeseq-web-assets`` files folder, or None when that distribution is not installed."""
    if importlib.util.find_spec(ASSETS_MODULE) is None:
        return None
    return Path(importlib.import_module(ASSETS_MODULE).DIST_DIR)


def _read_record(folder: Path) -> dict[str, Any]:
    record_path = folder / "VENDOR.json"
    if not record_path.is_file():
        raise InputError(
            f"{record_path} is missing: the {ASSETS_DISTRIBUTION} install is incomplete; reinstall it with "
            f"{INSTALL_HINT}"
        )
    record: dict[str, Any] = json.loads(record_path.read_text(encoding="utf-8"))
    return record


def installed_ort(backend: str) -> OrtFiles:
    """The pinned build from ``edgeseq-web-assets``, each file checked against its recorded sha256.

    Raises:
        DependencyError: the distribution is not installed, or it holds another onnxruntime-web version.
        InputError: a file is missing or does not match its recorded sha256.
    """
    folder = assets_dir()
    if folder is None:
        raise DependencyError(
            f"`edgeseq web` needs the onnxruntime-web files ({ASSETS_DISTRIBUTION}) and onnx; install them with: "
            f"{INSTALL_HINT} (offline: --ort-dist DIR, an onnxruntime-web dist/ folder)"
        )
    record = _read_record(folder)
    if str(record.get("version")) != ORT_WEB_VERSION:
        raise DependencyError(
            f"{ASSETS_DISTRIBUTION} holds onnxruntime-web {record.get('version')}; this edgeseq needs "
            f"{ORT_WEB_VERSION}: pip install '{ASSETS_DISTRIBUTION}=={ORT_WEB_VERSION}'"
        )
    names = BACKENDS[backend]
    for name in names:
        path = folder / name
        if not path.is_file() or sha256_file(path) != record["sha256"].get(name):
            raise InputError(
                f"onnxruntime-web file {path} is missing or changed (sha256 differs from VENDOR.json); "
                f"reinstall it with: pip install --force-reinstall '{ASSETS_DISTRIBUTION}=={ORT_WEB_VERSION}'"
            )
    return OrtFiles(folder, ORT_WEB_VERSION, names)


def dist_ort(ort_dist: str | Path, backend: str) -> OrtFiles:
    """The files of an onnxruntime-web ``dist/`` folder (its version from the package.json beside it).

    Raises:
        InputError: a file the backend needs is missing.
    """
    folder = Path(ort_dist)
    names = BACKENDS[backend]
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise InputError(
            f"--ort-dist {str(folder)!r}: missing {', '.join(missing)}; expected onnxruntime-web's dist/ folder "
            "(npm install onnxruntime-web, then node_modules/onnxruntime-web/dist)"
        )
    package_json = folder.parent / "package.json"
    version = "unknown"
    if package_json.is_file():
        version = str(json.loads(package_json.read_text(encoding="utf-8")).get("version", "unknown"))
    return OrtFiles(folder, version, names)


def locate_ort(ort_dist: str | Path | None, backend: str) -> OrtFiles:
    """The onnxruntime-web files for ``backend``: from ``ort_dist`` when given, else from ``edgeseq-web-assets``."""
    return dist_ort(ort_dist, backend) if ort_dist is not None else installed_ort(backend)


def webgpu_ops() -> dict[str, dict[str, list[list[int | None]]]]:
    """The WebGPU operator table shipped beside the pinned build (empty when ``edgeseq-web-assets`` is absent)."""
    folder = assets_dir()
    path = folder / "webgpu-ops.json" if folder is not None else None
    if path is None or not path.is_file():
        return {}
    table: dict[str, dict[str, list[list[int | None]]]] = json.loads(path.read_text(encoding="utf-8"))
    return table
