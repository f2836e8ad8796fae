"""Under torchrun, train() leaves the process group it joined before returning; a group it did not create stays.

A gloo group left to the interpreter's exit keeps C++ worker threads into finalization, where tearing
them down can abort the process (SIGABRT, "terminate called without an active exception") after the
checkpoint was written, and torchrun reports the run as failed. The abort is timing-dependent, so the
test checks the cause deterministically: two real processes with a gloo group, as torchrun starts them
(the same environment variables), and what each finds after train() returns.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys
import torch.distributed as dist
from edgeseq.nn import tiny_config
from edgeseq.training import train

own_group = sys.argv[2] == "caller-owns"
if own_group:
    dist.init_process_group("gloo")
cfg = tiny_config("test_rows_lstm")
train(cfg, sys.argv[1], log=lambda _line: None)
still = dist.is_initialized()
if own_group and still:
    dist.destroy_process_group()
print(json.dumps({"initialized_after_train": still}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_two_ranks(out: Path, mode: str) -> list[dict]:
    port = _free_port()
    procs = []
    for rank in range(2):
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "WORLD_SIZE": "2",
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "LOCAL_WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", CHILD, str(out), mode],
                env=env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-2000:]
        assert "terminate called" not in stderr
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    return results


@pytest.mark.slow
def test_train_leaves_the_group_it_joined(tmp_path: Path) -> None:
    results = _run_two_ranks(tmp_path / "run", "train-owns")
    assert results == [{"initialized_after_train": False}] * 2
    assert (tmp_path / "run" / "best.pt").is_file()


@pytest.mark.slow
def test_train_keeps_a_group_the_caller_created(tmp_path: Path) -> None:
    results = _run_two_ranks(tmp_path / "run", "caller-owns")
    assert results == [{"initialized_after_train": True}] * 2
