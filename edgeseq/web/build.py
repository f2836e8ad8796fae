"""Write the static, offline demo page for an edgeseq ONNX model (``edgeseq web``).

The page is plain files: index.html + app.js/model.js/preprocess.js/style.css (from ``static/``),
model.onnx, metadata.json (the model's edgeseq metadata), build.json (what the page needs to know
about this build) and vendor/ (the onnxruntime-web files for the chosen backend, copied from the
pinned build of the ``edgeseq-web-assets`` distribution, or from ``ort_dist``). Nothing is fetched from a CDN.


The page is written whole into a work folder beside the output folder and swapped in with renames at
the end (:func:`_swap_in`): a full disk or a kill leaves the earlier page as it was, never half a page.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseq import __version__
from edgeseq.errors import ConfigError, ExportError, InputError, ModelFileError, require
from edgeseq.fileio import ensure_writable_dir, sha256_file, work_folder, write_bytes_atomic, write_json_atomic
from edgeseq.runtime.metadata import ModelMetadata
from edgeseq.web.opcheck import OpCheckReport, check_browser_support
from edgeseq.web.ortweb import BACKENDS, OrtFiles, locate_ort
from edgeseq.web.pillow_compat import pillow_vertical_pass_first

STATIC_DIR = Path(__file__).parent / "static"
PAGE_FILES = ("index.html", "boot.js", "app.js", "model.js", "preprocess.js", "style.css")
# Opened from disk (file://) the browser refuses fetch() and module imports of local files, so the page
# also carries every file it loads in page-data.js (a classic script, which file:// allows), base64-encoded;
# boot.js uses it there. The files the HTML itself loads are not in it.
PAGE_DATA = "page-data.js"
NOT_EMBEDDED = frozenset({"index.html", "style.css", "boot.js", PAGE_DATA})
MODEL_FILE = "model.onnx"
DEFAULT_TOP_K = 5


@dataclass
class WebBuildResult:
    """What ``build_web`` wrote.

    Attributes:
        out_dir: the page folder.
        files: relative path -> size in bytes, for every file written.
        total_bytes: the page's total size.
        backend: "auto" (WebGPU, else WebAssembly) or "wasm".
        ort_version: the onnxruntime-web version bundled.
        model_sha256: sha256 of model.onnx.
        opcheck: the browser-runtime operator report.
    """

    out_dir: str
    files: dict[str, int]
    total_bytes: int
    backend: str
    ort_version: str
    model_sha256: str
    opcheck: OpCheckReport
    task: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        out = dataclasses.asdict(self)
        out["opcheck"] = self.opcheck.to_json()
        return out


def _load_model(model_path: Path) -> Any:
    """The ``onnx.ModelProto`` of the page's model, weights inside (the page loads one file).

    Raises:
        ModelFileError: missing, an ``.ort`` file, or not ONNX.
        ExportError: weights in external data files.
    """
    onnx = require("onnx", "web")
    if not model_path.is_file():
        raise ModelFileError(f"model file {str(model_path)!r} not found")
    if model_path.suffix == ".ort":
        raise ModelFileError(f"{str(model_path)!r} is an ORT-format model; `edgeseq web` takes the .onnx model")
    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends from protobuf
        raise ModelFileError(f"cannot read {str(model_path)!r} as an ONNX model: {exc}") from None
    external = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise ExportError(
            f"{str(model_path)!r} keeps {len(external)} tensors in external data files ({external[0]}, ...); "
            "the page loads one file: re-save it with the weights inside (onnx.save(model, path))"
        )
    return model


def _metadata(model: Any, model_path: Path) -> ModelMetadata:
    """The model's edgeseq metadata, checked against the graph as the Predictor checks it.

    Raises:
        ModelFileError: no preprocessing metadata, metadata that contradicts the graph, or not one input.
    """
    meta = ModelMetadata.from_props({p.key: p.value for p in model.metadata_props})
    if not meta.preprocess:
        raise ModelFileError(
            f"{str(model_path)!r} has no edgeseq.preprocess metadata; the page needs the image size, color and "
            "mean/std: export it with `edgeseq export`"
        )
    graph_inputs = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    outputs = {o.name: o.type.tensor_type.shape.dim for o in model.graph.output}
    dims = outputs.get(meta.outputs.logits)
    classes = dims[-1].dim_value if dims and dims[-1].HasField("dim_value") else None
    # the same checks the Predictor makes: a page for a model the runtime refuses would only fail in the browser
    meta.check_graph(graph_inputs, list(outputs), classes, str(model_path))
    if len(graph_inputs) != 1:
        raise ModelFileError(f"the page feeds one input; the graph has {len(graph_inputs)}: {graph_inputs}")
    return meta


def _has_float16(model: Any) -> bool:
    import onnx

    float16 = onnx.TensorProto.FLOAT16
    if any(t.data_type == float16 for t in model.graph.initializer):
        return True
    values = [*model.graph.input, *model.graph.output, *model.graph.value_info]
    return any(v.type.tensor_type.elem_type == float16 for v in values)


def _previous_page(out_dir: Path) -> set[str]:
    """Refuse a non-empty folder that is not an earlier page; returns the earlier page's top-level names.

    Raises:
        InputError: the folder holds other files and no ``build.json``, or an unreadable one.
    """
    ensure_writable_dir(out_dir)
    if not any(out_dir.iterdir()):
        return set()
    previous = out_dir / "build.json"
    if not previous.is_file():
        raise InputError(
            f"output folder {str(out_dir)!r} is not empty and holds no earlier `edgeseq web` page; "
            "expected an empty or new folder"
        )
    try:
        old_files = json.loads(previous.read_text(encoding="utf-8")).get("files", {})
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        raise InputError(f"{previous} is not valid JSON; remove the folder or pick another -o") from None
    return {str(name).split("/")[0] for name in old_files} | {"build.json", PAGE_DATA}  # page-data.js is not listed


def _swap_in(page: Path, out_dir: Path, previous: set[str]) -> None:
    """Put the finished ``page`` folder in ``out_dir``'s place; files there that were not the earlier page stay.

    Two renames on one file system: the earlier page moves into the work folder (removed afterwards),
    the new one takes its name, then the other files move back.
    """
    backup = page.parent / "previous"
    os.replace(out_dir, backup)
    os.replace(page, out_dir)
    for entry in backup.iterdir():
        if entry.name not in previous and not (out_dir / entry.name).exists():
            os.replace(entry, out_dir / entry.name)


class _PageWriter:
    """Writes the page's files into its folder and keeps their sizes (relative path -> bytes)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.written: dict[str, int] = {}

    def put(self, name: str, data: bytes) -> None:
        write_bytes_atomic(self.out_dir / name, data)
        self.written[name] = len(data)


