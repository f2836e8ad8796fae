"""build_model / ImageSequenceModel: every component combination, declared shapes, config errors, freezing."""

from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")

from edgeseq.config import ModelConfig, PreprocessConfig  # noqa: E402
from edgeseq.errors import ConfigError  # noqa: E402
from edgeseq.nn import HEADS, RNNS, SEQUENCERS, ImageSequenceModel, build_model, tiny_model_config  # noqa: E402

NUM_OUTPUTS = 5
SIZE = (37, 53)  # not multiples of any stride: exercises the ceil/floor arithmetic
OTHER = {"rows": (70, 53), "columns": (37, 90), "channels": (37, 53)}  # a second size on the dynamic axis

GRAY = PreprocessConfig(height=SIZE[0], width=SIZE[1])
RGB = PreprocessConfig(height=SIZE[0], width=SIZE[1], color="RGB", mean=[0.5], std=[0.5])


def test_registries_have_the_contract_names():
    assert RNNS.names() == ["lstm", "gru", "rnn"]
    assert HEADS.names() == ["last", "mean", "attention", "ctc"]
    for registry in (RNNS, HEADS, SEQUENCERS):
        assert all(registry.describe(name) for name in registry)


def test_config_validates_against_the_same_names_as_the_registries():
    # config.py checks names without importing torch, so it keeps its own tuples: they must not drift
    from edgeseq import config

    assert config.SEQUENCERS == tuple(SEQUENCERS.names())
    assert config.RNN_KINDS == tuple(RNNS.names())
    assert config.HEADS == tuple(HEADS.names())


def check_shapes(model: ImageSequenceModel, size: tuple[int, int], batch: int = 2) -> None:
    """forward's shapes equal the declared feature_size / sequence_shape / output layout."""
    seen = {}

    def record(module, args):
        seen["seq"] = tuple(args[0].shape)  # returns None: the input is left unchanged

    hook = model.rnn.register_forward_pre_hook(record)
    x = torch.randn(batch, model.in_channels, *size)
    with torch.no_grad():
        fm = model.backbone(x)
        out = model(x)
    hook.remove()
    assert tuple(fm.shape) == (batch, model.backbone.out_channels, *model.feature_size(*size))
    t, d = model.sequence_shape(*size)
    assert seen["seq"] == (batch, t, d)
    expected = (batch, t, NUM_OUTPUTS) if model.task == "ctc" else (batch, NUM_OUTPUTS)
    assert tuple(out.shape) == expected
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    "sequencer, rnn, head, bidirectional",
    list(itertools.product(["rows", "columns", "channels"], ["lstm", "gru", "rnn"], HEADS.names(), [False, True])),
)
def test_smallcnn_every_combination(sequencer, rnn, head, bidirectional):
    cfg = tiny_model_config(sequencer=sequencer, rnn=rnn, head=head, bidirectional=bidirectional)
    model = build_model(cfg, GRAY, NUM_OUTPUTS).eval()
    assert model.task == ("ctc" if head == "ctc" else "classification")
    check_shapes(model, SIZE)
    check_shapes(model, OTHER[sequencer], batch=1)


@pytest.mark.parametrize(
    "sequencer, rnn, head",
    list(itertools.product(["rows", "columns", "channels"], ["lstm", "gru", "rnn"], HEADS.names())),
)
def test_resnet18_every_combination(sequencer, rnn, head):
    cfg = ModelConfig(
        backbone="resnet18", sequencer=sequencer, rnn=rnn, head=head, hidden_size=8, num_layers=2, bidirectional=True
    )
    model = build_model(cfg, RGB, NUM_OUTPUTS).eval()
    check_shapes(model, SIZE)
    check_shapes(model, OTHER[sequencer], batch=1)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["mobilenet_v3_small", "efficientnet_b0", "vgg11_bn", "resnet50"])
def test_other_torchvision_backbones_full_model(backbone):
    cfg = ModelConfig(backbone=backbone, sequencer="columns", rnn="gru", head="ctc", hidden_size=8)
    pre = PreprocessConfig(height=64, width=97, color="L")  # 1 channel: the adapted first conv
    model = build_model(cfg, pre, NUM_OUTPUTS).eval()
    assert model.in_channels == 1
    check_shapes(model, (64, 97))
    check_shapes(model, (64, 130), batch=1)


