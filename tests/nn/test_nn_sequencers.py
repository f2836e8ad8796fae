"""Sequencers: equal to the straightforward loop definitions, shapes as declared, dynamic under torch.export."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgeseq.nn import SEQUENCERS  # noqa: E402

B, C, H, W = 2, 3, 7, 5


def loop_rows(fm, step):
    return torch.stack([fm[:, :, i, :].reshape(fm.shape[0], -1) for i in range(0, fm.shape[2], step)], 1)


def loop_columns(fm, step):
    return torch.stack([fm[:, :, :, i].reshape(fm.shape[0], -1) for i in range(0, fm.shape[3], step)], 1)


def loop_channels(fm, step):
    return torch.stack([fm[:, i].reshape(fm.shape[0], -1) for i in range(0, fm.shape[1], step)], 1)


LOOPS = {"rows": loop_rows, "columns": loop_columns, "channels": loop_channels}


def test_registry_names():
    assert SEQUENCERS.names() == ["rows", "columns", "channels"]
    assert all(SEQUENCERS.describe(name) for name in SEQUENCERS)


@pytest.mark.parametrize("step", [1, 2, 3])
@pytest.mark.parametrize("name", ["rows", "columns", "channels"])
def test_matches_loop_definition(name, step):
    fm = torch.randn(B, C, H, W)
    out = SEQUENCERS.get(name)(step)(fm)
    assert torch.equal(out, LOOPS[name](fm, step))  # pure data movement: bit-exact


@pytest.mark.parametrize("step", [1, 2, 4])
@pytest.mark.parametrize("name", ["rows", "columns", "channels"])
def test_sequence_shape_matches_forward(name, step):
    seq = SEQUENCERS.get(name)(step)
    for c, h, w in [(3, 7, 5), (4, 1, 9), (1, 8, 8)]:
        out = seq(torch.randn(2, c, h, w))
        assert tuple(out.shape[1:]) == seq.sequence_shape(c, h, w)


def test_bad_step_is_refused():
    from edgeseq.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model\.step: got 0"):
        SEQUENCERS.get("rows")(0)


@pytest.mark.parametrize("step", [1, 2])
@pytest.mark.parametrize("name", ["rows", "columns"])
def test_torch_export_keeps_batch_and_sequence_axis_dynamic(name, step):
    """Export with a symbolic batch and sequence axis, then run at sizes other than the example."""
    from torch.export import Dim

    seq = SEQUENCERS.get(name)(step)
    axis = seq.image_axis
    # at least step + 1 cells so T >= 2: torch.export specialises size 1 (docs/traps.md #6)
    shapes = {0: Dim("batch", min=1, max=64), axis: Dim("n", min=max(2, step + 1), max=1024)}
    ep = torch.export.export(seq, (torch.randn(2, 4, 9, 16),), dynamic_shapes=(shapes,))
    for batch, n in [(1, 3), (5, 23)]:
        size = [batch, 4, 9, 16]
        size[axis] = n
        fm = torch.randn(*size)
        assert torch.equal(ep.module()(fm), seq(fm))
