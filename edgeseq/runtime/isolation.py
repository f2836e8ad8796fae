"""Child-process isolation: create (and run once) an ONNX Runtime session in a fresh Python first.

A well-formed model can still crash ONNX Runtime's native code while a session is created (docs/traps.md
#13: a segfault, not an exception). :func:`create_session_isolated` checks the file, creates the session
in a child process, and only then in this one; a crash there becomes a :class:`ModelFileError` naming the
signal. :func:`open_session_in_child` and :func:`run_python_child` are the building blocks (the
optimizer's variant check uses them too).

The child builds its options with :func:`edgeseq.runtime.options.session_options` and opens the model
with :func:`edgeseq.runtime.session.open_session`, like this process would; it runs in an empty
temporary folder so a stray ``onnxruntime.py`` in the caller's current folder cannot shadow the package.

Memory: given a memory limit, the child's address space is capped (``RLIMIT_AS``) at the limit plus
:data:`~edgeseq.runtime.limits.CHILD_ADDRESS_SPACE_HEADROOM` before it opens the model, so a model that
allocates more (a ``ConstantOfShape`` bomb the graph estimate could not see) fails or dies in the child,
and the caller gets a :class:`~edgeseq.errors.ResourceLimitError` instead of the kernel's OOM killer.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from edgeseq.errors import ConfigError, ModelFileError, ResourceLimitError
from edgeseq.memory import format_bytes
from edgeseq.memory import memory_limit as resolve_memory_limit
from edgeseq.runtime.limits import CHILD_ADDRESS_SPACE_HEADROOM, check_model_memory, declared_feeds, is_memory_failure
from edgeseq.runtime.modelfile.graph_reader import read_graph
from edgeseq.runtime.modelfile.policy import DEFAULT_MAX_BYTES, check_model_file
from edgeseq.runtime.options import GraphLevel, SessionConfig
from edgeseq.runtime.session import create_session, requested_providers

# Seconds a child process may take to create (and probe) a session before it is called hung.
DEFAULT_ISOLATION_TIMEOUT_S = 120.0

# The folder holding the edgeseq package this process runs: the child imports the same edgeseq from it.
EDGESEQ_ROOT = str(Path(__file__).resolve().parents[2])

# Old name: short level name -> ORT member name (GraphLevel.ort_name); kept importable for callers.
GRAPH_LEVELS = {level.value: level.ort_name for level in GraphLevel}

# Runs in a fresh interpreter. It imports numpy and onnxruntime first (from the interpreter's own path),
# then edgeseq from the folder this process imported it from (whoever can write there can change edgeseq
# itself); builds the options as this process would, creates the session, prints CREATED, then (when
# asked) feeds zeros once — the given shape for the first input, else the declared shapes with dynamic
# axes at 1 for the first and 32 for the others, which fits edgeseq's image models — and prints RAN, or
# PROBE-FAILED with the exception. What a failed run means is the caller's call: untrusted-model probing
# only needs creation to succeed, the optimizer's variant check needs the run too.
_CHILD_CODE = r"""
import json, resource, sys
import numpy as np
import onnxruntime
path, options = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, options["edgeseq_root"])
from edgeseq.errors import first_line
from edgeseq.runtime.options import SessionConfig, session_options
from edgeseq.runtime.session import SessionLoadError, open_session
del sys.path[0]
if options.get("address_space"):
    resource.setrlimit(resource.RLIMIT_AS, (options["address_space"], options["address_space"]))
so = session_options(SessionConfig(threads=1, graph_optimization=options["level"], log_severity=3))
try:
    sess = open_session(path, so, options["providers"])
except SessionLoadError as exc:
    sys.stderr.write(first_line(exc.ort_error, 400, with_type=True))
    sys.exit(3)
print("CREATED", flush=True)
if options["probe"]:
    types = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
             "tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(int32)": np.int32,
             "tensor(int64)": np.int64, "tensor(bool)": np.bool_}
    feeds = {}
    for k, inp in enumerate(sess.get_inputs()):
        shape = [d if isinstance(d, int) and d > 0 else (1 if i == 0 else 32) for i, d in enumerate(inp.shape)]
        if k == 0 and options.get("shape") is not None:
            shape = options["shape"]
        feeds[inp.name] = np.zeros(shape, dtype=types.get(inp.type, np.float32))
    try:
        sess.run(None, feeds)
        print("RAN", flush=True)
    except Exception as exc:
        print("PROBE-FAILED", first_line(exc, 400, with_type=True), flush=True)
