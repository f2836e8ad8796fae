"""The distributions as pip sees them: a lean base wheel, the browser runtime apart, a complete sdist.

Built with `python -m build` from a copy of the source tree (the checkout stays untouched); the wheels
are installed with `pip install --target` into a folder outside the checkout and run from another folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = REPO / "edgeseq" / "assets" / "digits-rows-lstm.onnx"
BASE_WHEEL_LIMIT = 1_000_000 + SHIPPED_MODEL.stat().st_size  # the "1 MB plus the shipped model"
# what the copy of the source tree leaves out: anywhere, and at the top (web/: its own distribution)
SKIP_ANYWHERE = shutil.ignore_patterns("__pycache__", "*.egg-info", "node_modules")
SKIP_AT_TOP = {".git", ".venv", "runs", "build", "dist", "web"}


def _skip(folder: str, names: list[str]) -> set[str]:
    skipped = set(SKIP_ANYWHERE(folder, names))
    return skipped | (SKIP_AT_TOP & set(names) if Path(folder) == REPO else set())


def _build(source: Path, out: Path) -> None:
    cmd = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("dists")
    source = tmp / "src"
    # symlinks=True: edgeseq/assets/{recipes,profiles} stay links to models/ and export/, as in git
    shutil.copytree(REPO, source, symlinks=True, ignore=_skip)
    out = tmp / "dist"
    _build(source, out)
    assets = tmp / "assets-src"
    shutil.copytree(REPO / "web" / "assets", assets, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    _build(assets, tmp / "assets-dist")
    found = {p.name.split("-")[0] + ("-sdist" if p.suffix == ".gz" else "-wheel"): p for p in out.iterdir()}
    found["assets-wheel"] = next((tmp / "assets-dist").glob("*.whl"))
    return found


def test_base_wheel_is_small_and_has_no_browser_runtime(dists: dict[str, Path]) -> None:
    wheel = dists["edgeseq-wheel"]
    assert wheel.stat().st_size <= BASE_WHEEL_LIMIT, wheel.stat().st_size
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        installed = sum(info.file_size for info in zf.infolist())
        metadata = Parser().parsestr(zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    assert installed <= 3 * BASE_WHEEL_LIMIT  # unpacked, too: no 41 MB of WebAssembly
    assert not [n for n in names if n.endswith((".wasm", ".mjs"))]
    for needed in (
        "edgeseq/assets/digits-rows-lstm.onnx",
        "edgeseq/assets/profiles/mobile.toml",
        "edgeseq/assets/profiles/cpu-int8.toml",
        "edgeseq/assets/recipes/digits-rows-lstm.toml",
        "edgeseq/web/static/boot.js",
    ):
        assert needed in names, needed
    assert not [n for n in names if n.startswith("edgeseq/assets/recipes/") and n.endswith(".onnx")]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert metadata["License-Expression"] == "Apache-2.0"
    assert {"train", "optimize", "web", "dev"} <= set(metadata.get_all("Provides-Extra"))
    assert any(
        r.startswith("edgeseq-web-assets==") and 'extra == "web"' in r for r in metadata.get_all("Requires-Dist")
    )


def test_sdist_holds_the_tests_and_what_they_read(dists: dict[str, Path]) -> None:
    with tarfile.open(dists["edgeseq-sdist"]) as tf:
        names = {name.split("/", 1)[1] for name in tf.getnames() if "/" in name}
    for needed in ("LICENSE", "README.md", "pyproject.toml", "tests/conftest.py", "tests/cli/test_cli_extras.py",
                   "models/digits-rows-lstm.toml", "models/digits-rows-lstm.onnx", "export/mobile.toml",
                   "samples/digit-7.png", "edgeseq/assets/profiles/mobile.toml"):  # fmt: skip
        assert needed in names, needed
    assert not [n for n in names if n.startswith("web/") or n.endswith(".wasm")]


def test_assets_wheel_holds_the_pinned_runtime(dists: dict[str, Path]) -> None:
    with zipfile.ZipFile(dists["assets-wheel"]) as zf:
        names = zf.namelist()
        metadata = Parser().parsestr(zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    assert "edgeseq_web_assets/dist/ort-wasm-simd-threaded.wasm" in names
    assert "edgeseq_web_assets/dist/VENDOR.json" in names
    assert metadata["Version"] == "1.30.0" and metadata["License-Expression"] == "MIT"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def _install(wheels: list[Path], target: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), *map(str, wheels)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}  # the installed copy, not the checkout
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_installed_package_finds_profiles_and_recipes_from_any_folder(dists: dict[str, Path], tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install([dists["edgeseq-wheel"]], site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run(site, work, "-c", "import edgeseq.presets as p; print(p.__file__); print(p.shipped_profiles())")
    assert where.returncode == 0 and str(site) in where.stdout and "mobile" in where.stdout, where.stderr
    model = site / "edgeseq" / "assets" / "digits-rows-lstm.onnx"
    proc = _run(site, work, "-m", "edgeseq", "optimize", str(model), "--profile", "mobile", "-o", "out")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Recommended for mobile" in proc.stdout and "int8-static: not built: needs calibration" in proc.stdout
    recipe = _run(site, work, "-c", "import edgeseq; print(edgeseq.load_config('digits-rows-lstm').name)")
    assert recipe.stdout.strip() == "digits-rows-lstm", recipe.stderr


def test_installed_web_extra_builds_a_page(dists: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    site = tmp_path / "site"
    _install([dists["edgeseq-wheel"], dists["assets-wheel"]], site)
    model = site / "edgeseq" / "assets" / "digits-rows-lstm.onnx"
    proc = _run(site, tmp_path, "-m", "edgeseq", "web", str(model), "-o", "page", "--backend", "wasm", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "page" / "vendor" / "ort-wasm-simd-threaded.wasm").is_file()
    code = "import edgeseq.web.build as b; from edgeseq.web.ortweb import assets_dir; print(b.__file__, assets_dir())"
    located = _run(site, tmp_path, "-c", code)
    assert located.stdout.count(str(site)) == 2, located.stdout  # the installed code and the installed runtime
