"""torchrun and DistributedDataParallel: ranks, devices, threads per process, and the collectives the loop uses.

Under torchrun (``WORLD_SIZE > 1``) each process joins one process group: NCCL for CUDA tensors, gloo
for CPU ones. Every helper is a no-op in a single process, so the loop calls them unconditionally.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from edgeseq.cpu import usable_physical_cores
from edgeseq.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run: its global and local rank, and how many processes there are."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    owns_group: bool = False  # this process joined the group in init_distributed (so it leaves it at the end)

    @property
    def enabled(self) -> bool:
        """True under torchrun with more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that evaluates, logs and writes files."""
        return self.rank == 0


def device_kind(requested: str) -> str:
    """Resolve ``train.device`` to "cuda" or "cpu" ("auto" is cuda when torch sees a GPU).

    Raises:
        ConfigError: "cuda" was asked for and torch sees no CUDA GPU.
    """
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device: 'cuda' was asked for but torch sees no CUDA GPU; expected 'cpu' or 'auto'")
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        return "cuda"
    return "cpu"


def init_distributed(kind: str) -> DistInfo:
    """Join the torchrun process group (NCCL for "cuda", gloo for "cpu"); a single process joins nothing."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if kind == "cuda":
        # Bind this rank to its own GPU before NCCL forms the group; otherwise every rank's
        # communicator (and any tensor created on "cuda") lands on GPU 0.
        torch.cuda.set_device(local_rank)
    owns_group = not dist.is_initialized()
    if owns_group:
        dist.init_process_group(backend="nccl" if kind == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), local_rank, dist.get_world_size(), owns_group)


def shutdown_distributed(dist_info: DistInfo) -> None:
    """Leave the process group ``init_distributed`` joined, once every rank got here.

    A gloo group left to the interpreter's exit keeps its C++ worker threads (holding work objects with
    Python references) alive into finalization, where tearing them down can abort the process
    ("terminate called without an active exception", SIGABRT) after the run's files were written, and
    torchrun then reports the run as failed. Called on the paths every rank takes (a finished run, a run
    folder refused on all ranks), never after one rank failed: destroying a group while other ranks still
    wait in a collective can hang. A group the caller created is the caller's to destroy.
    """
    if dist_info.owns_group and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def pick_device(kind: str, dist_info: DistInfo) -> torch.device:
    """The torch device for a resolved kind ("cuda" or "cpu"); under torchrun, the rank's own GPU."""
    if kind == "cuda":
        return torch.device("cuda", dist_info.local_rank if dist_info.enabled else 0)
    return torch.device("cpu")


def set_threads(requested: int, dist_info: DistInfo) -> int:
    """Set torch's intra-op threads: ``requested``, or (0) the physical cores shared among this node's processes.

    Returns:
        The thread count set.
    """
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", dist_info.world_size))
    # Oversubscribing cores makes every process slower (docs/traps.md #15 holds for torch too).
    threads = requested or max(1, usable_physical_cores() // max(1, local_world))
    torch.set_num_threads(threads)
    return threads


def all_reduce_sum(values: list[float], dist_info: DistInfo, device: torch.device) -> list[float]:
    """Sum ``values`` element-wise over all processes (float64); the values themselves in a single process."""
    if not dist_info.enabled:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return [float(v) for v in tensor.tolist()]


def broadcast_object(obj: Any, dist_info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every process (pickled by torch.distributed)."""
    if not dist_info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(dist_info: DistInfo) -> None:
    """Wait for every process (no-op in a single process)."""
    if dist_info.enabled:
        dist.barrier()