"""


@dataclass(frozen=True)
class ChildResult:
    """What happened to a child Python process: exit status and output, or a timeout."""

    returncode: int | None  # None: killed after the timeout
    stdout: str = ""
    stderr: str = ""

    @property
    def timed_out(self) -> bool:
        """The child was killed after the timeout."""
        return self.returncode is None

    @property
    def crashed(self) -> bool:
        """The child died by a signal (a native crash)."""
        return self.returncode is not None and self.returncode < 0

    def last_error_line(self) -> str:
        """The last non-empty stderr line (at most 300 characters), or ``"no message"``."""
        return (self.stderr.strip().splitlines() or ["no message"])[-1][:300]


def run_python_child(code: str, args: Sequence[str], timeout_s: float) -> ChildResult:
    """Run ``python -c code args...`` in an empty temporary folder; never raises for the child's fate.

    The empty folder keeps a stray ``onnxruntime.py`` or ``numpy.py`` in the caller's current folder
    from shadowing the real packages (``python -c`` puts the current folder first on ``sys.path``);
    the environment is kept, since a user-site or PYTHONPATH install may provide onnxruntime.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="edgeseq-probe-") as empty:
            proc = subprocess.run(
                [sys.executable, "-c", code, *args],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
                cwd=empty,
            )
    except subprocess.TimeoutExpired:
        return ChildResult(None)
    return ChildResult(proc.returncode, proc.stdout, proc.stderr)


def open_session_in_child(
    path: str | os.PathLike,
    graph_level: str | GraphLevel,
    providers: Sequence[str],
    *,
    run_once: bool = True,
    input_shape: Sequence[int] | None = None,
    timeout_s: float = DEFAULT_ISOLATION_TIMEOUT_S,
    memory_limit: int | None = None,
) -> ChildResult:
    """Create an onnxruntime session for ``path`` in a child process and (optionally) run it once on zeros.

    Args:
        path: the model file.
        graph_level: a :class:`GraphLevel` or short name (``"all"``), or a ``GraphOptimizationLevel``
            member name (``"ORT_ENABLE_ALL"``, as older callers pass).
        providers: provider names, in order.
        run_once: also feed zeros once; stdout then holds ``RAN`` or ``PROBE-FAILED <error>``.
        input_shape: the first input's shape for that run (default: its declared shape, dynamic axes filled).
        timeout_s: kill the child after this many seconds.
        memory_limit: cap the child's address space at this many bytes plus
            :data:`~edgeseq.runtime.limits.CHILD_ADDRESS_SPACE_HEADROOM` (None: no cap).

    Returns:
        The child's fate; stdout holds ``CREATED`` when the session was created.

    Raises:
        ConfigError: ``graph_level`` names no level.
    """
    options = {
        "edgeseq_root": EDGESEQ_ROOT,
        "level": GraphLevel.parse(graph_level, what="graph_level").value,
        "providers": list(providers),
        "probe": bool(run_once),
        "shape": None if input_shape is None else [int(d) for d in input_shape],
        "address_space": None if memory_limit is None else int(memory_limit) + CHILD_ADDRESS_SPACE_HEADROOM,
    }
    return run_python_child(_CHILD_CODE, [os.path.abspath(path), json.dumps(options)], timeout_s)