def test_axes_and_metadata_attributes():
    cases = {
        ("rows", "last"): ({0: "batch", 2: "height"}, {0: "batch"}),
        ("columns", "ctc"): ({0: "batch", 3: "width"}, {0: "batch", 1: "time"}),
        ("channels", "ctc"): ({0: "batch"}, {0: "batch"}),  # T = channels: fixed
        ("channels", "mean"): ({0: "batch"}, {0: "batch"}),
    }
    for (sequencer, head), (inputs, outputs) in cases.items():
        cfg = tiny_model_config(sequencer=sequencer, head=head)
        model = build_model(cfg, GRAY, NUM_OUTPUTS)
        assert model.dynamic_input_axes() == inputs
        assert model.output_axes() == outputs
        assert model.model_cfg is cfg and model.preprocess_cfg is GRAY
        assert model.input_size == SIZE and model.in_channels == 1 and model.num_outputs == NUM_OUTPUTS


def test_export_min_input_size_keeps_two_steps():
    pre = PreprocessConfig(height=64, width=64, color="RGB", mean=[0.5], std=[0.5])
    model = build_model(ModelConfig(backbone="resnet18", sequencer="rows", hidden_size=8), pre, NUM_OUTPUTS)
    assert model.export_min_input_size() == (33, 64)  # docs/traps.md #6: 33 for stride 32; width fixed
    tiny = build_model(tiny_model_config(sequencer="columns", step=3), GRAY, NUM_OUTPUTS)
    h, w = tiny.export_min_input_size()
    assert h == SIZE[0] and tiny.sequence_shape(h, w)[0] == 2 and tiny.sequence_shape(h, w - 1)[0] < 2


