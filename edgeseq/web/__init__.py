"""The browser as an edge target: a static onnxruntime-web page for an edgeseq model.

``build_web`` writes the page (model, metadata, the bundled onnxruntime-web, the JavaScript port of
the preprocessing); ``serve`` shows it on localhost; ``check_browser_support`` refuses graphs the
browser runtime cannot run. Heavy imports (onnx) happen inside the functions.
"""

from __future__ import annotations

from edgeseq.web.build import BACKENDS, WebBuildResult, build_web
from edgeseq.web.opcheck import OpCheckReport, check_browser_support
from edgeseq.web.serve import serve, serve_in_thread

__all__ = [
    "BACKENDS",
    "OpCheckReport",
    "WebBuildResult",
    "build_web",
    "check_browser_support",
    "serve",
    "serve_in_thread",
]
