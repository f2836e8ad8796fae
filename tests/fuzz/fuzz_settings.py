"""Shared hypothesis settings of the fuzz tier (a plain module; tests/fuzz is on sys.path).

Runs are deterministic (``derandomize``) and keep no example database, so CI sees the same examples
every time; ``EDGESEQ_FUZZ_EXAMPLES`` raises the number of examples for a longer local run. Applied per
test (not as a global profile) so other folders' property tests keep their own settings.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ = settings(
    max_examples=int(os.environ.get("EDGESEQ_FUZZ_EXAMPLES", "40")),
    deadline=None,  # a model call on a loaded 2-core machine can take 100 ms
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
