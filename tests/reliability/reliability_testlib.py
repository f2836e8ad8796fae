"""Helpers shared by the reliability tests (a plain module: tests/reliability is on sys.path); the tiny
models and the helpers every folder uses are in ``tests/testkit.py``.

They live here rather than in conftest.py because ``from conftest import ...`` picks whichever folder's
conftest was imported first when several test folders run in one session.

Every test that feeds a bad input calls :func:`tally` with its kind; the conftest hook prints the counts
and writes them to ``$TMPDIR/edgeseq-reliability-summary.json`` for the closing note.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from testkit import REPO as REPO  # re-exported: the battery's tests import it from here

SUMMARY_FILE = Path(tempfile.gettempdir()) / "edgeseq-reliability-summary.json"
FLOATS_1_2 = np.array([1.0, 2.0], dtype=np.float32).tobytes()

# Bad inputs tried, by kind, and how each ended: "rejected" (an EdgeseqError), "accepted" (a valid result
# for an input that turned out to be legal) or "crash" (any other exception: must stay 0).
TALLY: dict[str, Counter] = {}


def tally(kind: str, outcome: str = "rejected", count: int = 1) -> None:
    """Count one bad input of ``kind`` and how it ended."""
    TALLY.setdefault(kind, Counter())[outcome] += count


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def add_graph(nodes, initializers=(), *, opsets=(("", 17),), functions=()):
    """A small ONNX ModelProto built with onnx.helper: input ``x`` and output ``y``, float [2]."""
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]
    graph = helper.make_graph(list(nodes), "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets], functions=list(functions)
    )
    model.ir_version = 8
    return model


def external_model(folder: Path, location: str, *, offset: int = 0, length: int = 8, data: bytes | None = None):
    """Write ``model.onnx`` in ``folder`` whose initializer ``w`` (2 floats) lives at ``location``.

    ``y = x + w``. When ``data`` is given it is written to ``folder/location`` first (which must stay inside).
    Returns the model path.
    """
    from onnx import TensorProto, helper

    folder.mkdir(parents=True, exist_ok=True)
    if data is not None:
        (folder / location).parent.mkdir(parents=True, exist_ok=True)
        (folder / location).write_bytes(data)
    w = helper.make_tensor("w", TensorProto.FLOAT, [2], vals=[0.0, 0.0])
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    model = add_graph([helper.make_node("Add", ["x", "w"], ["y"])], [w])
    path = folder / "model.onnx"
    # serialised directly: onnx.save would try to (re)write the external data itself
    path.write_bytes(model.SerializeToString())
    return path
