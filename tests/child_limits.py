"""Run edgeseq (or any Python code) in a child process under resource limits (a plain module).

Memory bombs and full disks are tried in a child whose address space (``RLIMIT_AS``) or file size
(``RLIMIT_FSIZE``, with ``SIGXFSZ`` ignored so an over-long write fails with ``EFBIG`` like a full disk
fails with ``ENOSPC``) is capped, so a test can never take this machine's memory or disk, and a
regression shows up as a killed child instead of a killed test run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_PRELUDE = r"""
import json, resource, signal, sys
limits = json.loads(sys.argv[1])
if limits.get("address_space"):
    resource.setrlimit(resource.RLIMIT_AS, (limits["address_space"], limits["address_space"]))
if limits.get("file_size") is not None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size"], limits["file_size"]))
del sys.argv[1]
"""


def run_limited(
    code: str | None = None,
    *,
    cli: list[str] | None = None,
    address_space: int | None = None,
    file_size: int | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess:
    """Run ``code`` (Python source) or the ``edgeseq`` CLI with ``cli`` arguments in a limited child.

    Args:
        code: Python source to run (``sys.argv[1:]`` is empty).
        cli: arguments for ``python -m edgeseq`` instead of ``code``.
        address_space: bytes of address space (RLIMIT_AS).
        file_size: largest file the child may write, in bytes (RLIMIT_FSIZE).
        env: extra environment variables.
        timeout: seconds before the child is killed (the test then fails with TimeoutExpired).
        cwd: working folder.
    """
    body = _PRELUDE + (code if code is not None else "import runpy\nrunpy.run_module('edgeseq', run_name='__main__')\n")
    limits = json.dumps({"address_space": address_space, "file_size": file_size})
    child_env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", body, limits, *(cli or [])],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env,
        cwd=cwd,
        check=False,
    )
