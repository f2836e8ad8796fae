"""Writing an export safely: a staging folder beside the destination, external data for huge models, rename into place.

A failed or interrupted export leaves nothing under the final name: candidates are written and
checked in a temporary folder next to the destination (same file system, so the rename is atomic)
and only the accepted one is moved into place, its data file first.

A killed export (SIGKILL, power loss) cannot remove its work folder (``.model.onnx.<random>.export``).
Each work folder holds a lock file locked for as long as its export runs (the kernel drops the lock
when the process dies), so the next export beside the same destination removes the work folders
whose lock is free: those of dead exports, never one another process is still writing
(:func:`edgeseq.fileio.work_folder`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgeseq.fileio import remove_stale_work_folders, work_folder

# protobuf cannot serialise 2 GiB; stay below it with a margin for the graph itself
EXTERNAL_DATA_THRESHOLD_BYTES = 2**31 - 2**26
# The suffix of an export's work folder: ``.model.onnx.<random>.export``.
WORK_SUFFIX = ".export"


@contextlib.contextmanager
def staging_dir(path: Path) -> Iterator[Path]:
    """A private folder beside ``path`` (:func:`edgeseq.fileio.work_folder`), removed with whatever is left in it.

    Work folders that dead exports left beside ``path`` are removed first.
    """
    with work_folder(path, WORK_SUFFIX) as workdir:
        yield workdir


def remove_stale_staging(path: Path) -> list[Path]:
    """Remove the work folders of dead exports to ``path`` (their lock is free); returns those removed."""
    return remove_stale_work_folders(path, WORK_SUFFIX)


def save_model(proto: Any, staged: Path) -> bool:
    """Save ``proto`` to ``staged``; above the size threshold with external data (``<name>.data`` beside it).

    Returns:
        True when the weights went to external data.
    """
    import onnx

    large = proto.ByteSize() > EXTERNAL_DATA_THRESHOLD_BYTES
    if large:
        onnx.save_model(
            proto,
            str(staged),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=f"{staged.name}.data",
            size_threshold=1024,
        )
    else:
        onnx.save_model(proto, str(staged))
    return large


def fsync(path: Path) -> None:
    """Flush a written file to disk before it is renamed into place."""
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def promote(staged: Path, path: Path, *, external: bool) -> None:
    """Move the accepted model (and its data file) from the staging folder to ``path``.

    Data first, then the model: the final name only ever points at a complete model. A manifest
    left from an earlier export is removed first: it would describe (and carry the sha256 of) the
    model being replaced.
    """
    data_file = staged.with_name(f"{staged.name}.data")
    if external:
        fsync(data_file)
        os.replace(data_file, path.with_name(data_file.name))
    fsync(staged)
    path.with_suffix(".json").unlink(missing_ok=True)
    os.replace(staged, path)
