"""The training loop: single process, or DistributedDataParallel under ``torchrun``.

One loop serves both tasks: cross-entropy for classification, CTC for text lines. Every epoch ends
with a validation pass, ``last.pt`` (with optimizer/scheduler/RNG state for ``--resume``) and, when
the validation metric improved, ``best.pt``; the run ends with a test-set evaluation of the best
weights, written into ``best.pt`` and ``summary.json``. All files are written atomically.

Under torchrun (``WORLD_SIZE > 1``) each rank trains on its shard (DistributedSampler, reshuffled
every epoch), gradients are averaged by DDP, training loss/accuracy are all-reduced, and only rank 0
evaluates (on the full validation/test set, so numbers equal single-process evaluation), logs and
writes files.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from edgeseq.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint, state_dict_error_line
from edgeseq.config import ExperimentConfig, config_from_dict
from edgeseq.data import DataSplits, build_datasets
from edgeseq.errors import ConfigError, InputError, ModelFileError
from edgeseq.fileio import ensure_writable_dir, write_json_atomic, write_text_atomic

# What a resumed run must share with the run it continues. The model, data and preprocessing decide
# the weights' shapes and which images are train/val/test (a changed split would leak test data into
# training); these train fields decide the optimizer and the schedule, whose state last.pt carries.
# train.epochs may change: the schedule is then rebuilt for the new length at the step the run reached.
RESUME_SECTIONS = ("model", "data", "preprocess")
RESUME_TRAIN_KEYS = (
    "batch_size",
    "lr",
    "optimizer",
    "weight_decay",
    "scheduler",
    "step_size",
    "gamma",
    "grad_clip",
    "seed",
    "max_steps_per_epoch",
)
# Keys inside RESUME_SECTIONS that change how the run executes, not what it computes.
RESUME_FREE_KEYS = frozenset({"data.num_workers"})


@dataclass
class TrainResult:
    """What a training run produced."""

    out_dir: str
    best_checkpoint: str
    last_checkpoint: str
    metrics: dict[str, float]  # test_* from the best checkpoint, best val_*, train_* of the last epoch
    epochs: int  # epochs completed in total (including resumed ones)
    wall_time_s: float  # this invocation
    world_size: int = 1
    effective_batch_size: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict."""
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Distributed helpers


@dataclass
class _Dist:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _device_kind(requested: str) -> str:
    """Resolve ``train.device`` to "cuda" or "cpu" ("auto" is cuda when torch sees a GPU)."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device: 'cuda' was asked for but torch sees no CUDA GPU; expected 'cpu' or 'auto'")
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        return "cuda"
    return "cpu"


def _init_distributed(device_kind: str) -> _Dist:
    """Join the torchrun process group: NCCL for CUDA tensors, gloo for CPU ones."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return _Dist()
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_kind == "cuda":
        # Bind this rank to its own GPU before NCCL forms the group; otherwise every rank's
        # communicator (and any tensor created on "cuda") lands on GPU 0.
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return _Dist(dist.get_rank(), local_rank, dist.get_world_size())


def _all_reduce_sum(values: list[float], dist_info: _Dist, device: torch.device) -> list[float]:
    if not dist_info.enabled:
        return values
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def _broadcast_object(obj: Any, dist_info: _Dist) -> Any:
    if not dist_info.enabled:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _barrier(dist_info: _Dist) -> None:
    if dist_info.enabled:
        import torch.distributed as dist

        dist.barrier()


# ---------------------------------------------------------------------------------------------
# Setup


def _pick_device(kind: str, dist_info: _Dist) -> torch.device:
    """The torch device for a resolved kind ("cuda" or "cpu"); under torchrun, the rank's own GPU."""
    if kind == "cuda":
        return torch.device("cuda", dist_info.local_rank if dist_info.enabled else 0)
    return torch.device("cpu")


