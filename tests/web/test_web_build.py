"""`edgeseq web` without a browser: the operator check, the page folder, the server and the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from edgeseq.errors import ConfigError, ExportError, InputError, ModelFileError
from edgeseq.runtime.metadata import ModelMetadata
from edgeseq.web import build_web, check_browser_support, ortweb, serve_in_thread
from edgeseq.web.opcheck import MAX_OPSET

onnx = pytest.importorskip("onnx")
if ortweb.assets_dir() is None:
    pytest.skip("edgeseq-web-assets is not installed: pip install ./web/assets", allow_module_level=True)
from onnx import TensorProto, helper  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PREPROCESS = {"height": 8, "width": 8, "color": "L", "mean": [0.5], "std": [0.5], "interpolation": "bilinear"}


def _model(nodes=None, opsets=(("", 17),), metadata=True, initializers=()):
    """A one-input model: images (1,1,8,8) -> logits (1,10) by default (Flatten + MatMul)."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [64, 10], np.ones(640, dtype=np.float32).tobytes(), raw=True)
    nodes = nodes or [
        helper.make_node("Flatten", ["images"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        initializer=[weight, *initializers],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets], ir_version=9)
    if metadata:
        meta = ModelMetadata(task="classification", labels=[str(i) for i in range(10)], preprocess=PREPROCESS)
        helper.set_model_props(model, meta.to_props())
    return model


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "m.onnx"
    onnx.save(_model(), path)
    return path


# ----------------------------------------------------------------------------- operator check
def test_opcheck_accepts_a_plain_model_and_reports_webgpu_fallback() -> None:
    lstm = helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=4)
    model = _model()
    model.graph.node.append(lstm)
    report = check_browser_support(model)
    assert report.opsets == {"": 17}
    assert report.op_types["MatMul"] == 1 and report.op_types["LSTM"] == 1
    assert "LSTM" in report.webgpu_fallback  # onnxruntime-web's WebGPU provider has no LSTM kernel
    assert "MatMul" not in report.webgpu_fallback


@pytest.mark.parametrize(
    ("nodes", "opsets", "match"),
    [
        pytest.param(
            [helper.make_node("Frobnicate", ["images"], ["logits"], domain="com.example")],
            (("", 17), ("com.example", 1)),
            r"domain 'com.example' is a custom op library",
            id="custom-domain",
        ),
        pytest.param(None, (("", MAX_OPSET[""] + 1),), r"ai.onnx opset 27 is newer .* \(max 26\)", id="opset-too-new"),
        pytest.param(None, (("", 6),), r"ai.onnx opset 6 is older", id="opset-too-old"),
        pytest.param(
            [helper.make_node("Frobnicate", ["images"], ["logits"], name="frob1")],
            (("", 17),),
            r"operator Frobnicate has no onnxruntime-web \(WebAssembly\) kernel .*frob1",
            id="unknown-op",
        ),
        pytest.param(
            [helper.make_node("Normalizer", ["images"], ["logits"], domain="ai.onnx.ml")],
            (("", 17), ("ai.onnx.ml", 6)),
            r"ai.onnx.ml opset 6 is newer .* \(max 5\)",
            id="ml-opset-too-new",
        ),
    ],
)
def test_opcheck_refuses_what_the_browser_cannot_run(nodes, opsets, match) -> None:
    with pytest.raises(ExportError, match=match):
        check_browser_support(_model(nodes=nodes, opsets=opsets))


def test_opcheck_looks_inside_subgraphs() -> None:
    """Nodes in If/Loop/Scan bodies need kernels too (the walk is edgeseq.graphs.iter_nodes)."""
    out = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])
    branch = helper.make_graph([helper.make_node("Frobnicate", [], ["z"], name="inside_if")], "branch", [], [out])
    model = _model()
    model.graph.node.append(helper.make_node("If", ["c"], ["z"], then_branch=branch, else_branch=branch))
    # one node in each branch
    with pytest.raises(
        ExportError, match=r"operator Frobnicate has no onnxruntime-web .*nodes: inside_if, inside_if\)"
    ):
        check_browser_support(model)