def test_initial_state_is_not_fixed_to_a_batch_size():
    """docs/traps.md #7: no h0/c0 buffers; one model runs at batch 1 and batch 5, in train and eval mode."""
    for rnn in RNNS.names():
        model = build_model(tiny_model_config(rnn=rnn, num_layers=2, bidirectional=True), GRAY, NUM_OUTPUTS)
        assert not [name for name, _ in model.rnn.named_buffers()]
        for mode in (True, False):
            model.train(mode)
            for batch in (1, 5) if not mode else (2, 5):  # BatchNorm needs 2+ values per channel in training
                assert model(torch.randn(batch, 1, *SIZE)).shape == (batch, NUM_OUTPUTS)
        model.eval()
        x = torch.randn(5, 1, *SIZE)
        with torch.no_grad():  # a sample's logits do not depend on its batch-mates in eval mode
            torch.testing.assert_close(model(x)[:1], model(x[:1]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rnn", ["lstm", "gru", "rnn"])
def test_bidirectional_last_head_uses_both_directions(rnn):
    model = build_model(
        tiny_model_config(head="last", rnn=rnn, bidirectional=True, num_layers=2, hidden_size=6), GRAY, NUM_OUTPUTS
    ).eval()
    x = torch.randn(3, 1, *SIZE)
    with torch.no_grad():
        outputs, h_n = model.rnn(model.sequencer(model.backbone(x)))
        # the top layer's forward state ends at t = T-1, its backward state at t = 0
        state = torch.cat([outputs[:, -1, :6], outputs[:, 0, 6:]], dim=1)
        torch.testing.assert_close(model.head(outputs, h_n), model.head.fc(state), rtol=0, atol=1e-6)
        assert model.head.fc.in_features == 12
        # ... and differs from what outputs[:, -1] (a common bug) would give
        assert not torch.allclose(model.head.fc(outputs[:, -1]), model(x), atol=1e-4)


def test_freeze_backbone_keeps_weights_and_batchnorm_statistics():
    model = build_model(tiny_model_config(freeze_backbone=True), GRAY, NUM_OUTPUTS)
    model.train()
    assert not model.backbone.training and model.rnn.training
    assert not any(p.requires_grad for p in model.backbone.parameters())
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}  # weights and running stats
    rnn_before = [p.clone() for p in model.rnn.parameters()]
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.1)
    for _ in range(2):
        loss = model(torch.randn(4, 1, *SIZE) * 3 + 1).logsumexp(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert all(p.grad is None for p in model.backbone.parameters())
    after = model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert any(not torch.equal(a, b) for a, b in zip(rnn_before, model.rnn.parameters(), strict=True))


def test_unfrozen_backbone_trains():
    model = build_model(tiny_model_config(), GRAY, NUM_OUTPUTS).train()
    mean_before = model.backbone.body[1].running_mean.clone()
    model(torch.randn(4, 1, *SIZE) + 1).sum().backward()
    assert model.backbone.body[0].weight.grad is not None
    assert not torch.equal(mean_before, model.backbone.body[1].running_mean)


def test_state_dict_round_trip_with_weights_only(tmp_path):
    cfg = tiny_model_config(sequencer="columns", head="ctc", rnn="gru", bidirectional=True)
    model = build_model(cfg, GRAY, NUM_OUTPUTS).eval()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    again = build_model(cfg, GRAY, NUM_OUTPUTS).eval()
    again.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    x = torch.randn(2, 1, *SIZE)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def _with(cfg: ModelConfig, **attrs) -> ModelConfig:
    """Set fields after construction, bypassing ModelConfig's own checks, to reach build_model's."""
    for key, value in attrs.items():
        setattr(cfg, key, value)
    return cfg


@pytest.mark.parametrize(
    "cfg, pre, num_outputs, match",
    [
        (tiny_model_config(), GRAY, 0, r"num_outputs: got 0; expected a positive integer"),
        (tiny_model_config(), GRAY, True, r"num_outputs: got True"),
        (
            ModelConfig(backbone="resnet19"),
            GRAY,
            3,
            r"model\.backbone: unknown backbone 'resnet19' \(did you mean 'resnet18'\?\)",
        ),
        (_with(tiny_model_config(), rnn="lstn"), GRAY, 3, r"model\.rnn: unknown rnn 'lstn' \(did you mean 'lstm'\?\)"),
        (
            tiny_model_config(backbone_args={"chanels": [4]}),
            GRAY,
            3,
            r"model\.backbone_args\.chanels: unknown for backbone 'smallcnn'; expected channels, pools, double_conv",
        ),
        (
            ModelConfig(backbone="resnet18", backbone_args={"depth": 3}),
            GRAY,
            3,
            r"model\.backbone_args\.depth: unknown for backbone 'resnet18'; expected no arguments",
        ),
        (
            tiny_model_config(),
            PreprocessConfig(height=3, width=32),
            3,
            r"preprocess\.height: 3 gives a feature map of 0 rows with backbone 'smallcnn' \(reduction 4x4\); "
            r"expected height >= 4",
        ),
        (
            tiny_model_config(backbone_args={"channels": [4, 8], "pools": [[1, 8], [1, 2]]}),
            PreprocessConfig(height=8, width=15),
            3,
            r"preprocess\.width: 15 gives a feature map of 0 columns .* \(reduction 1x16\); expected width >= 16",
        ),
        (
            tiny_model_config(sequencer="columns"),
            PreprocessConfig(height=32, width=128, resize="height", min_width=3),
            3,
            r"preprocess\.min_width: 3 gives a feature map of 0 columns .*; expected min_width >= 4",
        ),
        (
            tiny_model_config(sequencer="rows", step=10),
            PreprocessConfig(height=32, width=32),
            3,
            r"model\.step: got 10 but the feature map has 8 rows at 32x32 .*; expected step <= 8",
        ),
        (
            tiny_model_config(dropout=0.2),
            GRAY,
            3,
            r"model\.dropout: got 0\.2 with model\.num_layers=1; .* expected dropout=0 or num_layers >= 2",
        ),
    ],
)
def test_config_errors(cfg, pre, num_outputs, match):
    with pytest.raises(ConfigError, match=match):
        build_model(cfg, pre, num_outputs)


def test_dropout_between_layers_is_accepted():
    model = build_model(tiny_model_config(dropout=0.2, num_layers=2), GRAY, NUM_OUTPUTS)
    assert model.rnn.rnn.dropout == 0.2
