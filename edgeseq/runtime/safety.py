"""Checks an untrusted model file must pass before ONNX Runtime sees it: the public façade.

ONNX Runtime opens whatever a model points at. A model from someone else can:

* point its external data (weights in side files) at any file on the machine: ``/etc/shadow``,
  ``../../secret``, a symbolic link, or a *hard link* to an outside file. ``onnx.load`` refuses the
  hard link but ``onnxruntime.InferenceSession`` reads it (docs/traps.md #20), so the containment check
  has to be ours;
* use operators from custom domains, which run code from whatever custom-op library the process
  registered;
* be truncated, corrupt, huge, or not ONNX at all;
* crash the native code while a session is created (docs/traps.md #13: a segfault, not an exception).

:func:`check_model_file` covers the first three without onnxruntime and without the ``onnx``
package (which is not in the base install): a small reader of the protobuf wire format walks the
parts of ``ModelProto`` that matter (nodes and their domains, every tensor's external-data entries,
subgraphs, local functions, training graphs) and skips tensor payloads by their length, so a large
model is not copied into memory. ORT-format files (``.ort``, flatbuffers) get the same domain check
through a bounds-checked walk of their graphs. :func:`create_session_isolated` covers the fourth: the
session is created first in a child Python, and a crash there becomes a :class:`ModelFileError` naming
the signal.

Not promised: the check and ONNX Runtime's read are two steps, so someone who can write into the model's
folder between them can still swap a file; a model that passes is well-formed and contained, not correct
or benign in what it computes; onnxruntime bugs in creating sessions for well-formed graphs are caught
only with :func:`create_session_isolated`.

The code lives in :mod:`edgeseq.runtime.modelfile` (the readers and :func:`check_model_file`) and
:mod:`edgeseq.runtime.isolation` (child processes); this module re-exports their public names, which is
where the README and users import them from. The checks need only the standard library, so importing
this module does not import onnxruntime (nor numpy): the isolation names are loaded on first access
(PEP 562), as in :mod:`edgeseq.runtime`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from edgeseq.errors import ModelFileError
from edgeseq.runtime.modelfile.onnx_reader import MAX_NESTING, ExternalData
from edgeseq.runtime.modelfile.policy import (
    DEFAULT_ALLOWED_DOMAINS,
    DEFAULT_MAX_BYTES,
    ModelFileReport,
    check_model_file,
)

if TYPE_CHECKING:  # pragma: no cover - for type checkers; at run time __getattr__ loads them
    from edgeseq.runtime.isolation import (
        DEFAULT_ISOLATION_TIMEOUT_S,
        GRAPH_LEVELS,
        ChildResult,
        create_session_isolated,
        describe_returncode,
        open_session_in_child,
        probe_in_subprocess,
        run_python_child,
    )

# Child-process isolation imports onnxruntime: loaded when first used.
_ISOLATION = (
    "DEFAULT_ISOLATION_TIMEOUT_S",
    "GRAPH_LEVELS",
    "ChildResult",
    "create_session_isolated",
    "describe_returncode",
    "open_session_in_child",
    "probe_in_subprocess",
    "run_python_child",
)

__all__ = [
    "DEFAULT_ALLOWED_DOMAINS",
    "DEFAULT_ISOLATION_TIMEOUT_S",
    "DEFAULT_MAX_BYTES",
    "GRAPH_LEVELS",
    "MAX_NESTING",
    "ChildResult",
    "ExternalData",
    "ModelFileError",
    "ModelFileReport",
    "check_model_file",
    "create_session_isolated",
    "describe_returncode",
    "open_session_in_child",
    "probe_in_subprocess",
    "run_python_child",
]


def __getattr__(name: str) -> Any:
    if name in _ISOLATION:
        return getattr(importlib.import_module("edgeseq.runtime.isolation"), name)
    raise AttributeError(f"module 'edgeseq.runtime.safety' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
