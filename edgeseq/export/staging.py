"""Writing an export safely: a staging folder beside the destination, external data for huge models, rename into place.

A failed or interrupted export leaves nothing under the final name: candidates are written and
checked in a temporary folder next to the destination (same file system, so the rename is atomic)
and only the accepted one is moved into place, its data file first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# protobuf cannot serialise 2 GiB; stay below it with a margin for the graph itself
EXTERNAL_DATA_THRESHOLD_BYTES = 2**31 - 2**26


@contextlib.contextmanager
def staging_dir(path: Path) -> Iterator[Path]:
    """A temporary folder beside ``path`` (hidden, named after it), removed with whatever is left in it."""
    workdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".export", dir=path.parent))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


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
