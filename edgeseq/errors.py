"""The one error hierarchy of edgeseq.

The CLI turns :class:`UsageError` subclasses into exit code 2 and :class:`CheckFailed`
subclasses into exit code 1, each as one line on stderr.
"""

from __future__ import annotations

import re
from types import ModuleType

# Colour codes that some libraries (the torch exporters) put into their messages.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class EdgeseqError(Exception):
    """Base class of every error edgeseq raises on purpose."""

    exit_code = 2


class ConfigError(EdgeseqError, ValueError):
    """A config file, a ``--set`` override or a keyword argument is invalid."""


class InputError(EdgeseqError, ValueError):
    """Data handed to a function (an image, an array, a path) is not what it expects."""


class ModelFileError(EdgeseqError):
    """A checkpoint or ONNX file is missing, corrupt, unsafe or of the wrong kind."""


class ExportError(EdgeseqError):
    """Exporting a model to ONNX failed or produced a graph that does not hold its promises."""


class DependencyError(EdgeseqError, ImportError):
    """An optional dependency (an extra) is needed and not installed."""


class CheckFailed(EdgeseqError):
    """A check ran and its result is a failure (parity, an accuracy gate, a regression)."""

    exit_code = 1


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
