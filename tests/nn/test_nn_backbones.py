"""Backbones: declared sizes equal what forward produces; grayscale adaptation; weights_path; pretrained offline."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from edgeseq.errors import ConfigError, ModelFileError  # noqa: E402
from edgeseq.nn import BACKBONES  # noqa: E402

TORCHVISION = [
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "vgg11_bn",
]
OUT_CHANNELS = {
    "resnet18": 512,
    "resnet34": 512,
    "resnet50": 2048,
    "mobilenet_v3_small": 576,
    "mobilenet_v3_large": 960,
    "efficientnet_b0": 1280,
    "vgg11_bn": 512,
}


def forward_size(backbone, c, h, w):
    with torch.no_grad():
        return tuple(backbone.eval()(torch.zeros(1, c, h, w)).shape[1:])


def test_registry_names_and_docs():
    assert BACKBONES.names() == ["smallcnn", *TORCHVISION]
    for name in BACKBONES:
        doc = BACKBONES.describe(name)
        assert doc and "\n" not in doc, name


@pytest.mark.parametrize(
    "args, size",
    [
        ({}, (8, 8)),
        ({}, (37, 53)),
        ({"channels": [4, 8, 8, 8], "pools": [[2, 2], [2, 2], [2, 1], [2, 1]]}, (32, 100)),
        ({"channels": [4, 8, 8, 8], "pools": [[2, 2], [2, 2], [2, 1], [2, 1]]}, (33, 37)),
        ({"channels": [4], "pools": [[3, 1]], "double_conv": True}, (10, 7)),
    ],
)
def test_smallcnn_feature_size_matches_forward(args, size):
    bb = BACKBONES.get("smallcnn")(1, **args)
    c, fh, fw = forward_size(bb, 1, *size)
    assert c == bb.out_channels
    assert (fh, fw) == bb.feature_size(*size)


def test_smallcnn_text_line_recipe_geometry():
    bb = BACKBONES.get("smallcnn")(1, channels=[32, 64, 128, 128], pools=[[2, 2], [2, 2], [2, 1], [2, 1]])
    assert bb.reduction == (16, 4)
    assert bb.out_channels == 128
    assert bb.feature_size(32, 128) == (2, 32)
    assert bb.min_input_size() == (16, 4)


@pytest.mark.parametrize(
    "args, match",
    [
        ({"channels": []}, r"model\.backbone_args\.channels: got \[\]"),
        ({"channels": [8, 0]}, r"model\.backbone_args\.channels: .*expected positive integers"),
        ({"channels": [8, 8], "pools": [[2, 2]]}, r"model\.backbone_args\.pools: .*expected 2 \[ph, pw\] pairs"),
        ({"channels": [8], "pools": [[2, 2, 2]]}, r"model\.backbone_args\.pools\[0\]: got 3 values; expected 2"),
        ({"double_conv": "yes"}, r"model\.backbone_args\.double_conv: got 'yes'"),
    ],
)
def test_smallcnn_bad_args(args, match):
    with pytest.raises(ConfigError, match=match):
        BACKBONES.get("smallcnn")(1, **args)


def test_smallcnn_refuses_pretrained():
    with pytest.raises(ConfigError, match=r"model\.pretrained: backbone 'smallcnn' has no pretrained weights"):
        BACKBONES.get("smallcnn")(1, pretrained="DEFAULT")


@pytest.fixture(scope="module")
def torchvision_backbones():
    """Each torchvision backbone built once (random init); 3-channel input."""
    return {name: BACKBONES.get(name)(3) for name in TORCHVISION}


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_feature_size_matches_forward(torchvision_backbones, name):
    bb = torchvision_backbones[name]
    assert bb.out_channels == OUT_CHANNELS[name]
    assert bb.reduction == (32, 32)
    # non-multiples of 32 exercise the ceil (resnet/mobilenet/efficientnet) and floor (vgg) arithmetic
    for h, w in [(64, 64), (37, 53), (65, 97), bb.min_input_size()]:
        c, fh, fw = forward_size(bb, 3, h, w)
        assert c == bb.out_channels
        assert (fh, fw) == bb.feature_size(h, w), (h, w)


@pytest.mark.parametrize("name", ["smallcnn", "resnet18", "vgg11_bn"])
def test_min_input_size_is_the_boundary(torchvision_backbones, name):
    bb = torchvision_backbones.get(name) or BACKBONES.get(name)(3)
    for min_feature in (1, 2):
        mh, mw = bb.min_input_size(min_feature)
        assert bb.feature_size(mh, mw)[0] >= min_feature and bb.feature_size(mh, mw)[1] >= min_feature
        assert bb.feature_size(mh - 1, mw)[0] < min_feature
        assert bb.feature_size(mh, mw - 1)[1] < min_feature
    if name == "resnet18":  # docs/traps.md #6: 33, not 32, for two cells after stride 32
        assert bb.min_input_size(2) == (33, 33)


def test_vgg_floor_pooling_refuses_small_input(torchvision_backbones):
    bb = torchvision_backbones["vgg11_bn"]
    assert bb.feature_size(31, 64) == (0, 2)
    assert bb.min_input_size() == (32, 32)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])  # vgg: a 0.5 GB state_dict, same code path
def test_grayscale_first_conv_sums_rgb_weights(name, tmp_path):
    """1-channel input: first conv weights = RGB weights summed, so gray x equals RGB (x, x, x)."""
    full = torchvision.models.get_model(name, weights=None)
    path = tmp_path / "w.pth"
    torch.save(full.state_dict(), path)
    rgb = BACKBONES.get(name)(3, weights_path=str(path)).eval()
    gray = BACKBONES.get(name)(1, weights_path=str(path)).eval()
    first_rgb = next(m for m in rgb.modules() if isinstance(m, torch.nn.Conv2d))
    first_gray = next(m for m in gray.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_gray.in_channels == 1
    assert torch.equal(first_gray.weight, first_rgb.weight.sum(dim=1, keepdim=True))
    x = torch.rand(1, 1, 40, 64)
    with torch.no_grad():
        # float32 summation order differs (3 products vs 1): 1e-4 relative is well above the rounding seen
        torch.testing.assert_close(gray(x), rgb(x.expand(1, 3, 40, 64)), rtol=1e-4, atol=1e-4)


def test_weights_path_loads_into_truncated_resnet(tmp_path):
    full = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-test.pth"
    torch.save(full.state_dict(), path)
    bb = BACKBONES.get("resnet18")(3, weights_path=str(path))
    # the truncated body is Sequential(conv1, bn1, relu, maxpool, layer1..4): child i <-> torchvision name
    names = [n for n, _ in full.named_children()][:-2]
    expected = {
        f"body.{names.index(k.split('.')[0])}.{k.split('.', 1)[1]}": v
        for k, v in full.state_dict().items()
        if k.split(".")[0] in names
    }
    got = bb.state_dict()
    assert set(got) == set(expected)
    assert all(torch.equal(got[k], expected[k]) for k in expected)


def test_weights_path_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"model\.weights_path: file .* not found"):
        BACKBONES.get("resnet18")(3, weights_path=str(tmp_path / "missing.pth"))
    wrong = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), wrong)
    with pytest.raises(ModelFileError, match=r"does not match torchvision resnet18: 0 missing keys .* unexpected"):
        BACKBONES.get("resnet18")(3, weights_path=str(wrong))
    not_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_dict)
    with pytest.raises(ModelFileError, match=r"holds list; expected the torchvision resnet18 state_dict"):
        BACKBONES.get("resnet18")(3, weights_path=str(not_dict))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ModelFileError, match=r"is not a loadable weights-only state_dict"):
        BACKBONES.get("resnet18")(3, weights_path=str(garbage))


class _RunsCode:
    """Unpickling this would call print(): weights_only=True must refuse it."""

    def __reduce__(self):
        return (print, ("code ran",))


def test_weights_path_refuses_code_pickles(tmp_path, capsys):
    evil = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "x": _RunsCode()}, evil)
    with pytest.raises(ModelFileError, match=r"not a loadable weights-only state_dict"):
        BACKBONES.get("resnet18")(3, weights_path=str(evil))
    assert "code ran" not in capsys.readouterr().out


def test_pretrained_offline_gives_a_clear_error(monkeypatch):
    import urllib.error

    import torchvision.models._api as api

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)  # never touch the network in tests
    with pytest.raises(
        ConfigError,
        match=r"model\.pretrained: could not download torchvision weights 'DEFAULT' for resnet18 \(offline\?\).*"
        r"model\.weights_path",
    ):
        BACKBONES.get("resnet18")(3, pretrained="DEFAULT")


def test_pretrained_unknown_weights_name():
    with pytest.raises(
        ConfigError, match=r"model\.pretrained: got 'IMAGENET9K' for resnet18; expected one of: DEFAULT"
    ):
        BACKBONES.get("resnet18")(3, pretrained="IMAGENET9K")
