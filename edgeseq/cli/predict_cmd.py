"""``edgeseq predict``: run an exported model on image files or folders (torch-free)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from edgeseq.errors import ConfigError, InputError
from edgeseq.runtime.extensions import IMAGE_EXTENSIONS  # a folder argument expands to these files

INPUT_CONVENTIONS = """\
input conventions (the model sees what it was trained on; the preprocessing stored in the model resizes
and normalises, it does not fix polarity or framing):
  digits models (models/digits-rows-lstm.onnx): light ink on a dark background, like the 8x8 scans they were
    trained on (samples/digit-7.png); one digit filling most of a roughly square image. Dark-on-light
    digits are misread (an inverted 7 reads as 0).
  text-line models (models/crnn-textline.onnx): dark ink on light paper, one line of digits cropped with a
    margin so the glyphs are 35-55 % of the image height (the image is scaled to 32 px high, glyphs
    ~15 px; samples/line-3141592653.png). Glyphs filling 70 % or more of the height, or under 25 %, misread.
"""
CHUNK = 256  # images predicted (and printed) at a time, so a large folder streams instead of piling up


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``edgeseq predict``."""
    parser = subparsers.add_parser(
        "predict",
        help="classify images / read text lines with an exported ONNX model (no torch needed)",
        description="Run an edgeseq ONNX model on images. Folders expand to the image files directly "
        f"inside them ({', '.join(IMAGE_EXTENSIONS)}), sorted by name; a file that cannot be read is skipped "
        "and reported after the results, and the exit code is then 2.",
        epilog=INPUT_CONVENTIONS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="the .onnx model (with edgeseq metadata)")
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="image files and/or folders of images")
    parser.add_argument("--top-k", type=int, default=3, help="classes listed per image (classification; default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image (JSON lines)")
    parser.add_argument(
        "--providers", choices=("auto", "cpu", "cuda"), default="auto", help="execution provider (default auto)"
    )
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: physical cores)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per inference call (default 32)")
    parser.add_argument(
        "--allow-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="accept operators from this custom domain too (repeatable; only for custom-op libraries you trust)",
    )
    parser.add_argument(
        "--no-verify-manifest",
        action="store_true",
        help="skip checking the model's sha256 against the manifest (model.json) beside it",
    )
    parser.set_defaults(func=run)


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files as given; folders → their image files (not recursive), sorted by name.

    Raises:
        InputError: a path does not exist, or a folder holds no image files.
    """
    files: list[Path] = []
    for text in inputs:
        path = Path(text)
        try:
            is_dir, is_file = path.is_dir(), path.is_file()
        except OSError as exc:  # a name over NAME_MAX / PATH_MAX, a loop of links, ...: the path cannot be a file
            shown = text if len(text) <= 120 else f"{text[:60]}...{text[-60:]}"
            raise InputError(f"image {shown!r}: {exc.strerror}; expected an image file or a folder of images") from None
        if is_dir:
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise InputError(f"folder {text!r} has no image files; expected {', '.join(IMAGE_EXTENSIONS)}")
            files.extend(found)
        elif is_file:
            files.append(path)
        else:
            raise InputError(f"image {text!r} not found; expected an image file or a folder of images")
    return files


def run(args: argparse.Namespace) -> int:
    """Predict and print a table or JSON lines; returns the exit code."""
    # onnxruntime is imported here, so `edgeseq --help` stays fast
    from edgeseq.runtime import Predictor
    from edgeseq.runtime.options import SessionConfig

    if args.top_k < 1:
        raise ConfigError(f"--top-k: got {args.top_k}; expected a positive integer")
    files = expand_inputs(args.inputs)
    config = SessionConfig(allow_domains=tuple(args.allow_domain), verify_manifest=not args.no_verify_manifest)
    predictor = Predictor(
        args.model, providers=args.providers, threads=args.threads, config=config, batch_size=args.batch_size
    )
    # predict() raises the one-line "no edgeseq metadata" error before anything is printed
    table = None if args.json else _Table(predictor.task or "", sys.stdout)
    failed: list[tuple[Path, str]] = []  # (file, why), reported after the results
    for start in range(0, len(files), CHUNK):
        chunk = files[start : start + CHUNK]
        for path, result in _predict_chunk(predictor, chunk, args.top_k, failed):
            if table is None:
                print(json.dumps({"file": str(path), **result.to_json()}), flush=False)
            else:
                table.row(str(path), result)
    if table is not None:
        table.close()
    done = len(files) - len(failed)
    if failed and not done:  # nothing could be read: the error itself, in one line
        raise InputError(failed[0][1])
    for path, reason in failed:
        print(f"edgeseq predict: skipped {path}: {reason}", file=sys.stderr)
    print(f"{done} image(s), providers: {', '.join(predictor.providers)}", file=sys.stderr)
    if failed:
        raise InputError(f"{len(failed)} of {len(files)} image(s) could not be read; first: {failed[0][1]}")
    return 0


def _predict_chunk(
    predictor: Any, chunk: list[Path], top_k: int, failed: list[tuple[Path, str]]
) -> list[tuple[Path, Any]]:
    """``(path, result)`` for the files of a chunk; an unreadable file goes to ``failed`` and is left out.

    The chunk runs as one batch; only when a file in it is refused does it run file by file, to find
    which ones and keep the others.
    """
    try:
        return list(zip(chunk, predictor.predict(chunk, top_k=top_k), strict=True))
    except InputError:
        pass
    results = []
    for path in chunk:
        try:
            results.append((path, predictor.predict(path, top_k=top_k)))
        except InputError as exc:
            failed.append((path, str(exc)))
    return results


class _Table:
    """A plain-text table, column widths taken from the first chunk so rows can stream."""

    def __init__(self, task: str, out: TextIO) -> None:
        self.task = task
        self.out = out
        self.rows: list[list[str]] = []
        self.widths: list[int] | None = None

    def _cells(self, file: str, result: Any) -> list[str]:
        if self.task == "ctc":
            return [file, result.text, f"{result.confidence:.3f}"]
        top = "  ".join(f"{label}:{score:.3f}" for label, score in result.top_k)
        return [file, result.label, f"{result.score:.3f}", top]

    def row(self, file: str, result: Any) -> None:
        """Add a row; a full chunk is written out."""
        self.rows.append(self._cells(file, result))
        if len(self.rows) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        header = ["file", "text", "confidence"] if self.task == "ctc" else ["file", "label", "score", "top-k"]
        if self.widths is None:
            self.widths = [max(len(r[i]) for r in [header, *self.rows]) for i in range(len(header))]
            self._write(header)
        for r in self.rows:
            self._write(r)
        self.rows = []

    def _write(self, cells: list[str]) -> None:
        widths = self.widths or [len(c) for c in cells]  # set by _flush before the first write
        line = "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths[:-1], strict=True)) + "  " + cells[-1]
        self.out.write(line.rstrip() + "\n")

    def close(self) -> None:
        """Write the rows still held and flush the stream."""
        self._flush()
        self.out.flush()
