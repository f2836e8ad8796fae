"""A PyTorch checkpoint handed to the runtime is named as one (with the export command), not as bad protobuf."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from edgeseq.errors import ModelFileError
from edgeseq.runtime import Predictor
from edgeseq.runtime.modelfile.policy import looks_like_torch_checkpoint


def test_a_real_torch_checkpoint_is_recognised(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "best.pt"
    torch.save({"model": {"w": torch.zeros(2)}}, path)
    with pytest.raises(
        ModelFileError, match=r"looks like a PyTorch checkpoint.*edgeseq export .*best.pt -o model.onnx"
    ):
        Predictor(path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_legacy_pickle_checkpoints_are_recognised(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "old.pt"
    path.write_bytes(pickle.dumps({"state_dict": {}}, protocol=protocol))
    with pytest.raises(ModelFileError, match="looks like a PyTorch checkpoint"):
        Predictor(path)


def test_other_garbage_keeps_the_onnx_message(tmp_path: Path) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x00\x01garbage that is not protobuf")
    with pytest.raises(ModelFileError, match="expected a valid ONNX model"):
        Predictor(path)
    assert not looks_like_torch_checkpoint(b"\x08\x07\x12\x05")  # an ONNX model's first bytes
