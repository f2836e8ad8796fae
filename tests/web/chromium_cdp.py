"""A minimal headless-Chromium driver over the DevTools protocol on a pipe (standard library only).

``--remote-debugging-pipe`` makes Chromium read NUL-terminated JSON commands on fd 3 and write
replies and events on fd 4: no websocket, no port, no Node. Enough for the browser tests: open a
page, evaluate JavaScript (awaiting promises), take a screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

# Flags for headless Chromium as root in a container; no network chatter (the tests are offline).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-pipe",
)
NO_GPU_FLAGS = ("--disable-gpu",)
# WebGPU in headless Chromium without a GPU: SwiftShader's software Vulkan gives a real WebGPU adapter,
# the same on every machine (a secure context is needed too: http://127.0.0.1 is one).
WEBGPU_FLAGS = ("--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserError(RuntimeError):
    """Chromium died, timed out, or a page script threw."""


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary, or None (``EDGESEQ_CHROMIUM`` overrides the search)."""
    override = os.environ.get("EDGESEQ_CHROMIUM")
    if override:
        return override if Path(override).is_file() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Chromium:
    """One headless Chromium process with one page (a DevTools session)."""

    def __init__(
        self, executable: str, width: int = 1000, height: int = 720, timeout: float = 30.0, webgpu: bool = False
    ) -> None:
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="edgeseq-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Move the child's ends above fd 10 first, so dup2 onto 3 and 4 cannot clobber one another.
        child_in = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)

        def wire_pipes() -> None:
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [
                executable,
                *CHROMIUM_FLAGS,
                *(WEBGPU_FLAGS if webgpu else NO_GPU_FLAGS),
                f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}",
            ],
            preexec_fn=wire_pipes,
            pass_fds=(3, 4),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        for fd in (to_chrome_r, from_chrome_w, child_in, child_out):
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.console: list[str] = []
        self._events: list[str] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Runtime.enable", session=True)
        self.call("Page.enable", session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no answer from Chromium within {self.timeout:.0f} s")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium exited (code {self.process.poll()}): {self.stderr_tail()}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: bool = False, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send one DevTools command and wait for its reply (events seen meanwhile are recorded)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self._record_event(reply)

    def _record_event(self, event: dict[str, Any]) -> None:
        method = event.get("method")
        self._events.append(method)
        params = event.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            self.console.append(f"{params.get('type')}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.console.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")

    def goto(self, url: str) -> None:
        """Navigate and wait for the new document's load event."""
        self._events.clear()
        result = self.call("Page.navigate", {"url": url}, session=True)
        if result.get("errorText"):
            raise BrowserError(f"cannot open {url}: {result['errorText']}")
        deadline = time.monotonic() + self.timeout
        while "Page.loadEventFired" not in self._events:
            self._record_event(self._read_message(deadline))

    def evaluate(self, expression: str, timeout: float | None = None) -> Any:
        """Evaluate JavaScript in the page, await a returned promise, return the value as JSON data.

        Raises:
            BrowserError: the script threw or the promise rejected (with the page's message).
        """
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session=True,
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"page script failed: {text}; console: {self.console[-5:]}")
        return result["result"].get("value")

    def screenshot(self, path: str | Path) -> Path:
        """Save a PNG of the viewport."""
        data = self.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path

    def stderr_tail(self, limit: int = 800) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-limit:]

    def close(self) -> None:
        """Close the browser (politely, then by force) and remove its profile."""
        try:
            self.call("Browser.close", timeout=5)
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