def _set_threads(cfg: ExperimentConfig, dist_info: _Dist) -> int:
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", dist_info.world_size))
    # Oversubscribing cores makes every process slower (docs/traps.md #15 holds for torch too).
    from edgeseq.runtime.session import physical_cores

    threads = cfg.train.threads or max(1, physical_cores() // max(1, local_world))
    torch.set_num_threads(threads)
    return threads


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _make_optimizer(cfg: ExperimentConfig, params) -> torch.optim.Optimizer:
    t = cfg.train
    if t.optimizer == "adam":
        return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.SGD(params, lr=t.lr, momentum=0.9, weight_decay=t.weight_decay, nesterov=True)


def _make_scheduler(cfg: ExperimentConfig, optimizer, steps_per_epoch: int):
    """A per-step scheduler (or None); "step" decays every ``step_size`` epochs, counted in steps."""
    t = cfg.train
    total = max(1, t.epochs * steps_per_epoch)
    if t.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=t.lr * 0.01)
    if t.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=t.lr, total_steps=total)
    if t.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=t.step_size * steps_per_epoch, gamma=t.gamma)
    return None


def _loader(dataset, batch_size: int, shuffle: bool, splits: DataSplits, seed: int, sampler=None, workers: int = 0):
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        collate_fn=splits.collate_fn,
        num_workers=workers,
        generator=generator,
        drop_last=False,
    )


# ---------------------------------------------------------------------------------------------
# Loss and evaluation


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


def _ctc_lengths(model: nn.Module, images: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    """Valid output timesteps per sample: the sequence length of each unpadded width."""
    core = _unwrap(model)
    height = images.shape[2]
    return torch.tensor([core.sequence_shape(height, int(w))[0] for w in widths], dtype=torch.long)


def _encode_texts(texts: list[str], alphabet: str) -> tuple[torch.Tensor, torch.Tensor]:
    index = {ch: i + 1 for i, ch in enumerate(alphabet)}  # 0 is the CTC blank
    try:
        flat = [index[ch] for text in texts for ch in text]
    except KeyError as exc:
        raise InputError(f"text contains {exc.args[0]!r}, which is not in the alphabet {alphabet!r}") from None
    return torch.tensor(flat, dtype=torch.long), torch.tensor([len(t) for t in texts], dtype=torch.long)


def _batch_loss(model, batch, splits: DataSplits, device, autocast) -> tuple[torch.Tensor, int, int]:
    """Forward one batch; returns (loss, correct count, sample count) — correct is 0 for CTC."""
    if splits.task == "ctc":
        images, texts, widths = batch
        images = images.to(device, non_blocking=True)
        with autocast():
            logits = model(images)
        log_probs = logits.float().log_softmax(-1).permute(1, 0, 2)  # (T, B, C) for CTCLoss
        input_lengths = _ctc_lengths(model, images, widths)
        targets, target_lengths = _encode_texts(texts, splits.alphabet)
        loss = F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, zero_infinity=True)
        return loss, 0, images.shape[0]
    images, targets = batch
    images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
    with autocast():
        logits = model(images)
    loss = F.cross_entropy(logits.float(), targets)
    correct = int((logits.argmax(1) == targets).sum())
    return loss, correct, images.shape[0]


