"""The builder: module names that follow the spec, and each composite's module."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

import cnnsize
from cnnsize.backend import TorchMissing
from cnnsize.backend.blocks import Add, Cat, Layers, Network, PaddedConv2d
from cnnsize.backend.builder import build_network, module_keys
from cnnsize.errors import SpecError
from cnnsize.kinds import KINDS


def test_build_is_exposed_lazily_and_returns_a_network(make_spec):
    spec = make_spec({"input": [3, 8, 8], "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3}]})
    model = cnnsize.build(spec)
    assert isinstance(model, Network)
    # 8 - 3 + 1 = 6
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 4, 6, 6)


def test_build_without_torch_says_how_to_install(make_spec, monkeypatch):
    spec = make_spec({"input": [4], "layers": [{"type": "linear", "out_features": 2}]})
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    with pytest.raises(TorchMissing, match=r"pip install 'cnnsize\[torch\]'") as caught:
        cnnsize.build(spec)
    assert isinstance(caught.value, ImportError)


def test_module_names_follow_spec_paths_and_layer_names(make_spec):
    spec = make_spec(
        {
            "input": [3, 8, 8],
            "layers": [
                {"type": "conv2d", "name": "stem", "out_channels": 4, "kernel_size": 3, "padding": 1},
                "relu",
                {
                    "type": "residual",
                    "name": "block",
                    "body": [{"type": "conv2d", "out_channels": 4, "kernel_size": 1}],
                },
                {
                    "type": "concat",
                    "branches": [["identity"], [{"type": "conv2d", "out_channels": 2, "kernel_size": 1}]],
                },
            ],
        }
    )
    model = build_network(spec)
    assert model.module_names == {
        ("layers", 0): "layers.stem",
        ("layers", 1): "layers.1",
        ("layers", 2): "layers.block",
        ("layers", 2, "body", 0): "layers.block.body.0",
        ("layers", 2, "add"): "layers.block.add",
        ("layers", 3): "layers.3",
        ("layers", 3, "branches", 0, 0): "layers.3.branches.0.0",
        ("layers", 3, "branches", 1, 0): "layers.3.branches.1.0",
        ("layers", 3, "cat"): "layers.3.cat",
    }
    for path, name in model.module_names.items():
        assert model.module_at(path) is model.get_submodule(name)
    assert isinstance(model.layers.block, Layers) and isinstance(model.layers.block.add, Add)
    assert isinstance(model.layers[3].cat, Cat)
    with pytest.raises(RuntimeError, match="run the whole Network"):
        model.layers.block(torch.randn(1, 4, 8, 8))
    assert model.layers.stem.weight.shape == (4, 3, 3, 3)


@pytest.mark.parametrize(
    "names, keys",
    [
        (["stem", None, "head"], ["stem", "1", "head"]),
        (["twice", "twice"], ["0", "1"]),  # a name used twice in one sequence would be ambiguous
        (["has-dash", "1", "class", "forward"], ["0", "1", "2", "3"]),  # not identifiers, or taken by nn.Sequential
    ],
)
def test_module_keys_use_names_only_where_unambiguous(names, keys):
    layers = [KINDS["relu"](type="relu", name=name) for name in names]
    assert module_keys(layers) == keys


def test_same_padding_with_stride_pads_the_extra_pixel_bottom_right(make_spec):
    # TF `same`, i=4, k=3, s=2: out = ceil(4/2) = 2, total = (2 - 1)*2 + 3 - 4 = 1 -> top/left 0, bottom/right 1
    spec = make_spec(
        {
            "input": [1, 4, 4],
            "layers": [{"type": "conv2d", "out_channels": 1, "kernel_size": 3, "stride": 2, "padding": "same"}],
        }
    )
    conv = build_network(spec).layers[0]
    assert isinstance(conv, PaddedConv2d)
    assert conv.pad.padding == (0, 1, 0, 1)  # torch's order: left, right, top, bottom
    nn.init.ones_(conv.conv.weight)
    nn.init.zeros_(conv.conv.bias)
    out = conv(torch.ones(1, 1, 4, 4))
    # windows rows/cols 0..2 and 2..4 (4 is padding): 3*3 = 9, 3*2 = 6, 2*2 = 4 ones
    assert out.squeeze().tolist() == [[9.0, 6.0], [6.0, 4.0]]


def test_asymmetric_stated_padding_maps_top_bottom_left_right(make_spec):
    spec = make_spec(
        {
            "input": [1, 5, 5],
            "layers": [{"type": "conv2d", "out_channels": 1, "kernel_size": 1, "padding": [1, 2, 3, 0]}],
        }
    )
    conv = build_network(spec).layers[0]
    assert conv.pad.padding == (3, 0, 1, 2)
    # 5 + 1 + 2 = 8 high, 5 + 3 + 0 = 8 wide
    assert conv(torch.randn(1, 1, 5, 5)).shape == (1, 1, 8, 8)


def test_symmetric_padding_is_a_plain_conv2d(make_spec):
    spec = make_spec(
        {"input": [2, 9, 9], "layers": [{"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": "same"}]}
    )
    conv = build_network(spec).layers[0]
    assert type(conv) is nn.Conv2d and conv.padding == (1, 1)


def test_zeropad2d_layer_uses_cnnsize_order(make_spec):
    spec = make_spec({"input": [1, 2, 2], "layers": [{"type": "zeropad2d", "padding": [1, 0, 0, 2]}]})
    out = build_network(spec)(torch.ones(1, 1, 2, 2))
    # one row on top, two columns on the right
    assert out.squeeze().tolist() == [[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]]


def test_channel_pools_take_neighbouring_channels(make_spec):
    x = torch.tensor([1.0, 5.0, 2.0, 4.0, 3.0, 9.0]).reshape(1, 6, 1, 1)
    for kind, expected in (("channel_maxpool", [5.0, 4.0, 9.0]), ("channel_avgpool", [3.0, 3.0, 6.0])):
        spec = make_spec({"input": [6, 1, 1], "layers": [{"type": kind, "kernel_size": 2}]})
        assert build_network(spec)(x).flatten().tolist() == expected


def test_residual_adds_and_concat_joins(make_spec):
    spec = make_spec(
        {
            "input": [2, 3, 3],
            "layers": [
                {"type": "residual", "body": ["identity"], "shortcut": ["identity"]},
                {"type": "concat", "branches": [[], ["identity"]]},
            ],
        }
    )
    x = torch.randn(1, 2, 3, 3)
    out = build_network(spec)(x)
    assert torch.equal(out, torch.cat([2 * x, 2 * x], dim=1))


def test_a_spec_the_engine_rejects_is_not_built(make_spec):
    spec = make_spec({"input": [3, 2, 2], "layers": [{"type": "conv2d", "out_channels": 1, "kernel_size": 5}]})
    with pytest.raises(SpecError, match="does not fit"):
        build_network(spec)