def test_build_refuses_unsupported_model_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "bad.onnx"
    onnx.save(
        _model(
            nodes=[helper.make_node("Frobnicate", ["images"], ["logits"], domain="com.example")],
            opsets=(("", 17), ("com.example", 1)),
        ),
        path,
    )
    with pytest.raises(ExportError, match="com.example"):
        build_web(path, tmp_path / "page")
    assert not (tmp_path / "page").exists()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"labels": []}, "edgeseq.labels is empty"),
        ({"labels": ["a", "b"]}, "has 10 classes; expected 2"),
        ({"preprocess": {**PREPROCESS, "color": "CMYK"}}, "color"),
    ],
)
def test_build_refuses_metadata_the_predictor_refuses(tmp_path: Path, change: dict, match: str) -> None:
    # the page and the Predictor read the metadata with one check (ModelMetadata.check_graph)
    from edgeseq.errors import ModelFileError

    model = _model(metadata=False)
    fields = {"task": "classification", "labels": [str(i) for i in range(10)], "preprocess": PREPROCESS, **change}
    helper.set_model_props(model, ModelMetadata(**fields).to_props())
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    with pytest.raises(ModelFileError, match=match):
        build_web(path, tmp_path / "page")
    assert not (tmp_path / "page").exists()


# ----------------------------------------------------------------------------- the page folder
@pytest.mark.parametrize("backend", ["auto", "wasm"])
def test_build_writes_an_offline_page(model_file: Path, tmp_path: Path, backend: str) -> None:
    page = tmp_path / "page"
    result = build_web(model_file, page, backend=backend, top_k=3)
    on_disk = {str(p.relative_to(page)): p.stat().st_size for p in page.rglob("*") if p.is_file()}
    assert on_disk == result.files
    assert result.total_bytes == sum(on_disk.values())
    expected_wasm = {
        "auto": "vendor/ort-wasm-simd-threaded.asyncify.wasm",
        "wasm": "vendor/ort-wasm-simd-threaded.wasm",
    }
    assert expected_wasm[backend] in on_disk
    assert len([name for name in on_disk if name.endswith(".wasm")]) == 1  # only the chosen build travels
    assert (page / "model.onnx").read_bytes() == model_file.read_bytes()
    build = json.loads((page / "build.json").read_text())
    assert build["backend"] == backend and build["top_k"] == 3 and build["ort_version"] == result.ort_version
    assert (page / "vendor" / build["ort_module"]).is_file()
    meta = json.loads((page / "metadata.json").read_text())
    assert meta["labels"] == [str(i) for i in range(10)] and meta["preprocess"]["height"] == 8
    # offline: nothing the page loads comes from another origin
    for name in ("index.html", "app.js", "model.js"):
        text = (page / name).read_text()
        assert "http://" not in text and "https://" not in text, name
    json.dumps(result.to_json())


def test_rebuild_replaces_the_earlier_page(model_file: Path, tmp_path: Path) -> None:
    page = tmp_path / "page"
    build_web(model_file, page, backend="auto")
    result = build_web(model_file, page, backend="wasm")
    assert not (page / "vendor" / "ort-wasm-simd-threaded.asyncify.wasm").exists()
    assert sorted(str(p.relative_to(page)) for p in page.rglob("*") if p.is_file()) == sorted(result.files)


def test_build_refuses_a_foreign_non_empty_folder(model_file: Path, tmp_path: Path) -> None:
    (tmp_path / "page").mkdir()
    (tmp_path / "page" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        build_web(model_file, tmp_path / "page")
    assert (tmp_path / "page" / "notes.txt").read_text() == "mine"


def test_build_errors(model_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="backend"):
        build_web(model_file, tmp_path / "p", backend="webgl")
    with pytest.raises(ConfigError, match="top_k"):
        build_web(model_file, tmp_path / "p", top_k=0)
    with pytest.raises(ModelFileError, match="not found"):
        build_web(tmp_path / "missing.onnx", tmp_path / "p")
    bare = tmp_path / "bare.onnx"
    onnx.save(_model(metadata=False), bare)
    with pytest.raises(ModelFileError, match="no edgeseq metadata"):
        build_web(bare, tmp_path / "p")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="cannot read"):
        build_web(garbage, tmp_path / "p")
    with pytest.raises(InputError, match="--ort-dist .* missing ort.wasm.min.mjs"):
        build_web(model_file, tmp_path / "p", backend="wasm", ort_dist=tmp_path)


def test_build_refuses_external_data(tmp_path: Path) -> None:
    path = tmp_path / "ext.onnx"
    onnx.save(_model(), path, save_as_external_data=True, all_tensors_to_one_file=True, size_threshold=0)
    with pytest.raises(ExportError, match="external data"):
        build_web(path, tmp_path / "page")