@torch.inference_mode()
def evaluate(model: nn.Module, dataset, splits: DataSplits, batch_size: int = 128, device=None) -> dict[str, float]:
    """Evaluate on a dataset: ``accuracy`` and ``loss`` (classification) or ``cer``, ``exact_match``, ``loss`` (ctc)."""
    from edgeseq.metrics import cer, exact_match

    device = device or next(model.parameters()).device
    core = _unwrap(model)
    was_training = core.training
    core.eval()
    loader = _loader(dataset, batch_size, False, splits, 0)
    total_loss, correct, count = 0.0, 0, 0
    predictions, references = [], []
    for batch in loader:
        if splits.task == "ctc":
            from edgeseq.runtime.decode import ctc_greedy_batch

            images, texts, widths = batch
            images = images.to(device)
            logits = core(images).float()
            lengths = _ctc_lengths(core, images, widths)
            log_probs = logits.log_softmax(-1)
            targets, target_lengths = _encode_texts(texts, splits.alphabet)
            loss = F.ctc_loss(log_probs.permute(1, 0, 2), targets, lengths, target_lengths, zero_infinity=True)
            decoded = ctc_greedy_batch(logits.cpu().numpy(), splits.alphabet, 0, lengths.tolist())
            predictions.extend(text for text, _ in decoded)
            references.extend(texts)
            total_loss += float(loss) * images.shape[0]
            count += images.shape[0]
        else:
            images, targets = batch
            images, targets = images.to(device), targets.to(device)
            logits = core(images).float()
            total_loss += float(F.cross_entropy(logits, targets, reduction="sum"))
            correct += int((logits.argmax(1) == targets).sum())
            count += images.shape[0]
    core.train(was_training)
    if count == 0:
        raise InputError("evaluation split is empty; expected at least one sample (check data.*_fraction)")
    metrics = {"loss": total_loss / count, "samples": count}
    if splits.task == "ctc":
        metrics.update(cer=cer(predictions, references), exact_match=exact_match(predictions, references))
    else:
        metrics["accuracy"] = correct / count
    return metrics


def _is_better(task: str, new: dict[str, float], best: dict[str, float] | None) -> bool:
    if best is None:
        return True
    if task == "ctc":
        return (new["cer"], new["loss"]) < (best["cer"], best["loss"])
    return (new["accuracy"], -new["loss"]) > (best["accuracy"], -best["loss"])


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in metrics.items() if k != "samples"}


# ---------------------------------------------------------------------------------------------
# Progress


