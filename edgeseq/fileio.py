"""Atomic file writes and hashing (standard library only).

Every artifact edgeseq writes (checkpoints, ONNX models, manifests, reports) goes through
:func:`atomic_path`: the data is written to a temporary file in the same folder, flushed to disk,
then renamed over the final name, so a crash or a kill never leaves a half-written file there.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgeseq.errors import InputError, WriteError


def ensure_writable_dir(path: str | Path) -> Path:
    """Create ``path`` (and parents) if needed and check it is a writable folder.

    Raises:
        InputError: it exists as a file, or cannot be created or written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"output folder {str(path)!r} is a file; expected a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder {str(path)!r}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"output folder {str(path)!r} is not writable")
    return path


def check_output_dir(path: str | Path) -> Path:
    """Check, without creating anything, that ``path`` is or can become a writable folder.

    For commands that work a long time before they write: refuse a bad ``--out`` up front.

    Raises:
        InputError: it, or the first existing folder above it, is a file or not writable.
    """
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"output folder {str(path)!r}: {str(existing)!r} is a file; expected a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"output folder {str(path)!r} is not writable")
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed to ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was. A write that the
    system refuses (disk full, quota, name too long, no permission) becomes a :class:`WriteError`
    naming ``path``; an ``OSError`` about another file (one the block was reading) passes unchanged.

    Raises:
        InputError: the folder is a file or cannot be created or written.
        WriteError: writing, flushing or renaming the file failed.
    """
    path = Path(path)
    ensure_writable_dir(path.parent if str(path.parent) else Path("."))
    _refuse_special_file(path)
    try:
        # the temporary name stays under NAME_MAX even when path's own name is close to it
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise WriteError(str(path), exc) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _commit(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, WriteError) or (exc.filename is not None and not _names(exc, str(tmp), str(path))):
            raise
        raise WriteError(str(path), exc) from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _names(exc: OSError, *prefixes: str) -> bool:
    """Whether the failed operation was on a path under one of ``prefixes`` (a copy names its source
    first and its destination second: ``filename2``)."""
    names = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
    return any(name.startswith(prefixes) for name in names)


def _refuse_special_file(path: Path) -> None:
    """Refuse to rename a file over a device, FIFO, socket or folder (``--report /dev/stdout`` would replace the device node).

    Raises:
        InputError: ``path`` exists and is not a regular file (or a link to one).
        WriteError: ``path`` cannot even be looked at (a name over NAME_MAX, a loop of links).
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise WriteError(str(path), exc) from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, FIFO or socket"
        raise InputError(f"cannot write {str(path)!r}: it is {kind}; expected a path for a regular file")


def _commit(tmp: Path, path: Path) -> None:
    """fsync ``tmp``, give it the usual permissions and rename it over ``path`` (durably where the OS allows)."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts get the usual permissions
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@contextlib.contextmanager
def atomic_with_sidecars(path: str | Path) -> Iterator[Path]:
    """Like :func:`atomic_path` for a file written with side files (an ONNX model and its external data).

    Yields a path with ``path``'s own name inside a private work folder beside it (so a tool that
    names its side files after the model, ``model.onnx.data``, names them right). On success every
    side file written next to it is moved into ``path``'s folder first, then the file itself: the
    final name only ever points at a complete model. On any exception nothing is moved.

    Raises:
        InputError: the folder is unusable, or ``path`` is a device or a folder.
        WriteError: writing or moving failed (disk full, name too long); earlier files are kept.
    """
    path = Path(path)
    ensure_writable_dir(path.parent if str(path.parent) else Path("."))
    _refuse_special_file(path)
    with work_folder(path, ".partial") as content:
        target = content / path.name
        yield target
        if not target.is_file():
            raise WriteError(str(path), OSError(2, "the writer produced no file"))
        sidecars = [entry for entry in sorted(content.iterdir()) if entry != target and entry.is_file()]
        for entry in [*sidecars, target]:
            with open(entry, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(entry, 0o666 & ~_umask())
        for entry in sidecars:
            os.replace(entry, path.parent / entry.name)
        os.replace(target, path)


# The lock file of a work folder (see work_folder), held with flock while its owner runs.
WORK_LOCK_NAME = ".lock"
# A work folder without a lock file was killed between its creation and its lock (microseconds), or was
# made by an older edgeseq: removed once it is this old, so work that is just starting is never touched.
UNLOCKED_STALE_AFTER_S = 3600.0


@contextlib.contextmanager
def work_folder(path: str | Path, suffix: str) -> Iterator[Path]:
    """A private folder beside ``path`` for building files that are renamed into place at the end.

    Creates ``.<name>.<random><suffix>/`` in ``path``'s folder (the same file system, so renames out
    of it are atomic) with a lock file held while the block runs, and yields its ``content/``
    subfolder; everything left is removed at the end. A process killed with SIGKILL cannot remove its
    work folder, but the kernel drops its lock: work folders of dead owners beside ``path`` are removed
    first (:func:`remove_stale_work_folders`).

    Raises:
        InputError: the folder cannot be created or written.
        WriteError: creating the work folder failed (disk full, name too long).
    """
    path = Path(path)
    parent = ensure_writable_dir(path.parent if str(path.parent) else Path("."))
    remove_stale_work_folders(path, suffix)
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{path.name[:200]}.", suffix=suffix, dir=parent))
    except OSError as exc:
        raise WriteError(str(path), exc) from None
    try:
        with open(folder / WORK_LOCK_NAME, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            content = folder / "content"
            content.mkdir()
            yield content
    except OSError as exc:
        if isinstance(exc, WriteError) or not _names(exc, str(folder)):
            raise
        raise WriteError(str(path), exc) from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_stale_work_folders(path: str | Path, suffix: str, *, now: float | None = None) -> list[Path]:
    """Remove the work folders (see :func:`work_folder`) beside ``path`` whose owner died; returns them.

    A folder whose lock another process holds is work still running and is left alone, as is one
    without a lock file younger than :data:`UNLOCKED_STALE_AFTER_S`.
    """
    path = Path(path)
    now = time.time() if now is None else now
    removed = []
    for folder in path.parent.glob(f".{glob.escape(path.name[:200])}.*{glob.escape(suffix)}"):
        if not folder.is_symlink() and folder.is_dir() and _owner_is_gone(folder, now):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _owner_is_gone(folder: Path, now: float) -> bool:
    """Whether no live process holds ``folder``'s lock (or it has none and is old)."""
    try:
        fd = os.open(folder / WORK_LOCK_NAME, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        try:
            return now - folder.stat().st_mtime > UNLOCKED_STALE_AFTER_S
        except OSError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held: its owner is running
        return False
    finally:
        os.close(fd)  # closing drops the lock taken just now
    return True


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()
