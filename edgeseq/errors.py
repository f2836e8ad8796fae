"""The one error hierarchy of edgeseq.

The CLI turns :class:`UsageError` subclasses into exit code 2 and :class:`CheckFailed`
subclasses into exit code 1, each as one line on stderr.
"""

from __future__ import annotations


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


def require(module: str, extra: str = "train"):
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
