"""Bad config and CLI input for every verb that reads or writes files: one line on stderr, exit code 2,
no traceback, nothing written anywhere (the work folder and the current folder are compared before/after).

Runs ``edgeseq.cli.main`` in-process (torch is already imported by the test session, so ~40 cases take
seconds); one case per verb also runs as a real ``python -m edgeseq`` process.

As root, ``chmod`` does not stop writes, so "unwritable output" is tested as an output path that is an
existing file, or whose parent is a file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_testlib import REPO, tally

from edgeseq.cli import main

RECIPE = REPO / "models" / "digits-rows-lstm.toml"


@pytest.fixture()
def work(tmp_path, tiny_model, monkeypatch):
    """A work folder with a good model, a garbage model, a plain file, a recipe with an unknown key."""
    import shutil

    shutil.copyfile(tiny_model, tmp_path / "model.onnx")
    shutil.copyfile(tiny_model.with_suffix(".json"), tmp_path / "model.json")
    (tmp_path / "garbage.onnx").write_bytes(b"this is not a model")
    (tmp_path / "file").write_text("a plain file\n")
    (tmp_path / "notckpt.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    recipe = RECIPE.read_text()
    (tmp_path / "unknown-key.toml").write_text(_edit(recipe, r"(?m)^\[train\]$", "[train]\nepochz = 3"))
    (tmp_path / "wrong-type.toml").write_text(_edit(recipe, r"(?m)^epochs = \d+$", 'epochs = "twelve"'))
    (tmp_path / "bad-syntax.toml").write_text(recipe + "\n[model\n")
    (tmp_path / "unknown-table.toml").write_text(recipe + "\n[trainer]\nepochs = 1\n")
    (tmp_path / "image.png").write_bytes(b"not a png")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _edit(text: str, pattern: str, replacement: str) -> str:
    """Replace one line of the recipe; fail at once if the recipe changed shape (else a real training runs)."""
    edited, count = re.subn(pattern, replacement, text, count=1)
    assert count == 1, f"recipe has no line matching {pattern!r}"
    return edited


def _listing(*folders: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            for name in dirs + files:
                path = Path(root) / name
                info = path.lstat()
                out[str(path)] = (info.st_size, info.st_mtime_ns)
    return out


# (verb, argv with {placeholders}, text the error line must contain)
CASES = [
    ("train", "train missing.toml --out run", "missing.toml"),
    ("train", "train unknown-key.toml --out run", "epochz"),
    ("train", "train wrong-type.toml --out run", "epochs"),
    ("train", "train bad-syntax.toml --out run", "bad-syntax.toml"),
    ("train", "train unknown-table.toml --out run", "trainer"),
    ("train", "train {recipe} --out run --set train.epochs=abc", "epochs"),
    ("train", "train {recipe} --out run --set model.bogus=1", "bogus"),
    ("train", "train {recipe} --out run --set nonsense", "nonsense"),
    ("train", "train {recipe} --out file", "file"),
    ("train", "train {recipe} --out file/run", "file"),
    ("train", "train --resume --out empty-run", "last.pt"),
    ("train", "train --out run", "recipe"),
    ("export", "export missing.pt -o out.onnx", "missing.pt"),
    ("export", "export notckpt.pt -o out.onnx", "notckpt.pt"),
    ("export", "export file -o out.onnx", "file"),
    ("export", "export missing.pt -o file/out.onnx", "missing.pt"),
    ("validate", "validate missing.onnx --checkpoint missing.pt", "missing"),
    ("validate", "validate garbage.onnx --checkpoint notckpt.pt", "notckpt.pt"),
    ("validate", "validate model.onnx --checkpoint notckpt.pt", "notckpt.pt"),
    ("predict", "predict missing.onnx image.png", "missing.onnx"),
    ("predict", "predict garbage.onnx image.png", "garbage.onnx"),
    ("predict", "predict file image.png", "file"),
    ("predict", "predict model.onnx image.png", "image.png"),
    ("predict", "predict model.onnx missing.png", "missing.png"),
    ("predict", "predict model.onnx image.png --top-k 0", "top"),
    ("predict", "predict model.onnx image.png --threads 0", "threads"),
    ("predict", "predict model.onnx image.png --batch-size 0", "batch"),
    ("optimize", "optimize missing.onnx -o out", "missing.onnx"),
    ("optimize", "optimize garbage.onnx -o out --variants fp32", "garbage.onnx"),
    ("optimize", "optimize model.onnx -o file --variants fp32", "file"),
    ("optimize", "optimize model.onnx -o out --variants turbo", "turbo"),
    ("optimize", "optimize model.onnx -o out --profile missing.toml", "missing.toml"),
    ("optimize", "optimize model.onnx -o out --set optimize.nope=1", "nope"),
    ("bench", "bench missing.onnx --in-process", "missing.onnx"),
    ("bench", "bench garbage.onnx --in-process --no-profile", "garbage.onnx"),
    ("bench", "bench model.onnx --in-process --backend warp", "warp"),
    ("bench", "bench compare missing.json other.json", "missing.json"),
    ("bench", "bench model.onnx --in-process --out file", "file"),
    ("bench", "bench model.onnx --in-process --min-runs 0", "min_runs"),
]


def _argv(template: str) -> list[str]:
    return template.format(recipe=RECIPE).split()


def _id(case) -> str:
    return (case.values if hasattr(case, "values") else case)[1][:60]


@pytest.mark.parametrize(("verb", "template", "needle"), CASES, ids=[_id(c) for c in CASES])
def test_bad_cli_input_is_one_line_exit_2_nothing_written(work, capsys, verb, template, needle):
    (work / "empty-run").mkdir(exist_ok=True)
    before = _listing(work)
    try:
        code = main(_argv(template))
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err.strip()
    tally(f"cli: {verb}")
    assert code == 2, (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    last = err.splitlines()[-1]
    if len(err.splitlines()) > 1:  # only argparse adds its usage line above the error
        assert err.splitlines()[0].startswith("usage:"), err
    assert last.startswith(f"edgeseq {verb}: error:") or "error:" in last, err
    assert needle in last, (needle, last)
    assert _listing(work) == before, "the failed command wrote or changed files"


@pytest.mark.slow
@pytest.mark.parametrize(
    "template",
    [
        "train unknown-key.toml --out run",
        "export missing.pt -o out.onnx",
        "validate garbage.onnx --checkpoint notckpt.pt",
        "predict garbage.onnx image.png",
        "optimize missing.onnx -o out",
        "bench garbage.onnx --in-process --no-profile",
    ],
)
def test_real_process_exit_code_and_stderr(work, template):
    before = _listing(work)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "edgeseq", *_argv(template)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    tally("cli: real process")
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert _listing(work) == before