class _Progress:
    """tqdm on a terminal (rank 0 only), otherwise silent; epoch lines are logged separately."""

    def __init__(self, enabled: bool, total: int, desc: str) -> None:
        self.bar = None
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)
            except ImportError:
                self.bar = None

    def update(self, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------------------------
# The loop


def _payload(cfg, splits, model, metrics, epoch, train_state=None) -> dict[str, Any]:
    payload = {
        "config": cfg.to_dict(),
        "task": splits.task,
        "labels": list(splits.labels),
        "alphabet": splits.alphabet,
        "preprocess": asdict(cfg.preprocess),
        "state_dict": {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()},
        "metrics": dict(metrics),
        "epoch": epoch,
    }
    if train_state is not None:
        payload["train_state"] = train_state
    return payload


def train(
    cfg: ExperimentConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    log=None,
) -> TrainResult:
    """Train a model from a config and write ``best.pt``, ``last.pt``, ``metrics.jsonl``, ``summary.json``.

    Args:
        cfg: the experiment config (``edgeseq.config.load_config``).
        out_dir: the run folder (created).
        resume: continue from ``out_dir/last.pt`` (epochs already done are skipped).
        log: a callable taking one line of text (default: print to stderr on rank 0).

    Returns:
        TrainResult with the test metrics of the best checkpoint.
    """
    from edgeseq.nn import build_model

    start = time.perf_counter()
    device_kind = _device_kind(cfg.train.device)
    dist_info = _init_distributed(device_kind)
    out = Path(out_dir)
    if dist_info.is_main:
        ensure_writable_dir(out)
    say = (log or (lambda line: print(line, file=sys.stderr, flush=True))) if dist_info.is_main else (lambda _l: None)

    resume_ckpt = None
    if resume:
        # Checked before the data and model are built: a refused resume should cost nothing.
        resume_ckpt = load_checkpoint(out / "last.pt")
        check_resume_config(config_from_dict(resume_ckpt["config"]), cfg, resume_ckpt["path"])

    device = _pick_device(device_kind, dist_info)
    threads = _set_threads(cfg, dist_info)
    _seed_everything(cfg.train.seed)
    splits = build_datasets(cfg)
    if len(splits.train) == 0 or len(splits.val) == 0:
        raise InputError(
            f"the train/val splits are empty (train={len(splits.train)}, val={len(splits.val)}); "
            "expected more data or smaller data.val_fraction/test_fraction"
        )
    model = build_model(cfg.model, cfg.preprocess, splits.num_outputs).to(device)
    params = [p for p in model.parameters() if p.requires_grad]

    sampler = None
    if dist_info.enabled:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(
            splits.train, num_replicas=dist_info.world_size, rank=dist_info.rank, shuffle=True, seed=cfg.train.seed
        )
    train_loader = _loader(
        splits.train, cfg.train.batch_size, True, splits, cfg.train.seed, sampler, cfg.data.num_workers
    )
    steps_per_epoch = len(train_loader)
    if cfg.train.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.train.max_steps_per_epoch)
    optimizer = _make_optimizer(cfg, params)
    scheduler = _make_scheduler(cfg, optimizer, steps_per_epoch)
    use_amp = cfg.train.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    def autocast():
        return torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp)

    start_epoch, best_val, history = 0, None, []
    if resume_ckpt is not None:
        last = resume_ckpt["path"]
        try:
            _unwrap(model).load_state_dict(resume_ckpt["state_dict"])
        except RuntimeError as exc:
            raise ModelFileError(
                f"--resume: the weights in {last!r} do not fit the model the config builds: "
                f"{state_dict_error_line(exc)}"
            ) from None
        state = resume_ckpt.get("train_state") or {}
        try:
            if "optimizer" in state:
                optimizer.load_state_dict(state["optimizer"])
            saved_epochs = int(resume_ckpt["config"]["train"]["epochs"])
            if scheduler is not None and saved_epochs == cfg.train.epochs and state.get("scheduler"):
                scheduler.load_state_dict(state["scheduler"])
            elif scheduler is not None:
                # A longer (or shorter) run: the saved schedule was planned for saved_epochs, and loading it
                # would restart cosine near the top or overrun onecycle. Follow the new plan from here.
                _advance(scheduler, optimizer, int(resume_ckpt["epoch"]) * steps_per_epoch)
            if state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            if "torch_rng" in state:
                torch.set_rng_state(state["torch_rng"])
            if "python_rng" in state:
                random.setstate(_as_tuple(state["python_rng"]))
            start_epoch = int(resume_ckpt["epoch"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            # Only a hand-edited or foreign last.pt gets here: the config check above rules out a changed run.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(
                f"--resume: the training state in {last!r} cannot be restored: {first[:200]}"
            ) from None
        best_val = state.get("best_val")
        history = list(state.get("history", []))
        say(f"resumed from {last} after epoch {start_epoch}")

    if dist_info.enabled:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    effective_batch = cfg.train.batch_size * dist_info.world_size
    say(
        f"training {cfg.name}: {sum(p.numel() for p in params):,} trainable parameters, "
        f"{len(splits.train)} train / {len(splits.val)} val / {len(splits.test)} test samples, device {device}, "
        f"{threads} thread(s) per process, world size {dist_info.world_size}, "
        f"effective batch {effective_batch}, lr {cfg.train.lr:g}"
    )
    for epoch in range(start_epoch, cfg.train.epochs):
        epoch_start = time.perf_counter()
        if sampler is not None:
            sampler.set_epoch(epoch)
        elif train_loader.generator is not None:
            # Shuffle order depends on (seed, epoch) only, so a resumed run sees the same batches.
            train_loader.generator.manual_seed(cfg.train.seed + epoch)
        model.train()
        _freeze_bn_if_needed(model)
        sums = [0.0, 0.0, 0.0]  # loss × n, correct, n
        progress = _Progress(cfg.train.progress and dist_info.is_main, steps_per_epoch, f"epoch {epoch + 1}")
        for step, batch in enumerate(train_loader):
            if step >= steps_per_epoch:
                break
            optimizer.zero_grad(set_to_none=True)
            loss, correct, n = _batch_loss(model, batch, splits, device, autocast)
            if not torch.isfinite(loss):
                raise InputError(
                    f"training loss became {float(loss)} at epoch {epoch + 1}, step {step}; try a lower train.lr"
                )
            scaler.scale(loss).backward()
            if cfg.train.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
            sums[0] += float(loss.detach()) * n
            sums[1] += correct
            sums[2] += n
            progress.update(float(loss.detach()))
        progress.close()
        loss_sum, correct_sum, count = _all_reduce_sum(sums, dist_info, device)
        train_metrics = {"train_loss": loss_sum / max(count, 1)}
        if splits.task == "classification":
            train_metrics["train_accuracy"] = correct_sum / max(count, 1)

        val_metrics = evaluate(model, splits.val, splits, device=device) if dist_info.is_main else None
        val_metrics = _broadcast_object(val_metrics, dist_info)
        improved = _is_better(splits.task, val_metrics, best_val)
        if improved:
            best_val = val_metrics
        record = {
            "epoch": epoch + 1,
            **train_metrics,
            **_prefixed("val", val_metrics),
            "lr": optimizer.param_groups[0]["lr"],
            "epoch_time_s": round(time.perf_counter() - epoch_start, 3),
            "world_size": dist_info.world_size,
        }
        history.append(record)
        if dist_info.is_main:
            metrics_now = {**train_metrics, **_prefixed("val", val_metrics)}
            if improved:
                save_checkpoint(out / "best.pt", _payload(cfg, splits, model, metrics_now, epoch + 1))
            train_state = {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict() if use_amp else None,
                "torch_rng": torch.get_rng_state(),
                "python_rng": random.getstate(),
                "best_val": best_val,
                "history": history,
            }
            save_checkpoint(out / "last.pt", _payload(cfg, splits, model, metrics_now, epoch + 1, train_state))
            # Rewritten whole from the history in last.pt: a kill never leaves a partial or missing line.
            write_text_atomic(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))
            say(_format_epoch(record, cfg.train.epochs, improved))
        _barrier(dist_info)

    # Final evaluation of the best weights on the test split (rank 0), recorded in best.pt.
    result_metrics: dict[str, float] = {}
    if dist_info.is_main:
        best_ckpt = load_checkpoint(out / "best.pt")
        best_model, _ = model_from_checkpoint(best_ckpt)
        best_model.to(device)
        test_metrics = evaluate(best_model, splits.test, splits, device=device)
        result_metrics = {**best_ckpt["metrics"], **_prefixed("test", test_metrics)}
        best_ckpt.pop("path", None)
        best_ckpt["metrics"] = result_metrics
        save_checkpoint(out / "best.pt", best_ckpt)
        headline = (
            f"test cer {test_metrics['cer']:.4f}, exact match {test_metrics['exact_match']:.4f}"
            if splits.task == "ctc"
            else f"test accuracy {test_metrics['accuracy']:.4f}"
        )
        say(
            f"done: {headline} (best epoch {best_ckpt['epoch']}), {time.perf_counter() - start:.1f}s; {out / 'best.pt'}"
        )
    result_metrics = _broadcast_object(result_metrics, dist_info)
    result = TrainResult(
        out_dir=str(out),
        best_checkpoint=str(out / "best.pt"),
        last_checkpoint=str(out / "last.pt"),
        metrics=result_metrics,
        epochs=max(cfg.train.epochs, start_epoch),
        wall_time_s=round(time.perf_counter() - start, 3),
        world_size=dist_info.world_size,
        effective_batch_size=effective_batch,
        history=history,
    )
    if dist_info.is_main:
        write_json_atomic(out / "summary.json", result.to_json())
    return result


