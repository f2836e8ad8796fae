"""The one error hierarchy of edgeseq, and the exit codes of the command line.

Every error edgeseq raises on purpose is an :class:`EdgeseqError`; its class carries the exit code the
CLI returns after printing it as one line on stderr:

* :data:`EXIT_CHECK_FAILED` (1): a check ran and failed (:class:`CheckFailed`: parity, an accuracy gate,
  a benchmark regression);
* :data:`EXIT_USAGE` (2): a usage, config or input error, a model or file that cannot be used, a
  resource limit, or a file the system refused to read or write (every other :class:`EdgeseqError`,
  and ``OSError`` at the CLI boundary);
* :data:`EXIT_INTERNAL` (70, ``EX_SOFTWARE`` of sysexits.h): anything else, which is a bug in edgeseq;
* :data:`EXIT_INTERRUPTED` (130): Ctrl-C.
"""

from __future__ import annotations

import re
from types import ModuleType

# Colour codes that some libraries (the torch exporters) put into their messages.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class EdgeseqError(Exception):
    """Base class of every error edgeseq raises on purpose."""

    exit_code = EXIT_USAGE


class ConfigError(EdgeseqError, ValueError):
    """A config file, a ``--set`` override or a keyword argument is invalid."""


class InputError(EdgeseqError, ValueError):
    """Data handed to a function (an image, an array, a path) is not what it expects."""


class ModelFileError(EdgeseqError):
    """A checkpoint or ONNX file is missing, corrupt, unsafe or of the wrong kind."""


class ResourceLimitError(EdgeseqError):
    """A model, an input or a config would need more memory than the limit allows (see ``edgeseq.memory``).

    Attributes:
        needed: the estimated bytes (None when unknown, e.g. a child process ran out of its limit).
        limit: the limit in bytes.
    """

    def __init__(self, message: str, *, needed: int | None = None, limit: int | None = None) -> None:
        super().__init__(message)
        self.needed = needed
        self.limit = limit


class InferenceError(ModelFileError):
    """ONNX Runtime failed while running a model on inputs that passed edgeseq's checks."""


class WriteError(EdgeseqError, OSError):
    """A file could not be written (disk full, name too long, no permission); nothing half-written is left.

    Also an ``OSError`` (with ``errno``, ``strerror`` and ``filename`` of the failed write), so code that
    catches ``OSError`` around a write keeps working.
    """

    def __init__(self, path: str, cause: OSError) -> None:
        reason = cause.strerror or first_line(cause, 200)
        shown = path if len(path) <= 200 else f"{path[:100]}...{path[-100:]}"  # NAME_MAX-busting names stay short
        super().__init__(f"cannot write {shown!r}: {reason}; nothing was written under that name")
        self.errno = cause.errno
        self.strerror = cause.strerror
        self.filename = path

    def __str__(self) -> str:
        return str(self.args[0])


class ExportError(EdgeseqError):
    """Exporting a model to ONNX failed or produced a graph that does not hold its promises."""


class DependencyError(EdgeseqError, ImportError):
    """An optional dependency (an extra) is needed and not installed."""


class CheckFailed(EdgeseqError):
    """A check ran and its result is a failure (parity, an accuracy gate, a regression)."""

    exit_code = EXIT_CHECK_FAILED


class ParityError(CheckFailed):
    """PyTorch and ONNX Runtime disagree beyond tolerance."""


class AccuracyGateError(CheckFailed):
    """An optimized variant lost more accuracy than allowed."""


class RegressionError(CheckFailed):
    """A benchmark got slower (or changed results) beyond tolerance."""


def require(module: str, extra: str = "train") -> ModuleType:
    """Import an optional dependency or raise a :class:`DependencyError` naming the extra.

    Args:
        module: dotted module name, for example ``"torch"``.
        extra: the pip extra that provides it.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DependencyError(
            f"{module} is required for this command; install it with: pip install 'edgeseq[{extra}]'"
        ) from exc


def first_line(exc: BaseException, limit: int = 300, *, with_type: bool = False, with_cause: bool = False) -> str:
    """The first non-empty line of an exception's message: the one line edgeseq's errors quote.

    Args:
        exc: the exception.
        limit: most characters returned.
        with_type: prefix the exception's class name (``"ValueError: ..."``), for messages from other libraries.
        with_cause: append the first line of its cause in brackets (exporters wrap the real error).

    Returns:
        The line, without ANSI colour codes; the class name when the message is empty.
    """

    def line(e: BaseException) -> str:
        lines = [text.strip() for text in _ANSI.sub("", str(e)).splitlines() if text.strip()]
        return lines[0] if lines else type(e).__name__

    text = line(exc)
    if with_type and text != type(exc).__name__:
        text = f"{type(exc).__name__}: {text}"
    cause = exc.__cause__ or exc.__context__
    if with_cause and cause is not None and line(cause) not in text:
        text = f"{text} (caused by {type(cause).__name__}: {line(cause)})"
    return text[:limit]
