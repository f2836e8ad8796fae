"""Serve a built page on localhost (``edgeseq web --serve``): standard library only.

Two things a plain ``python -m http.server`` gets wrong for onnxruntime-web: ``.wasm`` must be
``application/wasm`` (else browsers refuse streaming compilation) and ``.mjs`` must be a JavaScript
type (else module imports fail on older Pythons). The server also sends the cross-origin isolation
headers, which give the page SharedArrayBuffer and so multi-threaded WebAssembly.
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

from edgeseq.errors import InputError

MIME_TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".json": "application/json",
    ".onnx": "application/octet-stream",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css",
}
DEFAULT_HOST = "127.0.0.1"  # localhost only: a quick look, not a deployment
DEFAULT_PORT = 8000


class PageRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with onnxruntime-web's MIME types and cross-origin isolation; quiet unless asked."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}
    verbose = False

    def end_headers(self) -> None:
        """The cross-origin isolation headers (SharedArrayBuffer for threaded WebAssembly), no caching."""
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's signature
        """Log requests only when the server was made verbose."""
        if self.verbose:
            super().log_message(format, *args)


def make_server(
    directory: str | Path, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, verbose: bool = False
) -> http.server.ThreadingHTTPServer:
    """Create (not start) a threading HTTP server for ``directory``; port 0 picks a free port.

    Raises:
        InputError: the folder has no index.html, or the port cannot be bound.
    """
    directory = Path(directory)
    if not (directory / "index.html").is_file():
        raise InputError(f"{str(directory)!r} has no index.html; expected a folder written by `edgeseq web`")
    handler = type("Handler", (PageRequestHandler,), {"verbose": verbose})
    try:
        return http.server.ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(directory)))
    except OverflowError:  # socket's own check of the port number
        raise InputError(f"port: got {port}; expected 0 (any free port) to 65535") from None
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port") from None


def serve(directory: str | Path, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST) -> None:
    """Serve ``directory`` until Ctrl-C (a normal end: returns), printing the URL."""
    server = make_server(directory, port, host, verbose=True)
    bound_port = server.server_address[1]
    print(f"serving {directory} at http://{host}:{bound_port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.server_close()


def serve_in_thread(
    directory: str | Path, port: int = 0, host: str = DEFAULT_HOST
) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Start serving in a daemon thread; returns ``(server, url)``. Call ``server.shutdown()`` to stop."""
    server = make_server(directory, port, host)
    thread = threading.Thread(target=server.serve_forever, name="edgeseq-web-serve", daemon=True)
    thread.start()
    return server, f"http://{host}:{server.server_address[1]}/"
