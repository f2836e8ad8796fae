"""The CLI's error boundary (issue 20): one line and a documented exit code for every failure.

0 success, 1 a check failed, 2 usage/config/input errors and files the system refused, 70 a bug,
130 Ctrl-C. A full disk is simulated with ``RLIMIT_FSIZE`` in a child process (a write past the
limit fails with EFBIG, as a write on a full disk fails with ENOSPC).
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from child_limits import run_limited

from edgeseq import errors
from edgeseq.cli import main
from edgeseq.cli.common import describe_failure
from edgeseq.fileio import atomic_path, write_json_atomic, write_text_atomic

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "digits-rows-lstm.onnx"


def test_exit_codes_are_documented_constants() -> None:
    assert (errors.EXIT_OK, errors.EXIT_CHECK_FAILED, errors.EXIT_USAGE) == (0, 1, 2)
    assert (errors.EXIT_INTERNAL, errors.EXIT_INTERRUPTED) == (70, 130)
    assert errors.CheckFailed.exit_code == 1 and errors.ResourceLimitError("x").exit_code == 2


class _OrtFail(Exception):
    """Looks like one of onnxruntime's pybind11 exception classes."""


_OrtFail.__module__ = "onnxruntime.capi.onnxruntime_pybind11_state"


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (errors.InputError("bad image"), 2, "error: bad image"),
        (errors.ParityError("3 parity problems"), 1, "error: 3 parity problems"),
        (
            OSError(errno.ENOSPC, "No space left on device", "out/report.json"),
            2,
            "error: No space left on device: 'out/report.json'",
        ),
        (OSError(errno.ENAMETOOLONG, "File name too long", "x" * 5000), 2, "error: File name too long: 'xxx"),
        (PermissionError(errno.EACCES, "Permission denied", "a", None, "b"), 2, "error: Permission denied: 'a' -> 'b'"),
        (MemoryError(), 2, "error: out of memory; expected inputs, sizes or batches that fit"),
        (
            _OrtFail("[ONNXRuntimeError] : 1 : FAIL : boom\nmore"),
            2,
            "error: onnxruntime failed: _OrtFail: [ONNXRuntimeError] : 1 : FAIL : boom",
        ),
        (KeyError("x"), 70, "internal error: KeyError: 'x' (a bug in edgeseq; re-run with --debug"),
        (TypeError("'int' object is not iterable"), 70, "internal error: TypeError:"),
    ],
)
def test_each_kind_of_failure_has_one_line_and_its_code(exc: BaseException, code: int, line: str) -> None:
    message, got = describe_failure(exc)
    assert got == code and message.startswith(line) and "\n" not in message and len(message) < 700


def test_a_bug_exits_70_not_1_or_2(monkeypatch, capsys) -> None:
    import edgeseq.cli.models_cmd as models_cmd

    def broken(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(models_cmd, "run", broken)
    assert main(["models"]) == 70
    assert capsys.readouterr().err.startswith("edgeseq models: internal error: ZeroDivisionError: division by zero")


def test_atomic_writes_turn_a_refused_write_into_write_error(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "report.json"
    write_json_atomic(target, {"old": True})
    real_write = Path.write_bytes

    def full_disk(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(errors.WriteError) as info:
        write_json_atomic(target, {"new": True})
    monkeypatch.setattr(Path, "write_bytes", real_write)
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    assert (
        str(info.value) == f"cannot write {str(target)!r}: No space left on device; nothing was written under that name"
    )
    assert target.read_text() == '{\n  "old": true\n}\n' and [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_an_oserror_about_another_file_is_not_relabelled(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text((tmp_path / "missing-input.txt").read_text())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("special", ["/dev/null", "/dev/full"])
def test_devices_are_never_replaced_by_a_rename(special: str) -> None:
    with pytest.raises(errors.InputError, match="it is a device, FIFO or socket; expected a path for a regular file"):
        write_text_atomic(special, "x")
    assert Path(special).is_char_device()


def test_full_disk_in_a_child_is_a_one_line_error_and_keeps_the_old_file(tmp_path: Path) -> None:
    """``bench --out`` onto a 'full disk': exit 2, one line naming the file, the earlier report intact."""
    out = tmp_path / "bench"
    out.mkdir()
    (out / "bench.json").write_text("earlier run\n")
    child = run_limited(
        cli=[
            "bench",
            str(SHIPPED),
            "--in-process",
            "--min-time",
            "0",
            "--min-runs",
            "3",
            "--no-profile",
            "--out",
            str(out),
        ],
        file_size=2000,  # the JSON record is several kB
    )
    assert child.returncode == 2, child.stderr
    last = child.stderr.strip().splitlines()[-1]
    assert last.startswith("edgeseq bench: error: cannot write ") and "bench.json" in last and "File too large" in last
    assert (out / "bench.json").read_text() == "earlier run\n"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_train_onto_a_full_disk_is_a_one_line_error(tmp_path: Path) -> None:
    tiny = [
        "train.epochs=1",
        "train.threads=1",
        "train.progress=false",
        "train.max_steps_per_epoch=1",
        "model.hidden_size=8",
        "model.backbone_args={channels=[4,8],pools=[[2,2],[2,2]]}",
    ]
    argv = ["train", "models/digits-rows-lstm.toml", "--out", str(tmp_path / "run")]
    for item in tiny:
        argv += ["--set", item]
    child = run_limited(cli=argv, file_size=4096, cwd=SHIPPED.parents[1])  # a checkpoint is ~40 kB
    assert child.returncode == 2, child.stderr
    last = child.stderr.strip().splitlines()[-1]
    assert last.startswith("edgeseq train: error: cannot write ") and ".pt'" in last and "File too large" in last
    assert not [p for p in (tmp_path / "run").iterdir() if p.suffix in (".pt", ".tmp")]
