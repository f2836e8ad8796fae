"""Checkpoint files: atomic save, weights_only loading (code-running pickles refused), unreadable and foreign files."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from edgeseq.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint  # noqa: E402
from edgeseq.errors import ModelFileError  # noqa: E402


class _Payload:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


# the hostile file is written with pickle protocol 5, which torch.load notes before refusing it
@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_code_running_pickle_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    torch.save({"format": "edgeseq-checkpoint/1", "x": _Payload()}, evil, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(ModelFileError, match="refusing to load checkpoint"):
        load_checkpoint(evil)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"", "cannot read checkpoint"), (b"not a zip", "cannot read checkpoint"), (None, "not found")],
)
def test_bad_checkpoint_files(tmp_path: Path, content: bytes | None, match: str) -> None:
    path = tmp_path / "x.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=match):
        load_checkpoint(path)


def test_foreign_checkpoint_is_refused(tmp_path: Path) -> None:
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="not an edgeseq checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_failed_save_leaves_previous_checkpoint_intact(tiny_checkpoint: Path, tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "run" / "best.pt"
    target.parent.mkdir()
    target.write_bytes(tiny_checkpoint.read_bytes())
    before = target.read_bytes()
    ckpt = load_checkpoint(target)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("edgeseq.fileio.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(target, ckpt)
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["best.pt"]
    model, _ = model_from_checkpoint(target)
    assert not model.training
