"""`edgeseq predict`: table and JSON-lines output, folders, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from edgeseq.cli import main
from edgeseq.runtime import Predictor


def test_table_lists_every_file_with_label_score_and_top_k(tiny_classifier, digit_pngs, capsys):
    paths = digit_pngs[0][:3]
    assert main(["predict", str(tiny_classifier[0]), *map(str, paths), "--top-k", "2"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["file", "label", "score", "top-k"]
    expected = Predictor(tiny_classifier[0]).predict(paths, top_k=2)
    for line, path, result in zip(lines[1:], paths, expected, strict=True):
        cells = line.split()
        assert cells[:3] == [str(path), result.label, f"{result.score:.3f}"]
        assert cells[3:] == [f"{label}:{score:.3f}" for label, score in result.top_k]
    assert len(lines) == 4 and "3 image(s), providers: CPUExecutionProvider" in err


def test_json_lines_for_a_folder_sorted_and_only_images(tiny_classifier, digit_pngs, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("b.png", "a.PNG", "c.jpg"):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(
            folder / name, format="JPEG" if name.endswith("jpg") else "PNG"
        )
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    assert main(["predict", str(tiny_classifier[0]), str(folder), "--json", "--top-k", "1"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["file"] for r in records] == [str(folder / n) for n in ("a.PNG", "b.png", "c.jpg")]
    assert all(set(r) == {"file", "label", "index", "score", "top_k"} and len(r["top_k"]) == 1 for r in records)


def test_ctc_model_prints_text_and_confidence(tiny_ctc, capsys):
    image = np.random.default_rng(0).integers(0, 256, size=(16, 40), dtype=np.uint8)
    expected = Predictor(tiny_ctc[0]).predict(image)
    path = tiny_ctc[0].parent / "line.png"
    Image.fromarray(image).save(path)
    assert main(["predict", str(tiny_ctc[0]), str(path)]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["file", "text", "confidence"]
    assert row.split() == [c for c in (str(path), expected.text, f"{expected.confidence:.3f}") if c]
    assert main(["predict", str(tiny_ctc[0]), str(path), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["text"] == expected.text and record["char_confidences"] == pytest.approx(expected.char_confidences)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["{model}", "{missing}"], "image '.*nope.png' not found; expected an image file or a folder"),
        (["{model}", "{empty_dir}"], "has no image files; expected .png"),
        (["{raw}", "{image}"], "needs edgeseq metadata"),
        (["{missing}", "{image}"], "model file '.*nope.png' not found"),
        (["{model}", "{image}", "--top-k", "0"], "--top-k: got 0; expected a positive integer"),
        (["{model}", "{image}", "--threads", "999"], "threads: got 999; expected an integer from 1 to"),
        (["{model}", "{image}", "--batch-size", "0"], "batch_size: got 0"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(tiny_classifier, raw_model, digit_pngs, tmp_path, capsys, args, match):
    import re

    (tmp_path / "empty").mkdir()
    values = {
        "model": tiny_classifier[0],
        "raw": raw_model,
        "image": digit_pngs[0][0],
        "missing": tmp_path / "nope.png",
        "empty_dir": tmp_path / "empty",
    }
    argv = ["predict", *[a.format(**{k: str(v) for k, v in values.items()}) for a in args]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgeseq predict: error: ") and "\n" not in err
    assert re.search(match, err), err
