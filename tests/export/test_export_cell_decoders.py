"""Attention decoders built from LSTMCell/GRUCell: fixed-length loops export unrolled, scripted ones as ONNX Loop.

The test module is SAR-shaped (docTR's SAR, ASTER/MORAN family): CNN -> max over the height -> 2-layer
BiLSTM encoder -> two stacked LSTMCells with additive attention over the encoder states, a linear classifier
and the argmax fed back through an embedding, for a fixed number of steps (24 here; SAR uses 30+).
"""

from __future__ import annotations

import json
from typing import List  # noqa: UP035 - TorchScript needs typing.List

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from torch import nn  # noqa: E402

from edgeseq.errors import ExportError  # noqa: E402
from edgeseq.export import ExportOptions, export_onnx  # noqa: E402
from edgeseq.export.loop_detect import find_cell_loops  # noqa: E402
from edgeseq.export.loops import CellLoop, LoopRefused  # noqa: E402
from edgeseq.export.plan import ExportPlan  # noqa: E402
from edgeseq.export.verify import check_structure  # noqa: E402
from edgeseq.graphs import load_graph, op_histogram  # noqa: E402
from edgeseq.parity import check_parity  # noqa: E402

AXES = {"images": {0: "batch", 3: "width"}}
STEPS = 24
WIDTHS = [20, 64, 200]  # none equal to the example's 128; 20 is close to the smallest legal width
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.script is deprecated in 2.14