def build_web(
    model_path: str | Path,
    out_dir: str | Path,
    *,
    backend: str = "auto",
    top_k: int = DEFAULT_TOP_K,
    ort_dist: str | Path | None = None,
    title: str | None = None,
    embed: bool = True,
) -> WebBuildResult:
    """Write a static page that runs ``model_path`` in the browser with onnxruntime-web.

    Args:
        model_path: an ONNX model exported by edgeseq (with ``edgeseq.*`` metadata).
        out_dir: the page folder (created; an earlier page there is replaced).
        backend: "auto" (WebGPU where the browser has it, else WebAssembly) or "wasm" (smaller page).
        top_k: classes shown for classification models.
        ort_dist: an onnxruntime-web ``dist/`` folder to take the runtime from instead of the bundled one.
        title: the page heading (default: the model file's name).
        embed: also write page-data.js, so the page works opened from disk (file://); it adds about 4/3 of
            the model and runtime to the folder. Without it, a page opened from disk says how to serve it.

    Returns:
        A :class:`WebBuildResult` listing the files and their sizes.

    Raises:
        ConfigError: unknown backend or bad top_k.
        ModelFileError: missing/corrupt model or no edgeseq metadata.
        ExportError: the graph uses opsets/operators onnxruntime-web lacks, or external data.
        InputError: the output folder is unusable, or the onnxruntime-web files are missing.
        WriteError: the page could not be written (disk full); the earlier page is left as it was.
    """
    _check_arguments(backend, top_k)
    model_path, out_dir = Path(model_path), Path(out_dir)
    # everything is checked before the folder is touched
    model = _load_model(model_path)
    meta = _metadata(model, model_path)
    report = check_browser_support(model)
    ort_files = locate_ort(ort_dist, backend)
    previous = _previous_page(out_dir)
    with work_folder(out_dir, ".web") as stage:
        page = _write_page(stage, model_path, meta, ort_files)
        model_sha = sha256_file(stage / MODEL_FILE)
        build_info = _build_info(title or model_path.stem, model_sha, (backend, top_k, embed), ort_files, report, page)
        write_json_atomic(stage / "build.json", build_info)
        page.written["build.json"] = (stage / "build.json").stat().st_size
        if embed:
            _write_page_data(page)
        _swap_in(stage, out_dir, previous)
    return WebBuildResult(
        out_dir=str(out_dir),
        files=page.written,
        total_bytes=sum(page.written.values()),
        backend=backend,
        ort_version=ort_files.version,
        model_sha256=model_sha,
        opcheck=report,
        task=meta.task,
        warnings=_warnings(backend, report, model),
    )


