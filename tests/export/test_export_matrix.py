"""Export + validate over the registries: backbone x sequencer x RNN kind (uni/bi, 1-2 layers) x head.

The full product is too slow for CI, so the cases cover every value of every axis, and every RNN
kind x direction x depth combination with the ``columns`` sequencer (the dynamic-width case that
docs/traps.md #1 is about). Each case asserts native RNN node counts, symbolic dynamic axes in the
input and the outputs, the embedded metadata and the parity report of the export.
"""

from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import edgeseq  # noqa: E402
from edgeseq.export import export_onnx  # noqa: E402
from edgeseq.graphs import rnn_nodes  # noqa: E402
from edgeseq.nn import BACKBONES, HEADS, RNNS, SEQUENCERS  # noqa: E402

KINDS = RNNS.names()
HEAD_NAMES = HEADS.names()
ONNX_OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
BIG_BACKBONES = {"resnet34", "resnet50"}  # a few seconds each at tiny inputs: marked slow
INPUT_SIZE = {"vgg11_bn": (32, 64)}  # five 2x2 pools need at least 32 pixels

# (backbone, sequencer, rnn, bidirectional, num_layers, head)
COLUMNS_CASES = [
    ("smallcnn", "columns", kind, bi, layers, HEAD_NAMES[i % len(HEAD_NAMES)])
    for i, (kind, bi, layers) in enumerate(itertools.product(KINDS, (False, True), (1, 2)))
]
OTHER_SEQUENCER_CASES = [
    ("smallcnn", seq, KINDS[i % len(KINDS)], i % 2 == 1, 1 + (i // 2) % 2, HEAD_NAMES[i % len(HEAD_NAMES)])
    for i, seq in enumerate(s for s in SEQUENCERS.names() if s != "columns" for _ in range(len(HEAD_NAMES)))
]
BACKBONE_CASES = [
    (name, ("rows", "columns")[i % 2], KINDS[i % len(KINDS)], i % 2 == 0, 1 + i % 2, HEAD_NAMES[i % len(HEAD_NAMES)])
    for i, name in enumerate(n for n in BACKBONES.names() if n != "smallcnn")
]
CASES = COLUMNS_CASES + OTHER_SEQUENCER_CASES + BACKBONE_CASES


def _param(case):
    marks = [pytest.mark.slow] if case[0] in BIG_BACKBONES else []
    backbone, seq, kind, bi, layers, head = case
    return pytest.param(*case, id=f"{backbone}-{seq}-{kind}-{'bi' if bi else 'uni'}{layers}-{head}", marks=marks)


def test_cases_cover_every_registered_value():
    """No registered component may be left out of the matrix."""
    for axis, names in enumerate((BACKBONES.names(), SEQUENCERS.names(), KINDS)):
        assert set(names) <= {c[axis] for c in CASES}
    assert set(HEAD_NAMES) <= {c[5] for c in CASES}
    assert {(k, bi, n) for _, s, k, bi, n, _ in CASES if s == "columns"} >= set(
        itertools.product(KINDS, (False, True), (1, 2))
    )


@pytest.mark.parametrize(
    ("backbone", "sequencer", "rnn", "bidirectional", "num_layers", "head"), [_param(c) for c in CASES]
)
def test_export_and_validate(
    tmp_path,
    make_model,
    preprocess_spec,
    graph_dims,
    metadata_of,
    backbone,
    sequencer,
    rnn,
    bidirectional,
    num_layers,
    head,
):
    """Export with the default (auto) path, then check graph structure, axes, metadata and parity."""
    from edgeseq.runtime.metadata import ModelMetadata

    pre = preprocess_spec(*INPUT_SIZE.get(backbone, (16, 32)))
    overrides = dict(sequencer=sequencer, rnn=rnn, bidirectional=bidirectional, num_layers=num_layers, head=head)
    if backbone != "smallcnn":
        overrides.update(backbone=backbone, backbone_args={})
    model = make_model(5, pre, **overrides)
    labels = list("abcde")
    meta = ModelMetadata(
        task=model.task,
        labels=labels if model.task == "classification" else [],
        alphabet="abcd" if model.task == "ctc" else "",
        preprocess={"height": pre.height, "width": pre.width, "color": pre.color, "mean": pre.mean, "std": pre.std},
    )
    path = tmp_path / "model.onnx"
    example = torch.randn(1, model.in_channels, pre.height, pre.width)

    result = export_onnx(model, example, path, metadata=meta)

    # TorchScript is the default path and keeps every axis dynamic (docs/traps.md #1)
    assert result.exporter == "torchscript"
    # one native node per layer, bidirectional as one node with direction="bidirectional"
    proto_nodes = rnn_nodes(onnx.load(str(path)))
    assert [n["op"] for n in proto_nodes] == [ONNX_OP[rnn]] * num_layers
    assert all(n["direction"] == ("bidirectional" if bidirectional else "forward") for n in proto_nodes)
    assert result.rnn_nodes.get(ONNX_OP[rnn]) == num_layers

    dims = graph_dims(path)
    in_axes, out_axes = model.dynamic_input_axes(), model.output_axes()
    for axis, size in enumerate(dims["images"]):
        assert isinstance(size, str) == (axis in in_axes), (axis, dims["images"])
    for axis, size in enumerate(dims["logits"]):
        assert isinstance(size, str) == (axis in out_axes), (axis, dims["logits"])
    assert dims["logits"][-1] == 5

    embedded = metadata_of(path)
    assert embedded.task == model.task
    assert embedded.labels == meta.labels and embedded.alphabet == meta.alphabet
    assert embedded.input.dynamic_axes == {str(a): n for a, n in in_axes.items()}
    assert embedded.input.layout == "NCHW" and embedded.input.dtype == "float32"
    assert embedded.preprocess["in_graph"] is False and embedded.preprocess["height"] == pre.height
    assert embedded.version == edgeseq.__version__
    assert embedded.exporter["path"] == "torchscript" and embedded.exporter["opset"] == result.opset

    report = result.parity
    assert report.passed, report.to_table()
    worst = report.worst()["logits"]
    assert worst["max_abs"] < 1e-4 and worst["min_top1"] == 1.0
    seq_axes = [a for a in in_axes if a != 0]
    if seq_axes:  # at least three sizes other than the example, the smallest legal one among them
        base = [pre.height, pre.width]
        axis = seq_axes[0] - 2
        others = {tuple(s) for s in report.sizes if s != base}
        assert len(others) >= 3
        smallest = model.min_input_size()[axis]
        assert smallest in {s[axis] for s in others} or smallest == base[axis]  # the example may be the smallest
