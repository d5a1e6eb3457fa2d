"""One row per layer kind: its shape rule, parameter counts and MACs for one sample."""

import json

import pytest

from cnnsize.engine import analyze
from cnnsize.errors import LayerRuleError
from cnnsize.kinds import KINDS, Composite
from cnnsize.loader import load

R = {"type": "relu"}

# (layer fields, input shape, output shape, params, non-trainable params, MACs per sample)
ROWS = [
    # conv: params = C_out*(C_in/g)*kh*kw + C_out; MACs = C_out*H_out*W_out*(C_in/g)*kh*kw
    (
        {"type": "conv2d", "out_channels": 12, "kernel_size": 3, "padding": "same"},
        (3, 32, 32),
        (12, 32, 32),
        12 * 3 * 9 + 12,
        0,
        12 * 32 * 32 * 3 * 9,
    ),  # 336 params, 331,776 MACs
    (
        {"type": "conv2d", "out_channels": 96, "kernel_size": 11, "stride": 4},
        (3, 227, 227),
        (96, 55, 55),
        96 * 3 * 121 + 96,
        0,
        96 * 55 * 55 * 3 * 121,
    ),  # AlexNet conv1: 34,944 params
    (
        {"type": "conv2d", "out_channels": 8, "kernel_size": [3, 5], "groups": 4, "bias": False, "padding": [1, 2]},
        (4, 10, 10),
        (8, 10, 10),
        8 * 1 * 15,
        0,
        8 * 10 * 10 * 1 * 15,
    ),  # C_in/g = 1
    (
        {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": "full", "dilation": 2},
        (1, 5, 5),
        (4, 9, 9),
        4 * 9 + 4,
        0,
        4 * 9 * 9 * 9,
    ),  # out = 5 + 2*(3 - 1) = 9
    (
        {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": [0, 1, 2, 3]},
        (1, 6, 6),
        (2, 5, 9),
        2 * 9 + 2,
        0,
        2 * 5 * 9 * 9,
    ),  # H: 6 + 0 + 1 - 3 + 1 = 5; W: 6 + 2 + 3 - 3 + 1 = 9
    (
        {"type": "conv2d", "out_channels": 3, "kernel_size": 7, "stride": 2, "padding": "valid"},
        (3, 15, 15),
        (3, 5, 5),
        3 * 3 * 49 + 3,
        0,
        3 * 5 * 5 * 3 * 49,
    ),  # floor((15 - 7)/2) + 1 = 5
    # transposed: weight (C_in, C_out/g, kh, kw); MACs = C_in*H_in*W_in*(C_out/g)*kh*kw
    (
        {
            "type": "conv_transpose2d",
            "out_channels": 6,
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "output_padding": 1,
            "groups": 2,
        },
        (4, 7, 7),
        (6, 14, 14),
        4 * 3 * 9 + 6,
        0,
        4 * 7 * 7 * 3 * 9,
    ),
    # pools: no parameters
    ({"type": "maxpool2d", "kernel_size": 2}, (12, 32, 32), (12, 16, 16), 0, 0, 0),  # stride defaults to 2
    ({"type": "maxpool2d", "kernel_size": 3, "stride": 2, "ceil_mode": True}, (64, 112, 112), (64, 56, 56), 0, 0, 0),
    (
        {"type": "maxpool2d", "kernel_size": 3, "stride": 1, "dilation": 2, "padding": 1},
        (1, 9, 9),
        (1, 7, 7),
        0,
        0,
        0,
    ),  # floor((9 + 2 - 4 - 1)/1) + 1 = 7
    (
        {"type": "avgpool2d", "kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True},
        (1, 5, 5),
        (1, 3, 3),
        0,
        0,
        0,
    ),  # ceil((5 + 2 - 2)/2) + 1 = 4, last window starts in the padding -> 3
    ({"type": "lppool2d", "norm_type": 2, "kernel_size": 2}, (8, 6, 6), (8, 3, 3), 0, 0, 0),
    ({"type": "adaptive_avgpool2d", "output_size": [6, 6]}, (256, 13, 13), (256, 6, 6), 0, 0, 0),
    ({"type": "adaptive_maxpool2d", "output_size": 1}, (8, 5, 7), (8, 1, 1), 0, 0, 0),
    ({"type": "global_avgpool2d"}, (512, 7, 7), (512, 1, 1), 0, 0, 0),
    ({"type": "global_maxpool2d"}, (512, 7, 7), (512, 1, 1), 0, 0, 0),
    ({"type": "channel_maxpool", "kernel_size": 4}, (64, 8, 8), (16, 8, 8), 0, 0, 0),  # 64/4 = 16
    ({"type": "channel_avgpool", "kernel_size": 2}, (6, 3, 3), (3, 3, 3), 0, 0, 0),
    # batch norm: 2*C trainable (weight, bias), 2*C running statistics
    ({"type": "batchnorm2d"}, (64, 8, 8), (64, 8, 8), 2 * 64, 2 * 64, 0),
    ({"type": "batchnorm2d", "affine": False}, (16, 4, 4), (16, 4, 4), 0, 2 * 16, 0),
    ({"type": "batchnorm2d", "track_running_stats": False}, (16, 4, 4), (16, 4, 4), 2 * 16, 0, 0),
    # element-wise
    ({"type": "identity"}, (3, 4, 4), (3, 4, 4), 0, 0, 0),
    ({"type": "relu", "inplace": True}, (3, 4, 4), (3, 4, 4), 0, 0, 0),
    ({"type": "relu6"}, (3, 4, 4), (3, 4, 4), 0, 0, 0),
    ({"type": "leaky_relu", "negative_slope": 0.2}, (3, 4, 4), (3, 4, 4), 0, 0, 0),
    ({"type": "elu", "alpha": 0.5}, (10,), (10,), 0, 0, 0),
    ({"type": "gelu", "approximate": "tanh"}, (10,), (10,), 0, 0, 0),
    ({"type": "silu"}, (3, 4, 4), (3, 4, 4), 0, 0, 0),
    ({"type": "sigmoid"}, (10,), (10,), 0, 0, 0),
    ({"type": "tanh"}, (10,), (10,), 0, 0, 0),
    ({"type": "hardswish"}, (3, 4, 4), (3, 4, 4), 0, 0, 0),
    ({"type": "softmax"}, (10,), (10,), 0, 0, 0),
    ({"type": "dropout", "p": 0.3}, (10,), (10,), 0, 0, 0),
    ({"type": "dropout2d"}, (3, 4, 4), (3, 4, 4), 0, 0, 0),
    # reshaping
    ({"type": "flatten"}, (12, 16, 16), (3072,), 0, 0, 0),  # 12*16*16 = 3072
    ({"type": "linear", "out_features": 10}, (3072,), (10,), 3072 * 10 + 10, 0, 3072 * 10),  # 30,730 params
    ({"type": "linear", "out_features": 4, "bias": False}, (8,), (4,), 32, 0, 32),
    ({"type": "zeropad2d", "padding": [1, 2, 3, 4]}, (2, 5, 5), (2, 8, 12), 0, 0, 0),  # 5+1+2, 5+3+4
    ({"type": "upsample", "scale_factor": 2}, (4, 7, 7), (4, 14, 14), 0, 0, 0),
    # composites: the sum of their parts
    (
        {"type": "residual", "body": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}, R]},
        (4, 8, 8),
        (4, 8, 8),
        4 * 4 * 9 + 4,
        0,
        4 * 8 * 8 * 4 * 9,
    ),
    (
        {"type": "concat", "branches": [[{"type": "conv2d", "out_channels": 2, "kernel_size": 1}], []]},
        (3, 5, 5),
        (5, 5, 5),
        2 * 3 + 2,
        0,
        2 * 5 * 5 * 3,
    ),  # 2 + 3 = 5 channels
    (
        {"type": "sequential", "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3}, R]},
        (2, 6, 6),
        (4, 4, 4),
        4 * 2 * 9 + 4,
        0,
        4 * 4 * 4 * 2 * 9,
    ),  # a group sums its layers: 76 params, 1,152 MACs
    (
        {"type": "conv2d", "kernel_size": 3, "padding": 1, "groups": "depthwise", "bias": False},
        (32, 8, 8),
        (32, 8, 8),
        32 * 1 * 9,
        0,
        32 * 8 * 8 * 1 * 9,
    ),  # depthwise: groups = C_in = 32, out_channels defaults to 32
    (
        {
            "type": "residual",
            "shortcut": "auto",
            "body": [{"type": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1, "bias": False}],
        },
        (4, 8, 8),
        (8, 4, 4),
        8 * 4 * 9 + 8 * 4 + 2 * 8,
        2 * 8,
        8 * 4 * 4 * 4 * 9 + 8 * 4 * 4 * 4,
    ),  # auto shortcut projects: 1x1 conv stride 2 (8*4 weights) + batch norm (2*8 + 2*8 running)
    (
        {"type": "residual", "shortcut": "auto", "body": [{"type": "conv2d", "out_channels": 4, "kernel_size": 1}]},
        (4, 3, 3),
        (4, 3, 3),
        4 * 4 + 4,
        0,
        4 * 3 * 3 * 4,
    ),  # same shape: the auto shortcut is the identity
]


def _analyze(fields, shape):
    return analyze(load(f"input: {json.dumps(list(shape))}\nlayers: [{json.dumps(fields)}]\n"))


@pytest.mark.parametrize("fields, inp, out, params, buffers, macs", ROWS, ids=lambda v: None)
def test_kind_row(fields, inp, out, params, buffers, macs):
    report = _analyze(fields, inp)
    (row,) = report.rows
    assert row.output_shape == out
    assert row.params == params
    assert row.non_trainable_params == buffers
    assert row.macs == macs
    assert row.flops == 2 * macs


def test_every_kind_has_a_row():
    covered = {fields["type"] for fields, *_ in ROWS}
    assert covered == set(KINDS), f"kinds without a test row: {sorted(set(KINDS) - covered)}"


def test_every_kind_is_documented():
    for name, cls in KINDS.items():
        assert cls.__doc__ and cls.__doc__.strip(), name


def test_registry_refuses_a_duplicate_name():
    from typing import Literal

    from cnnsize.kinds.base import LayerKind, register

    class Again(LayerKind):
        type: Literal["relu"] = "relu"

    with pytest.raises(TypeError, match="registered twice"):
        register(Again)


@pytest.mark.parametrize(
    "fields, inp, field, message",
    [
        (
            {"type": "conv2d", "out_channels": 4, "kernel_size": 7},
            (3, 4, 4),
            "kernel_size",
            "floor((4 + 2*0 - 7)/1) + 1 = -2",
        ),
        (
            {"type": "conv2d", "out_channels": 4, "kernel_size": 1, "groups": 2},
            (3, 4, 4),
            "groups",
            "groups=2, input channels=3",
        ),
        (
            {"type": "conv2d", "out_channels": 3, "kernel_size": 1, "groups": 2},
            (4, 4, 4),
            "groups",
            "groups=2, output channels=3",
        ),
        (
            {"type": "conv2d", "out_channels": 4, "kernel_size": 1, "in_channels": 5},
            (3, 4, 4),
            "in_channels",
            "in_channels is 5, but the layer's input has 3",
        ),
        (
            {"type": "conv_transpose2d", "out_channels": 1, "kernel_size": 3, "stride": 2, "output_padding": 2},
            (1, 4, 4),
            "output_padding",
            "smaller than stride or dilation",
        ),
        (
            {"type": "conv_transpose2d", "out_channels": 1, "kernel_size": 1, "padding": 3},
            (1, 2, 2),
            "padding",
            "(2 - 1)*1 - 2*3 + 1*(1 - 1) + 0 + 1 = -4",
        ),
        ({"type": "maxpool2d", "kernel_size": 3, "padding": 2}, (1, 8, 8), "padding", "at most half"),
        ({"type": "maxpool2d", "kernel_size": 5}, (1, 3, 3), "kernel_size", "floor((3 + 2*0 - 5)/5) + 1 = 0"),
        ({"type": "channel_maxpool", "kernel_size": 3}, (8, 2, 2), "kernel_size", "8 channels"),
        ({"type": "batchnorm2d", "num_features": 4}, (3, 2, 2), "num_features", "num_features is 4"),
        (
            {"type": "linear", "out_features": 4, "in_features": 9},
            (8,),
            "in_features",
            "in_features is 9, but the layer's input has 8",
        ),
        ({"type": "softmax", "dim": 3}, (10,), "dim", "dim must be in [-2, 1]"),
    ],
)
def test_rule_errors_name_the_field(fields, inp, field, message):
    layer = KINDS[fields["type"]].model_validate(fields)
    with pytest.raises(LayerRuleError) as info:
        layer.output_shape(inp)
    assert info.value.field == field
    assert message in info.value.message


def test_linear_on_a_volume_suggests_flatten():
    layer = KINDS["linear"].model_validate({"type": "linear", "out_features": 10})
    with pytest.raises(LayerRuleError, match=r"add `flatten` before it \(giving 48 features\)"):
        layer.output_shape((3, 4, 4))


def test_spatial_kinds_refuse_a_flat_input():
    for name, cls in KINDS.items():
        if name in ("conv2d", "maxpool2d", "batchnorm2d", "upsample", "zeropad2d", "global_avgpool2d"):
            fields = {"type": name, **_minimal(name)}
            with pytest.raises(LayerRuleError, match=r"needs a \(C, H, W\) volume"):
                cls.model_validate(fields).output_shape((10,))


def _minimal(name):
    return {
        "conv2d": {"out_channels": 1, "kernel_size": 1},
        "maxpool2d": {"kernel_size": 1},
        "upsample": {"scale_factor": 2},
        "zeropad2d": {"padding": 1},
    }.get(name, {})


def test_composites_declare_their_layer_fields():
    for cls in KINDS.values():
        if issubclass(cls, Composite):
            assert set(cls.layer_fields) <= set(cls.model_fields)
