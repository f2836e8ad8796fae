"""The rows of a benchmark run, before any is measured: one :class:`BenchJob` per configuration.

Every ONNX backend runs every model (or the backends its :class:`ModelRef` names) at every thread
count, batch and input size; the PyTorch eager baseline runs the checkpoint at the sizes of the first
ONNX model and is measured first, as it is what the other rows are read against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseq.bench.modelinfo import ModelInfo, find_number, input_shapes
from edgeseq.bench.options import ONNX_BACKENDS, BenchOptions
from edgeseq.bench.profile import count_flops
from edgeseq.bench.result import BenchRow
from edgeseq.bench.spec import MeasureSpec

CHECKPOINT_METRICS = ("test_accuracy", "val_accuracy", "accuracy")


@dataclass
class BenchJob:
    """One row to measure: the row as reported (filled after measuring), its spec and its FLOP count."""

    row: BenchRow
    spec: MeasureSpec
    flops: dict[str, float] | None = None


@dataclass
class FlopCounts:
    """FLOPs per (model, input shape), counted once each, not per backend and thread count."""

    enabled: bool
    _counted: dict[tuple[str, tuple[int, ...]], dict[str, float] | None] = field(default_factory=dict)

    def of(self, path: str, shape: list[int] | None) -> dict[str, float] | None:
        """The FLOPs of ``path`` at ``shape`` (None when disabled, without a shape, or unknown)."""
        if not self.enabled or shape is None:
            return None
        key = (path, tuple(shape))
        if key not in self._counted:
            self._counted[key] = count_flops(path, shape)
        return self._counted[key]


def plan_jobs(
    infos: list[ModelInfo], checkpoint: str | Path | None, threads_list: list[int], options: BenchOptions
) -> list[BenchJob]:
    """Every row of the run, the PyTorch eager rows first."""
    flops = FlopCounts(options.flops)
    jobs = onnx_jobs(infos, threads_list, options, flops)
    if "torch" in options.backends and checkpoint is not None:
        jobs = torch_jobs(checkpoint, infos, threads_list, options, flops) + jobs
    return jobs


def onnx_jobs(
    infos: list[ModelInfo], threads_list: list[int], options: BenchOptions, flops: FlopCounts
) -> list[BenchJob]:
    """Rows for the ONNX backends: model x backend x threads x batch x input size."""
    jobs = []
    for info in infos:
        wanted = info.ref.backends
        for backend in [b for b in options.backends if b in ONNX_BACKENDS and (wanted is None or b in wanted)]:
            for threads in threads_list:
                for batch in options.batches:
                    for shape, notes in input_shapes(info, batch, options):
                        jobs.append(_onnx_job(info, backend, threads, batch, shape, notes, options, flops))
    return jobs


def _onnx_job(
    info: ModelInfo,
    backend: str,
    threads: int,
    batch: int,
    shape: list[int],
    notes: list[str],
    options: BenchOptions,
    flops: FlopCounts,
) -> BenchJob:
    spinning = options.spinning and backend.startswith("ort")  # only onnxruntime spins
    spec = MeasureSpec(
        backend=backend,
        model_path=info.ref.path,
        input_name=info.input_name,
        shape=shape,
        dtype=info.dtype,
        batch=batch,
        threads=threads,
        model_precision=info.precision,
        profile=options.profile and backend == "ort-cpu",
        spinning=spinning,
        seed=options.seed,
        **options.timing_fields(),
    )
    row = BenchRow(
        model=info.ref.name,
        variant=info.ref.variant,
        backend=backend,
        precision=info.precision,
        model_precision=info.precision,
        provider="",
        batch=batch,
        threads=threads,
        spinning=spinning,
        input_shape=shape,
        input_dtype=info.dtype,
        model_path=info.ref.path,
        model_size_mb=info.size_mb,
        accuracy=info.accuracy,
        parity_max_abs_diff=info.parity,
        notes=list(notes),
    )
    return BenchJob(row, spec, flops.of(info.ref.path, shape))


def torch_jobs(
    checkpoint: str | Path, infos: list[ModelInfo], threads_list: list[int], options: BenchOptions, flops: FlopCounts
) -> list[BenchJob]:
    """Rows for the PyTorch eager baseline, at the same sizes as the first ONNX model's rows.

    The eager model takes the float NCHW tensor that preprocessing produces, so an ONNX model
    with preprocessing inside (uint8 NHWC) is matched by its height and width.
    """
    # the torch side (torch itself) is imported only when the eager baseline is asked for
    from edgeseq.bench.torch_backend import read_checkpoint

    ckpt = read_checkpoint(checkpoint)
    name = infos[0].ref.name if infos else Path(checkpoint).stem
    jobs = []
    for threads in threads_list:
        for batch in options.batches:
            for (h, w), onnx_shape, notes in _eager_sizes(infos, ckpt.preprocess, batch, options):
                spec = MeasureSpec(
                    backend="torch",
                    model_path=str(ckpt.path),
                    input_name="images",
                    shape=[batch, ckpt.channels, h, w],
                    batch=batch,
                    threads=threads,
                    seed=options.seed,
                    **options.timing_fields(),
                )
                row = _eager_row(name, spec, ckpt.path, find_number(ckpt.metrics, CHECKPOINT_METRICS), notes)
                jobs.append(BenchJob(row, spec, flops.of(infos[0].ref.path, onnx_shape) if infos else None))
    return jobs


def _eager_sizes(
    infos: list[ModelInfo], preprocess: dict[str, Any], batch: int, options: BenchOptions
) -> list[tuple[tuple[int, int], list[int] | None, list[str]]]:
    """((height, width), the first ONNX model's matching input shape, notes) for each eager row."""
    if not infos:
        height = int(preprocess["height"])
        return [((height, int(w)), None, []) for w in (options.widths or [int(preprocess["width"])])]
    first = infos[0]
    return [
        ((s[2], s[3]) if first.layout == "NCHW" else (s[1], s[2]), s, notes)
        for s, notes in input_shapes(first, batch, options)
    ]


def _eager_row(name: str, spec: MeasureSpec, path: Path, accuracy: float | None, notes: list[str]) -> BenchRow:
    return BenchRow(
        model=name,
        variant="eager",
        backend="torch",
        precision="fp32",
        model_precision="fp32",
        provider="",
        batch=spec.batch,
        threads=spec.threads,
        spinning=False,
        input_shape=spec.shape,
        input_dtype="float32",
        model_path=str(path),
        model_size_mb=path.stat().st_size / 2**20,
        accuracy=accuracy,
        notes=list(notes),
    )