class SAR(nn.Module):
    """CNN -> BiLSTM encoder -> 2-layer LSTMCell attention decoder with argmax feedback.

    ``steps``: "fixed" (STEPS), "width" (one step per encoder column: depends on the input), or "eos"
    (at most STEPS, stopping when every sequence emitted the end token: depends on the content).
    """

    def __init__(self, steps: str = "fixed", classes: int = 40, hidden: int = 32, emb: int = 16) -> None:
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(1, 16, 3, 1, 1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(16, 32, 3, 1, 1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
        )
        self.encoder = nn.LSTM(32, hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.decoder = Decoder(classes, hidden, emb)
        self.steps = steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enc, _ = self.encoder(self.cnn(x).amax(dim=2).permute(0, 2, 1))  # (B, T, 2H)
        return self.decoder(enc, -1 if self.steps == "width" else STEPS, self.steps == "eos")


class Decoder(nn.Module):
    """Two stacked LSTMCells, additive attention, argmax feedback (written so TorchScript can script it)."""

    def __init__(self, classes: int, hidden: int, emb: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(classes, emb)
        self.cell1 = nn.LSTMCell(emb + 2 * hidden, hidden)
        self.cell2 = nn.LSTMCell(hidden, hidden)
        self.att_e = nn.Linear(2 * hidden, hidden)
        self.att_h = nn.Linear(hidden, hidden)
        self.att_v = nn.Linear(hidden, 1)
        self.fc = nn.Linear(3 * hidden, classes)
        self.hidden = hidden

    def forward(self, enc: torch.Tensor, n: int, eos_stop: bool) -> torch.Tensor:
        """``n`` steps (-1: one per encoder column, read inside so a scripted loop counts at run time)."""
        if n < 0:
            n = enc.size(1)
        holistic, proj = enc.mean(dim=1), self.att_e(enc)
        h1 = enc.new_zeros(enc.size(0), self.hidden)
        c1, h2, c2 = h1, h1, h1
        tok = torch.ones([enc.size(0)], dtype=torch.long, device=enc.device)  # start token 1
        outs: List[torch.Tensor] = []  # noqa: UP006
        for _ in range(n):
            h1, c1 = self.cell1(torch.cat([self.embed(tok), holistic], dim=1), (h1, c1))
            h2, c2 = self.cell2(h1, (h2, c2))
            alpha = torch.softmax(self.att_v(torch.tanh(proj + self.att_h(h2).unsqueeze(1))).squeeze(2), dim=1)
            ctx = torch.bmm(alpha.unsqueeze(1), enc).squeeze(1)
            logit = self.fc(torch.cat([h2, ctx], dim=1))
            outs.append(logit)
            tok = logit.argmax(dim=1)
            if eos_stop and bool((tok == 0).all()):  # end token 0: a data-dependent stop
                break
        return torch.stack(outs, dim=1)


class ScriptedSAR(nn.Module):
    """The same model with the decoder scripted (torch.jit.script): its loop becomes one ONNX Loop."""

    def __init__(self, sar: SAR, steps: str) -> None:
        super().__init__()
        self.cnn, self.encoder = sar.cnn, sar.encoder
        self.decoder = torch.jit.script(sar.decoder)
        self.steps = steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enc, _ = self.encoder(self.cnn(x).amax(dim=2).permute(0, 2, 1))
        return self.decoder(enc, -1 if self.steps == "width" else STEPS, self.steps == "eos")


class GRUCellDecoder(nn.Module):
    """A GRU encoder and a GRUCell decoder over 20 fixed steps (feeding back its own state)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.encoder = nn.GRU(8, 12, batch_first=True)
        self.cell = nn.GRUCell(12, 12)
        self.fc = nn.Linear(12, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # a condition on tensor values outside the loop: tracing warns about it, but it is not the loop's
        if bool((x.abs() > 1e6).any()):
            raise ValueError("input out of range")
        enc, last = self.encoder(self.conv(x).mean(dim=2).permute(0, 2, 1))
        h, ctx, outs = last[0], enc.mean(dim=1), []
        for _ in range(20):
            h = self.cell(ctx, h)
            outs.append(self.fc(h))
        return torch.stack(outs, dim=1)


@pytest.fixture
def sar() -> SAR:
    torch.manual_seed(0)
    return SAR().eval()


def _ops(path) -> dict[str, int]:
    return op_histogram(load_graph(path))


def test_fixed_step_decoder_exports_unrolled_and_says_so(tmp_path, sar, graph_dims):
    path = tmp_path / "sar.onnx"
    result = export_onnx(sar, torch.randn(1, 1, 32, 128), path, dynamic_axes=AXES)

    assert result.exporter == "torchscript"
    assert result.rnn_nodes == {"LSTM": 2, "bidirectional": 2}  # the encoder stays native
    ops = _ops(path)
    assert "Loop" not in ops and ops["Gemm"] >= 2 * STEPS  # the decoder is written out step by step
    assert graph_dims(path) == {"images": ["batch", 1, 32, "width"], "logits": ["batch", STEPS, 40]}
    assert [(c["module"], c["kind"], c["steps"], c["exported_as"]) for c in result.cell_loops] == [
        ("decoder.cell1", "nn.LSTMCell", STEPS, "unrolled"),
        ("decoder.cell2", "nn.LSTMCell", STEPS, "unrolled"),
    ]
    assert f"cell loops unrolled to {STEPS} fixed steps: decoder.cell1 (nn.LSTMCell)" in result.summary()
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["cell_loops"] == result.cell_loops
    assert manifest["cell_loops"][0]["dependence"] == "fixed"

    report = check_parity(sar, path, sizes=WIDTHS)  # batch 1/2/7 and three other widths
    assert report.passed, report.to_table()
    assert {w for _, w in report.sizes} >= set(WIDTHS)
    assert report.worst()["logits"]["max_abs"] < 1e-5 and report.worst()["logits"]["min_top1"] == 1.0


def test_gru_cell_decoder_exports_unrolled(tmp_path):
    """Also: the tracer's warning about the input check before the loop does not refuse the export."""
    torch.manual_seed(0)
    result = export_onnx(GRUCellDecoder().eval(), torch.randn(1, 1, 8, 24), tmp_path / "g.onnx", dynamic_axes=AXES)
    assert [(c["module"], c["steps"]) for c in result.cell_loops] == [("cell", 20)]
    assert result.rnn_nodes == {"GRU": 1} and result.parity.passed


def test_require_native_rnn_refuses_cells(tmp_path, sar):
    path = tmp_path / "sar.onnx"
    with pytest.raises(ExportError, match=r"module 'decoder.cell1' is an nn.LSTMCell: .*export.require_native_rnn"):
        export_onnx(sar, torch.randn(1, 1, 32, 128), path, ExportOptions(require_native_rnn=True), dynamic_axes=AXES)
    assert not path.exists()


def test_a_loop_that_follows_the_width_is_refused_in_one_line(tmp_path, sar):
    model = SAR("width").eval()
    model.load_state_dict(sar.state_dict())
    path = tmp_path / "w.onnx"
    with pytest.raises(LoopRefused) as info:
        export_onnx(model, torch.randn(1, 1, 32, 128), path, dynamic_axes=AXES)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("module 'decoder.cell1' (nn.LSTMCell) is called 16/32/64 times at widths 64/128/256")
    assert "torch.jit.script" in message
    assert list(tmp_path.iterdir()) == []


def test_the_same_loop_at_a_static_width_is_fixed(tmp_path, sar):
    """Without a dynamic width the loop length cannot change: the export is exact."""
    model = SAR("width").eval()
    model.load_state_dict(sar.state_dict())
    result = export_onnx(model, torch.randn(1, 1, 32, 64), tmp_path / "w.onnx")  # batch only
    assert {c["steps"] for c in result.cell_loops} == {16}


class StopsOnTheData(nn.Module):
    """A GRUCell loop that stops when its state turns positive: 1 to 8 steps depending on the input."""

    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.GRUCell(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.mean(dim=(1, 2))[:, :4]
        outs = []
        for _ in range(8):
            h = self.cell(h, h)
            outs.append(h)
            if bool(h.sum() > 0):
                break
        return torch.stack(outs, dim=1)


def test_a_loop_that_stops_on_the_data_is_refused():
    torch.manual_seed(3)
    loops = find_cell_loops(StopsOnTheData().eval(), torch.randn(1, 1, 4, 16), axes=[3])
    assert [(loop.module, loop.dependence) for loop in loops] == [("cell", "content")]
    assert "for inputs of one size" in loops[0].refusal() and "an end token?" in loops[0].refusal()


def test_a_data_dependent_stop_the_probe_missed_is_caught_while_tracing(tmp_path, sar):
    """Random weights never emit the end token, so the step count looks fixed; the tracer's warning about
    the Python condition on tensor values (in this file, not in torch) stops the export at once."""
    model = SAR("eos").eval()
    model.load_state_dict(sar.state_dict())
    with pytest.raises(
        LoopRefused,
        match=r"tracing the cell loop in 'decoder.cell1' met a condition on tensor values at .*test_export_cell_decoders.py:\d+",
    ):
        export_onnx(model, torch.randn(1, 1, 32, 128), tmp_path / "e.onnx", dynamic_axes=AXES)
    assert list(tmp_path.iterdir()) == []


class BareKernelLoop(nn.Module):
    """torch's cell kernel called directly, one step per column."""

    def __init__(self) -> None:
        super().__init__()
        self.w_ih, self.w_hh = nn.Parameter(torch.randn(16, 4)), nn.Parameter(torch.randn(16, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.mean(dim=(1, 2)).unsqueeze(-1).expand(-1, -1, 4)  # (B, W, 4)
        h = c = seq.new_zeros(seq.size(0), 4)
        for t in range(seq.size(1)):
            h, c = torch._VF.lstm_cell(seq[:, t], (h, c), self.w_ih, self.w_hh, None, None)
        return h


def test_bare_cell_kernels_are_counted_too(tmp_path):
    with pytest.raises(LoopRefused, match=r"module '<lstm_cell>' \(lstm_cell kernel\) is called 8/16/32 times"):
        export_onnx(BareKernelLoop().eval(), torch.randn(1, 1, 4, 16), tmp_path / "k.onnx", dynamic_axes=AXES)


@pytest.mark.parametrize("steps", ["width", "eos"])
def test_scripted_decoder_exports_as_one_onnx_loop(tmp_path, sar, steps, graph_dims):
    if steps == "eos":  # bias the end token so that some inputs stop early: lengths differ between inputs
        with torch.no_grad():
            sar.decoder.fc.bias[0] += 0.08  # measured: 1 to 10 steps over these inputs
    model = ScriptedSAR(sar, steps).eval()
    path = tmp_path / "s.onnx"
    result = export_onnx(model, torch.randn(1, 1, 32, 128), path, dynamic_axes=AXES)

    assert result.exporter == "torchscript"
    assert [(c["module"], c["exported_as"], c["dependence"]) for c in result.cell_loops] == [
        ("decoder", "onnx-loop", "runtime")
    ]
    proto = load_graph(path)
    assert [n.op_type for n in proto.graph.node].count("Loop") == 1
    assert [n.op_type for n in proto.graph.node].count("LSTM") == 2  # the encoder, native, in the main graph
    assert graph_dims(path)["logits"] == ["batch", "time" if steps == "width" else "steps", 40]
    assert "scripted cell loops exported as ONNX Loop" in result.summary()

    lengths = set()
    for width in (20, 64, 128, 200):
        x = torch.randn(3, 1, 32, width)
        with torch.inference_mode():
            lengths.add(model(x).shape[1])
    report = check_parity(model, path, sizes=WIDTHS)
    assert report.passed, report.to_table()
    if steps == "width":
        assert lengths == {5, 16, 32, 50}
    else:
        assert len(lengths) > 1 and max(lengths) <= STEPS  # early stops happened, and ONNX followed them


def _plan(loops: list[CellLoop]) -> ExportPlan:
    return ExportPlan(18, False, ["logits"], dict(AXES), 2, 2, (32, 128), {"logits": (1, 5, 40)}, loops)


def test_verification_still_catches_a_looped_encoder(tmp_path, sar):
    """The decoder Loop is accepted only as often as the model has scripted loops, and the encoder's LSTM
    nodes must be in the main graph: an encoder that became a Loop (or was unrolled) is refused."""
    path = tmp_path / "s.onnx"
    export_onnx(ScriptedSAR(sar, "width").eval(), torch.randn(1, 1, 32, 128), path, dynamic_axes=AXES)
    proto = load_graph(path)
    scripted = CellLoop("decoder", "scripted Decoder", None, "runtime", loops=1)
    check_structure(proto, _plan([scripted]))  # accepted as exported
    with pytest.raises(ExportError, match=r"the graph runs an RNN step by step in \['.*'\]; expected native"):
        check_structure(proto, _plan([]))  # no scripted loop in the model: the Loop is an RNN written out
    # the encoder's nodes moved into a loop body: the main graph has none left
    body = next(a.g for n in proto.graph.node if n.op_type == "Loop" for a in n.attribute if a.HasField("g"))
    for node in [n for n in proto.graph.node if n.op_type == "LSTM"]:
        proto.graph.node.remove(node)
        body.node.append(node)
    with pytest.raises(ExportError, match=r"found 0 native RNN node\(s\) for 2 RNN layer\(s\)"):
        check_structure(proto, _plan([scripted]))


def test_cli_require_native_rnn_flag(tmp_path, tiny_checkpoint, capsys):
    from edgeseq.cli import main

    out = tmp_path / "m.onnx"
    assert main(["export", str(tiny_checkpoint), "-o", str(out), "--require-native-rnn", "--no-verify"]) == 0
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["export_options"]["require_native_rnn"] is True and manifest["cell_loops"] == []