def test_build_checks_the_vendored_runtime(model_file: Path, tmp_path: Path, monkeypatch) -> None:
    vendor = tmp_path / "vendor"
    shutil.copytree(ortweb.assets_dir(), vendor)
    (vendor / "ort.wasm.min.mjs").write_text("// tampered")
    monkeypatch.setattr(ortweb, "assets_dir", lambda: vendor)
    with pytest.raises(InputError, match="ort.wasm.min.mjs is missing or changed"):
        build_web(model_file, tmp_path / "page", backend="wasm")


def test_ort_dist_takes_the_runtime_from_a_folder(model_file: Path, tmp_path: Path) -> None:
    dist = tmp_path / "onnxruntime-web" / "dist"
    shutil.copytree(ortweb.assets_dir(), dist)
    (dist.parent / "package.json").write_text(json.dumps({"name": "onnxruntime-web", "version": "9.9.9"}))
    result = build_web(model_file, tmp_path / "page", backend="wasm", ort_dist=dist)
    assert result.ort_version == "9.9.9"


# ----------------------------------------------------------------------------- serving
def test_serve_sends_wasm_mime_types_and_isolation_headers(model_file: Path, tmp_path: Path) -> None:
    page = tmp_path / "page"
    build_web(model_file, page, backend="wasm")
    server, url = serve_in_thread(page)
    try:
        assert url.startswith("http://127.0.0.1:")
        checks = {
            "vendor/ort-wasm-simd-threaded.wasm": "application/wasm",
            "vendor/ort.wasm.min.mjs": "text/javascript",
            "app.js": "text/javascript",
            "build.json": "application/json",
        }
        for name, mime in checks.items():
            with urllib.request.urlopen(url + name, timeout=10) as response:
                assert response.headers["Content-Type"] == mime, name
                assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
                assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    finally:
        server.shutdown()
        server.server_close()


def test_serve_refuses_a_folder_without_a_page(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no index.html"):
        serve_in_thread(tmp_path)


# ----------------------------------------------------------------------------- CLI
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgeseq", "web", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_cli_builds_and_reports(model_file: Path, tmp_path: Path) -> None:
    done = _cli(str(model_file), "-o", str(tmp_path / "page"), "--backend", "wasm", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # JSON with --json; the human summary otherwise (tests/cli)
    assert report["backend"] == "wasm" and report["total_bytes"] > 1_000_000
    assert (tmp_path / "page" / "index.html").is_file()


def test_cli_unsupported_model_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.onnx"
    onnx.save(_model(opsets=(("", 27),)), path)
    done = _cli(str(path), "-o", str(tmp_path / "page"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "opset 27 is newer" in done.stderr


@pytest.mark.parametrize("port", ["-1", "70000"])
def test_cli_bad_port_is_refused_before_the_page_is_written(model_file: Path, tmp_path: Path, port: str) -> None:
    done = _cli(str(model_file), "-o", str(tmp_path / "page"), "--serve", "--port", port)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--port" in done.stderr
    assert not (tmp_path / "page").exists()


def test_make_server_refuses_an_out_of_range_port(tmp_path: Path) -> None:
    from edgeseq.errors import InputError
    from edgeseq.web.serve import make_server

    (tmp_path / "index.html").write_text("<html></html>")
    with pytest.raises(InputError, match="expected 0"):
        make_server(tmp_path, port=70000)


def test_cli_serve_until_ctrl_c(model_file: Path, tmp_path: Path) -> None:
    import re
    import signal

    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgeseq",
            "web",
            str(model_file),
            "-o",
            str(tmp_path / "page"),
            "--serve",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    try:
        url = None
        for line in child.stdout:  # the JSON report, then the "serving ... at URL" line
            found = re.search(r"serving .* at (http://127\.0\.0\.1:\d+/)", line)
            if found:
                url = found.group(1)
                break
        assert url, "no 'serving ... at URL' line"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b"app.js" in response.read()
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=20) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_build_warns_about_float16_on_webgpu(tmp_path: Path) -> None:
    half = helper.make_tensor("h", TensorProto.FLOAT16, [1], np.ones(1, dtype=np.float16).tobytes(), raw=True)
    path = tmp_path / "half.onnx"
    onnx.save(_model(initializers=[half]), path)
    assert any("shader-f16" in w for w in build_web(path, tmp_path / "auto").warnings)
    assert not build_web(path, tmp_path / "wasm", backend="wasm").warnings
    float32 = tmp_path / "float32.onnx"
    onnx.save(_model(), float32)
    assert not any("shader-f16" in w for w in build_web(float32, tmp_path / "f32").warnings)