def _write_page_data(page: _PageWriter) -> None:
    """page-data.js: ``window.edgeseqPageFiles = {name: base64}`` for every file the page loads by script."""
    names = sorted(name for name in page.written if name not in NOT_EMBEDDED)
    entries = ",\n".join(
        f"{json.dumps(name)}: {json.dumps(base64.b64encode((page.out_dir / name).read_bytes()).decode())}"
        for name in names
    )
    header = "// written by `edgeseq web`: the page's files for opening it from disk (see boot.js)\n"
    page.put(PAGE_DATA, f"{header}window.edgeseqPageFiles = {{\n{entries}\n}};\n".encode())


def _build_info(
    title: str,
    model_sha: str,
    options: tuple[str, int, bool],
    ort_files: OrtFiles,
    report: OpCheckReport,
    page: _PageWriter,
) -> dict[str, Any]:
    """``build.json``: what the page needs to know about this build (``options``: backend, top-k, embedded)."""
    backend, top_k, embed = options
    return {
        "title": title,
        "model_file": MODEL_FILE,
        "model_sha256": model_sha,
        "backend": backend,
        "ort_version": ort_files.version,
        "ort_module": ort_files.names[0],
        "ort_files": list(ort_files.names),  # module, its WebAssembly loader, the binary
        "embedded": embed,
        "top_k": top_k,
        "pillow_vertical_pass_first": pillow_vertical_pass_first(),
        "edgeseq_version": __version__,
        "opcheck": report.to_json(),
        "files": dict(page.written),
    }


def _check_arguments(backend: str, top_k: int) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"backend: got {backend!r}; expected one of {', '.join(BACKENDS)}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(f"top_k: got {top_k!r}; expected a positive integer")


def _write_page(out_dir: Path, model_path: Path, meta: ModelMetadata, ort_files: OrtFiles) -> _PageWriter:
    """The model, the page's static files, the runtime (vendor/) and metadata.json."""
    (out_dir / "vendor").mkdir(exist_ok=True)
    page = _PageWriter(out_dir)
    page.put(MODEL_FILE, model_path.read_bytes())
    for name in PAGE_FILES:
        page.put(name, (STATIC_DIR / name).read_bytes())
    for name in ort_files.names:
        page.put(f"vendor/{name}", (ort_files.folder / name).read_bytes())
    page.put("metadata.json", (json.dumps(dataclasses.asdict(meta), indent=2, sort_keys=True) + "\n").encode())
    return page


def _warnings(backend: str, report: OpCheckReport, model: Any) -> list[str]:
    """What the page will do differently from what the user may expect (WebGPU falling back to WebAssembly)."""
    warnings = []
    if backend == "auto" and report.webgpu_fallback:
        warnings.append(
            "on WebGPU these operators run on the WebAssembly provider instead: " + ", ".join(report.webgpu_fallback)
        )
    if backend == "auto" and _has_float16(model):
        warnings.append(
            "float16 model: WebGPU needs the adapter's shader-f16 feature (many lack it, e.g. SwiftShader); "
            "without it the page falls back to WebAssembly"
        )
    return warnings
