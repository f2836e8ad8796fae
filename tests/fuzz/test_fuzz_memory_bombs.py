"""Fuzz: memory-bomb models of every kind and size against memory limits (issue 20's fuzz tier).

The bomb fixture (``memory_bombs``: the digits model plus a branch that makes one tensor of N floats
from tiny constants) is only estimated here, never run in this process. Classes:

* the bomb's tensor is more than 4x the limit -> refused with ``ResourceLimitError`` naming the limit;
* everything the model holds is far below the limit (the tensor's 4N bytes, with the arena's doubling
  and the output copies, under a quarter of it) -> accepted: the estimate is complete and under the limit.

Sizes between the two are left out: there the answer is the estimate's to give, not this oracle's.
And one bomb the estimate cannot see (sized from the input's values) is run, under a memory limit, in a
child process whose address space is capped: it must end in a one-line error, exit code 2.
"""

from __future__ import annotations

from pathlib import Path

from child_limits import run_limited
from fuzz_settings import FUZZ
from hypothesis import assume, given
from hypothesis import strategies as st
from memory_bombs import KINDS, bomb_model

from edgeseq.errors import ResourceLimitError
from edgeseq.runtime.limits import check_model_memory

MIB = 1024**2
WEIGHTS = 360 * 1024  # the digits model's initializers, rounded up


@FUZZ
@given(
    kind=st.sampled_from([k for k in KINDS if k != "dynamic"]),
    elements=st.integers(1, 10**11),
    limit_mib=st.integers(1, 64 * 1024),
)
def test_bombs_are_refused_exactly_when_far_over_the_limit(tmp_path_factory, kind, elements, limit_mib) -> None:
    limit = limit_mib * MIB
    tensor = 4 * elements if kind != "Resize" else 4 * int(elements**0.5) ** 2
    far_over = tensor > 4 * limit
    far_under = WEIGHTS + 8 * tensor + MIB < limit // 4
    assume(far_over or far_under)
    path = bomb_model(tmp_path_factory.mktemp("bomb"), kind, elements)
    if far_over:
        try:
            check_model_memory(path, limit=limit)
        except ResourceLimitError as exc:
            assert exc.limit == limit and exc.needed > limit and "\n" not in str(exc)
        else:
            raise AssertionError(f"{kind} bomb of {elements} floats accepted under {limit_mib} MiB")
    else:
        estimate = check_model_memory(path, limit=limit)
        assert estimate is not None and estimate.complete and estimate.total_bytes <= limit


def test_a_bomb_only_the_run_reveals_ends_in_one_line_under_a_capped_child(tmp_path: Path) -> None:
    path = bomb_model(tmp_path, "dynamic", 3_000_000_000)
    image = tmp_path / "digit.pgm"
    image.write_bytes(b"P5 8 8 255\n" + bytes(range(64)))
    child = run_limited(
        cli=["predict", str(path), str(image)], address_space=4 * 1024**3, env={"EDGESEQ_MEMORY_LIMIT": "512M"}
    )
    assert child.returncode == 2, child.stderr
    (line,) = child.stderr.strip().splitlines()
    assert line.startswith("edgeseq predict: error: model ") and "ran out of memory" in line
