"""The training loop: :func:`train` as a sequence of named phases over a typed run state.

Phases: open the run (device, process group, run folder) → check a resume (before anything costly) →
build the data, model and optimization → restore a resumed run → wrap for DDP → one
:func:`_run_epoch` per epoch (train, validate, save) → test the best weights → write the summary.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from edgeseq.budget import check_memory_budget
from edgeseq.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from edgeseq.config import ExperimentConfig
from edgeseq.data import DataSplits, build_datasets
from edgeseq.errors import ConfigError, InputError
from edgeseq.fileio import ensure_writable_dir, write_json_atomic, write_text_atomic
from edgeseq.nn import ImageSequenceModel, build_model
from edgeseq.training.batches import batch_loss, make_loader, unwrap
from edgeseq.training.distributed import (
    DistInfo,
    all_reduce_sum,
    barrier,
    broadcast_object,
    device_kind,
    init_distributed,
    pick_device,
    set_threads,
    shutdown_distributed,
)
from edgeseq.training.evaluation import evaluate, is_better, prefixed
from edgeseq.training.optim import Optimization
from edgeseq.training.progress import Log, Progress, format_epoch, rank_log
from edgeseq.training.results import TrainResult
from edgeseq.training.resume import load_resume_checkpoint, restore_run, run_folder_problem
from edgeseq.training.state import TrainState, checkpoint_payload, train_state_dict


@dataclass(frozen=True)
class RunContext:
    """Where and how this process runs: fixed for the whole invocation."""

    cfg: ExperimentConfig
    out: Path
    dist: DistInfo
    device: torch.device
    say: Log  # rank 0's log; silent on other ranks
    started: float  # time.perf_counter() at the start of train()

    @property
    def effective_batch(self) -> int:
        """Samples per optimizer step over all processes."""
        return self.cfg.train.batch_size * self.dist.world_size


@dataclass
class TrainParts:
    """What the run trains with, built once: data, model (DDP-wrapped under torchrun) and optimization."""

    splits: DataSplits
    model: nn.Module
    params: list[nn.Parameter]
    sampler: DistributedSampler | None
    loader: DataLoader
    steps_per_epoch: int
    optim: Optimization
    threads: int


def train(
    cfg: ExperimentConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    log: Log | None = None,
) -> TrainResult:
    """Train a model from a config and write ``best.pt``, ``last.pt``, ``metrics.jsonl``, ``summary.json``.

    Args:
        cfg: the experiment config (``edgeseq.config.load_config``).
        out_dir: the run folder (created).
        resume: continue from ``out_dir/last.pt`` (epochs already done are skipped).
        overwrite: replace the run ``out_dir`` holds (its best.pt, last.pt, metrics.jsonl and summary.json are
            removed first). Without it or ``resume``, a folder holding a run is refused.
        log: a callable taking one line of text (default: print to stderr on rank 0).

    Returns:
        TrainResult with the test metrics of the best checkpoint.

    Raises:
        ConfigError: a bad device request, a resume with changed settings, or a folder that holds a run.
        InputError: empty train/val splits, or a loss that stops being finite.
        ModelFileError: a resume from a missing, unsafe or unfitting ``last.pt``.
        ResourceLimitError: the config's sizes need more memory than the limit (before anything is allocated).
        WriteError: a checkpoint or log could not be written (disk full); the previous files are kept.
    """
    check_memory_budget(cfg, training=True, batch=cfg.train.batch_size)
    run = _open_run(cfg, out_dir, log, resume, overwrite)
    # Checked before the data and model are built: a refused resume should cost nothing.
    saved = load_resume_checkpoint(run.out, cfg) if resume else None
    parts = _build_parts(run)
    state = TrainState()
    if saved is not None:
        state = restore_run(saved, parts.model, parts.optim, cfg, parts.steps_per_epoch)
        run.say(f"resumed from {saved['path']} after epoch {state.start_epoch}")
    _wrap_for_ddp(run, parts)
    _announce(run, parts)
    for epoch in range(state.start_epoch, cfg.train.epochs):
        _run_epoch(run, parts, state, epoch)
    metrics = _test_best_checkpoint(run, parts)
    result = _finish(run, state, metrics)
    shutdown_distributed(run.dist)
    return result


def _open_run(cfg: ExperimentConfig, out_dir: str | Path, log: Log | None, resume: bool, overwrite: bool) -> RunContext:
    """Resolve the device, join the process group (torchrun), create the run folder and claim it (rank 0).

    Raises:
        ConfigError: the folder holds a run and neither ``resume`` nor ``overwrite`` was asked for (every
            rank raises: rank 0's verdict is broadcast).
    """
    started = time.perf_counter()
    kind = device_kind(cfg.train.device)
    dist_info = init_distributed(kind)
    out = Path(out_dir)
    problem = None
    if dist_info.is_main:
        ensure_writable_dir(out)
        problem = run_folder_problem(out, resume, overwrite)
    problem = broadcast_object(problem, dist_info)
    if problem is not None:
        shutdown_distributed(dist_info)  # every rank refuses: leave the group together
        raise ConfigError(problem)
    return RunContext(cfg, out, dist_info, pick_device(kind, dist_info), rank_log(log, dist_info.is_main), started)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _build_parts(run: RunContext) -> TrainParts:
    """Threads, seeds, data splits, the model on its device, the train loader and the optimization."""
    cfg = run.cfg
    threads = set_threads(cfg.train.threads, run.dist)
    _seed_everything(cfg.train.seed)
    splits = build_datasets(cfg)
    n_train, n_val = splits.size("train"), splits.size("val")
    if n_train == 0 or n_val == 0:
        raise InputError(
            f"the train/val splits are empty (train={n_train}, val={n_val}); "
            "expected more data or smaller data.val_fraction/test_fraction"
        )
    model = build_model(cfg.model, cfg.preprocess, splits.num_outputs).to(run.device)
    params = [p for p in model.parameters() if p.requires_grad]
    sampler: DistributedSampler | None = None
    if run.dist.enabled:
        sampler = DistributedSampler(
            splits.train, num_replicas=run.dist.world_size, rank=run.dist.rank, shuffle=True, seed=cfg.train.seed
        )
    loader = make_loader(
        splits.train, cfg.train.batch_size, True, splits, cfg.train.seed, sampler, cfg.data.num_workers
    )
    steps_per_epoch = len(loader)
    if cfg.train.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.train.max_steps_per_epoch)
    optim = Optimization.build(cfg.train, params, steps_per_epoch, run.device)
    return TrainParts(splits, model, params, sampler, loader, steps_per_epoch, optim, threads)


def _wrap_for_ddp(run: RunContext, parts: TrainParts) -> None:
    """Under torchrun, wrap the model in DistributedDataParallel (after a resume loaded its weights)."""
    if run.dist.enabled:
        device_ids = [run.device.index] if run.device.type == "cuda" else None
        parts.model = DistributedDataParallel(parts.model, device_ids=device_ids)


def _announce(run: RunContext, parts: TrainParts) -> None:
    cfg, splits = run.cfg, parts.splits
    sizes = f"{splits.size('train')} train / {splits.size('val')} val / {splits.size('test')} test samples"
    run.say(
        f"training {cfg.name}: {sum(p.numel() for p in parts.params):,} trainable parameters, "
        f"{sizes}, device {run.device}, "
        f"{parts.threads} thread(s) per process, world size {run.dist.world_size}, "
        f"effective batch {run.effective_batch}, lr {cfg.train.lr:g}"
    )


def _run_epoch(run: RunContext, parts: TrainParts, state: TrainState, epoch: int) -> None:
    """Train one epoch, validate (rank 0, shared with every rank), record it and save the checkpoints."""
    epoch_start = time.perf_counter()
    train_metrics = _train_epoch(run, parts, epoch)
    val_metrics = evaluate(parts.model, parts.splits.val, parts.splits, device=run.device) if run.dist.is_main else None
    val_metrics = broadcast_object(val_metrics, run.dist)
    improved = is_better(parts.splits.task, val_metrics, state.best_val)
    if improved:
        state.best_val = val_metrics
    record = {
        "epoch": epoch + 1,
        **train_metrics,
        **prefixed("val", val_metrics),
        "lr": parts.optim.optimizer.param_groups[0]["lr"],
        "epoch_time_s": round(time.perf_counter() - epoch_start, 3),
        "world_size": run.dist.world_size,
    }
    state.history.append(record)
    if run.dist.is_main:
        metrics_now = {**train_metrics, **prefixed("val", val_metrics)}
        _save_epoch(run, parts, state, metrics_now, epoch + 1, improved)
        run.say(format_epoch(record, run.cfg.train.epochs, improved))
    barrier(run.dist)


def _train_epoch(run: RunContext, parts: TrainParts, epoch: int) -> dict[str, float]:
    """One pass over (at most ``steps_per_epoch`` batches of) this rank's shard; loss/accuracy over all ranks."""
    cfg = run.cfg
    if parts.sampler is not None:
        parts.sampler.set_epoch(epoch)
    elif parts.loader.generator is not None:
        # Shuffle order depends on (seed, epoch) only, so a resumed run sees the same batches.
        parts.loader.generator.manual_seed(cfg.train.seed + epoch)
    parts.model.train()
    _freeze_bn_if_needed(parts.model)
    sums = [0.0, 0.0, 0.0]  # loss × n, correct, n
    progress = Progress(cfg.train.progress and run.dist.is_main, parts.steps_per_epoch, f"epoch {epoch + 1}")
    for step, batch in enumerate(parts.loader):
        if step >= parts.steps_per_epoch:
            break
        parts.optim.optimizer.zero_grad(set_to_none=True)
        loss, correct, n = batch_loss(parts.model, batch, parts.splits, run.device, parts.optim.autocast)
        if not torch.isfinite(loss):
            raise InputError(
                f"training loss became {float(loss)} at epoch {epoch + 1}, step {step}; try a lower train.lr"
            )
        parts.optim.step(loss, parts.params, cfg.train.grad_clip)
        sums[0] += float(loss.detach()) * n
        sums[1] += correct
        sums[2] += n
        progress.update(float(loss.detach()))
    progress.close()
    loss_sum, correct_sum, count = all_reduce_sum(sums, run.dist, run.device)
    train_metrics = {"train_loss": loss_sum / max(count, 1)}
    if parts.splits.task == "classification":
        train_metrics["train_accuracy"] = correct_sum / max(count, 1)
    return train_metrics


def _save_epoch(
    run: RunContext, parts: TrainParts, state: TrainState, metrics: dict[str, float], epoch: int, improved: bool
) -> None:
    """Rank 0: best.pt when validation improved, last.pt with the training state, metrics.jsonl."""
    cfg, splits, model = run.cfg, parts.splits, parts.model
    if improved:
        save_checkpoint(run.out / "best.pt", checkpoint_payload(cfg, splits, model, metrics, epoch))
    train_state = train_state_dict(parts.optim, state)
    save_checkpoint(run.out / "last.pt", checkpoint_payload(cfg, splits, model, metrics, epoch, train_state))
    # Rewritten whole from the history in last.pt: a kill never leaves a partial or missing line.
    write_text_atomic(run.out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in state.history))