def describe_returncode(returncode: int) -> str:
    """``-11`` → ``"signal 11, SIGSEGV"``; ``3`` → ``"exit code 3"``."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        return f"signal {-returncode}, {name}"
    return f"exit code {returncode}"


def probe_in_subprocess(
    path: str | os.PathLike,
    *,
    graph_optimization: str | GraphLevel = "all",
    providers: Iterable[str] = ("CPUExecutionProvider",),
    run_once: bool = True,
    timeout_s: float = DEFAULT_ISOLATION_TIMEOUT_S,
    memory_limit: int | None = None,
    input_shape: Sequence[int] | None = None,
) -> str:
    """Create a session for ``path`` in a child Python (and run it once on zeros); raise if that dies.

    Args:
        path: the model file (check it with :func:`check_model_file` first).
        graph_optimization: "disable", "basic", "extended" or "all" (or a :class:`GraphLevel`), as in SessionConfig.
        providers: ONNX Runtime provider names, in order.
        run_once: also feed zeros of the declared input shapes once.
        timeout_s: give up after this many seconds.
        memory_limit: cap the child's memory (address space) at this many bytes (plus the interpreter's headroom).
        input_shape: the first input's shape for the run (default: declared, dynamic axes filled in).

    Returns:
        "ran" (created and ran), "created" (created; the probe run raised or was skipped).

    Raises:
        ResourceLimitError: creating or running the model needed more memory than ``memory_limit``.
        ModelFileError: the child crashed (naming the signal), hung, or could not create the session.
    """
    try:
        level = GraphLevel.parse(graph_optimization)
    except ConfigError as exc:  # a bad option of the check itself: the model is refused, as before
        raise ModelFileError(str(exc)) from None
    where = str(path)
    child = open_session_in_child(
        path,
        level,
        list(providers),
        run_once=run_once,
        timeout_s=timeout_s,
        memory_limit=memory_limit,
        input_shape=input_shape,
    )
    _raise_for_child(child, where, timeout_s, memory_limit)
    return "ran" if "RAN" in child.stdout else "created"


def _raise_for_child(child: ChildResult, where: str, timeout_s: float, memory_limit: int | None) -> None:
    """Turn a child's failure into one typed error (memory, crash, hang or load failure)."""
    stage = "running it once" if "CREATED" in child.stdout else "creating a session"
    limited = f" limited to {format_bytes(memory_limit)} of memory" if memory_limit is not None else ""
    if memory_limit is not None and is_memory_failure(child.stdout + child.stderr):
        raise ResourceLimitError(
            f"model {where!r} ran out of memory while {stage} in a child process{limited}; expected a model "
            "that fits the memory limit (set EDGESEQ_MEMORY_LIMIT or memory_limit to allow more)",
            limit=memory_limit,
        )
    if child.timed_out:
        raise ModelFileError(
            f"creating a session for {where!r} did not finish within {timeout_s:g} s in a child process; "
            "expected a model ONNX Runtime can open"
        )
    if child.returncode is not None and child.crashed:
        raise ModelFileError(
            f"ONNX Runtime crashed ({describe_returncode(child.returncode)}) while {stage} for {where!r} "
            f"in a child process{limited}; this model would have killed the caller"
        )
    if child.returncode != 0:
        raise ModelFileError(f"cannot load model {where!r}: {child.last_error_line()}; expected a valid ONNX model")


def create_session_isolated(
    path: str | os.PathLike,
    config: SessionConfig | None = None,
    *,
    allow_domains: Iterable[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    verify_manifest: bool = True,
    run_once: bool = True,
    timeout_s: float = DEFAULT_ISOLATION_TIMEOUT_S,
    memory_limit: int | str | None = None,
) -> ort.InferenceSession:
    """Check an unknown model, open (and run) it in a memory-capped child process, and only then in this one.

    Costs one extra interpreter start and session creation (about a second for a small model), so
    use it for models you did not make; :func:`check_model_file` alone is cheap.

    Args:
        path: the model file.
        config: a :class:`edgeseq.runtime.session.SessionConfig` (default: its defaults).
        allow_domains, max_bytes, verify_manifest: passed to :func:`check_model_file`.
        run_once: let the child also run the model once on zeros of its declared input size.
        timeout_s: most seconds the child may take.
        memory_limit: bytes or a size such as ``"8G"`` (default :func:`edgeseq.memory.memory_limit`): the
            graph estimate must stay under it, and the child's address space is capped at it.

    Returns:
        An ``onnxruntime.InferenceSession`` created by :func:`edgeseq.runtime.session.create_session`.

    Raises:
        ResourceLimitError: the model needs more memory than the limit (by the estimate, or in the child).
        ModelFileError: a check failed, or the child crashed (the message names the signal), hung or failed.
    """
    config = config if config is not None else SessionConfig()
    # create_session checks the file again with the config's settings: give it the caller's, so a
    # domain allowed here is not refused there
    config = dataclasses.replace(
        config,
        allow_domains=tuple(dict.fromkeys([*config.allow_domains, *(allow_domains or ())])),
        verify_manifest=config.verify_manifest and verify_manifest,
    )
    check_model_file(path, allow_domains=config.allow_domains, max_bytes=max_bytes, verify_manifest=verify_manifest)
    budget = resolve_memory_limit(memory_limit)
    graph = read_graph(path)
    check_model_memory(path, limit=budget, graph=graph)
    first_shape = None
    if graph is not None and graph.inputs:  # the child feeds its first input at the declared size
        first_shape = declared_feeds(graph).get(graph.inputs[0].name)
    providers = [p if isinstance(p, str) else p[0] for p in requested_providers(config)]
    probe_in_subprocess(
        path,
        graph_optimization=config.graph_optimization,
        providers=providers,
        run_once=run_once,
        timeout_s=timeout_s,
        memory_limit=budget,
        input_shape=first_shape,
    )
    return create_session(path, config, memory_limit=budget)
