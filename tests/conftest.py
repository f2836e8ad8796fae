"""Shared test settings: keep torch to one thread (the CI machine has 2 cores shared by all tests)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

try:  # torch is optional: the runtime tests run without it
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - base install
    pass