def _advance(scheduler: Any, optimizer: Any, steps: int) -> None:
    """Step a freshly built scheduler ``steps`` times (no optimizer step has run yet in this process).

    The restored optimizer carries the old schedule's last learning rate; cosine updates it
    recursively, so it starts again from the schedule's initial rate.
    """
    import warnings

    for group in optimizer.param_groups:
        group["lr"] = group.get("initial_lr", group["lr"])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
        for _ in range(steps):
            scheduler.step()


def resume_config_differences(saved: ExperimentConfig, new: ExperimentConfig) -> list[tuple[str, Any, Any]]:
    """The settings a resumed run must keep that differ between two configs.

    Args:
        saved: the config stored in the run's ``last.pt``.
        new: the config of the resuming invocation.

    Returns:
        ``(dotted key, saved value, new value)`` for each difference, in config order; empty when resuming is safe.
    """
    old_dict, new_dict = saved.to_dict(), new.to_dict()
    keys = [f"{section}.{key}" for section in RESUME_SECTIONS for key in old_dict[section]]
    keys += [f"train.{key}" for key in RESUME_TRAIN_KEYS]
    differences = []
    for dotted in keys:
        if dotted in RESUME_FREE_KEYS:
            continue
        section, key = dotted.split(".", 1)
        old, value = old_dict[section][key], new_dict[section][key]
        if old != value:
            differences.append((dotted, old, value))
    return differences