def _test_best_checkpoint(run: RunContext, parts: TrainParts) -> dict[str, float]:
    """Evaluate best.pt on the test split (rank 0), record the result in best.pt; every rank gets the metrics."""
    result_metrics: dict[str, float] = {}
    if run.dist.is_main:
        best_ckpt = load_checkpoint(run.out / "best.pt")
        best_model, _ = model_from_checkpoint(best_ckpt)
        best_model.to(run.device)
        test_metrics = evaluate(best_model, parts.splits.test, parts.splits, device=run.device)
        result_metrics = {**best_ckpt["metrics"], **prefixed("test", test_metrics)}
        best_ckpt.pop("path", None)
        best_ckpt["metrics"] = result_metrics
        save_checkpoint(run.out / "best.pt", best_ckpt)
        headline = (
            f"test cer {test_metrics['cer']:.4f}, exact match {test_metrics['exact_match']:.4f}"
            if parts.splits.task == "ctc"
            else f"test accuracy {test_metrics['accuracy']:.4f}"
        )
        elapsed = time.perf_counter() - run.started
        run.say(f"done: {headline} (best epoch {best_ckpt['epoch']}), {elapsed:.1f}s; {run.out / 'best.pt'}")
    metrics: dict[str, float] = broadcast_object(result_metrics, run.dist)
    return metrics


def _finish(run: RunContext, state: TrainState, metrics: dict[str, float]) -> TrainResult:
    """The result, written to summary.json by rank 0."""
    result = TrainResult(
        out_dir=str(run.out),
        best_checkpoint=str(run.out / "best.pt"),
        last_checkpoint=str(run.out / "last.pt"),
        metrics=metrics,
        epochs=max(run.cfg.train.epochs, state.start_epoch),
        wall_time_s=round(time.perf_counter() - run.started, 3),
        world_size=run.dist.world_size,
        effective_batch_size=run.effective_batch,
        history=state.history,
    )
    if run.dist.is_main:
        write_json_atomic(run.out / "summary.json", result.to_json())
    return result


def _freeze_bn_if_needed(model: nn.Module) -> None:
    # A frozen backbone keeps its BatchNorm statistics (ImageSequenceModel.train() does the same).
    core = unwrap(model)
    if isinstance(core, ImageSequenceModel) and core.freeze_backbone:
        core.backbone.eval()