def check_resume_config(saved: ExperimentConfig, new: ExperimentConfig, source: str) -> None:
    """Refuse to resume a run with settings that change its model, data or schedule.

    Args:
        saved: the config stored in the run's ``last.pt``.
        new: the config of the resuming invocation.
        source: the ``last.pt`` path, for the message.

    Raises:
        ConfigError: one line listing every differing key as ``key: old -> new``.
    """
    differences = resume_config_differences(saved, new)
    if not differences:
        return
    names = list(dict.fromkeys(key.split(".")[0] for key, _, _ in differences))
    sections = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    listed = ", ".join(f"{key}: {old!r} -> {value!r}" for key, old, value in differences)
    raise ConfigError(
        f"--resume: the {sections} config differs from the run in {source!r} ({listed}); resume continues the "
        "same run, so expected the same settings (start a new --out folder to change them)"
    )


def _as_tuple(value: Any) -> Any:
    """random.setstate needs tuples; a checkpoint round-trip may have turned them into lists."""
    if isinstance(value, list):
        return tuple(_as_tuple(v) for v in value)
    return value


def _freeze_bn_if_needed(model: nn.Module) -> None:
    core = _unwrap(model)
    if getattr(core, "freeze_backbone", False):
        core.backbone.eval()


def _format_epoch(record: dict[str, Any], epochs: int, improved: bool) -> str:
    parts = [f"epoch {record['epoch']}/{epochs}", f"loss {record['train_loss']:.4f}"]
    for key in ("train_accuracy", "val_accuracy", "val_cer", "val_exact_match"):
        if key in record:
            parts.append(f"{key.replace('_', ' ')} {record[key]:.4f}")
    parts.append(f"{record['epoch_time_s']:.1f}s")
    return ", ".join(parts) + (" *" if improved else "")


def evaluate_checkpoint(path: str | Path, split: str = "test", batch_size: int = 128) -> dict[str, float]:
    """Evaluate a checkpoint on a split of the data its config names (``train``, ``val`` or ``test``)."""
    if split not in ("train", "val", "test"):
        raise InputError(f"split: got {split!r}; expected one of train, val, test")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size: got {batch_size!r}; expected a positive integer")
    model, ckpt = model_from_checkpoint(path)
    cfg = config_from_dict(ckpt["config"])
    splits = build_datasets(cfg)
    metrics = evaluate(model, getattr(splits, split), splits, batch_size=batch_size)
    metrics["checkpoint"] = ckpt["path"]
    metrics["split"] = split
    return metrics
