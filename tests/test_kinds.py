"""One row per layer kind: its shape rule, parameter counts and MACs for one sample."""

import json

import pytest
from graph_rows import GRAPHS

from cnnsize.engine import analyze
from cnnsize.errors import LayerRuleError, SpecError
from cnnsize.graph import resolve
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
    ({"type": "batchnorm1d"}, (100,), (100,), 2 * 100, 2 * 100, 0),  # per feature: weight, bias; mean, var
    ({"type": "batchnorm1d", "affine": False, "track_running_stats": False}, (100,), (100,), 0, 0, 0),
    # other norms: 2*C trainable when affine; instance norm's running statistics 2*C when tracked
    ({"type": "layernorm2d", "eps": 0.001}, (96, 56, 56), (96, 56, 56), 2 * 96, 0, 0),  # ConvNeXt-T's stem norm
    ({"type": "layernorm2d", "bias": False}, (8, 3, 3), (8, 3, 3), 8, 0, 0),  # the weight alone
    ({"type": "layernorm2d", "elementwise_affine": False}, (8, 3, 3), (8, 3, 3), 0, 0, 0),
    ({"type": "groupnorm", "num_groups": 32}, (256, 14, 14), (256, 14, 14), 2 * 256, 0, 0),  # 256/32 = 8 a group
    ({"type": "groupnorm", "num_groups": 2, "affine": False}, (6,), (6,), 0, 0, 0),  # a flat input: one position
    ({"type": "instancenorm2d"}, (64, 32, 32), (64, 32, 32), 0, 0, 0),  # no affine, no running statistics
    ({"type": "instancenorm2d", "affine": True, "track_running_stats": True}, (3, 4, 4), (3, 4, 4), 2 * 3, 2 * 3, 0),
    # ConvNeXt's residual branch: C multipliers; stochastic depth has none
    ({"type": "layer_scale"}, (768, 7, 7), (768, 7, 7), 768, 0, 0),  # gamma (768, 1, 1)
    ({"type": "layer_scale", "init_value": 0.1}, (10,), (10,), 10, 0, 0),  # gamma (10,)
    ({"type": "stochastic_depth", "p": 0.1}, (96, 56, 56), (96, 56, 56), 0, 0, 0),
    ({"type": "stochastic_depth", "p": 0.5, "mode": "batch"}, (10,), (10,), 0, 0, 0),
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
    ({"type": "hardsigmoid", "inplace": True}, (3, 4, 4), (3, 4, 4), 0, 0, 0),
    ({"type": "softmax"}, (10,), (10,), 0, 0, 0),
    ({"type": "dropout", "p": 0.3}, (10,), (10,), 0, 0, 0),
    ({"type": "dropout2d"}, (3, 4, 4), (3, 4, 4), 0, 0, 0),
    # reshaping
    ({"type": "flatten"}, (12, 16, 16), (3072,), 0, 0, 0),  # 12*16*16 = 3072
    ({"type": "linear", "out_features": 10}, (3072,), (10,), 3072 * 10 + 10, 0, 3072 * 10),  # 30,730 params
    ({"type": "linear", "out_features": 4, "bias": False}, (8,), (4,), 32, 0, 32),
    ({"type": "zeropad2d", "padding": [1, 2, 3, 4]}, (2, 5, 5), (2, 8, 12), 0, 0, 0),  # 5+1+2, 5+3+4
    ({"type": "upsample", "scale_factor": 2}, (4, 7, 7), (4, 14, 14), 0, 0, 0),
    ({"type": "upsample", "scale_factor": [2, 3], "mode": "bilinear"}, (4, 7, 7), (4, 14, 21), 0, 0, 0),  # 7*2, 7*3
    ({"type": "upsample", "scale_factor": 2, "mode": "bicubic", "align_corners": True}, (1, 3, 5), (1, 6, 10), 0, 0, 0),
    # views
    ({"type": "center_crop", "size": [56, 48]}, (64, 64, 64), (64, 56, 48), 0, 0, 0),  # U-Net skip: 64x64 -> 56x48
    ({"type": "center_crop", "size": 3}, (2, 3, 3), (2, 3, 3), 0, 0, 0),  # the whole map
    ({"type": "reshape", "shape": [512, 4, 4]}, (8192,), (512, 4, 4), 0, 0, 0),  # 512*4*4 = 8192
    ({"type": "reshape", "shape": [-1]}, (3, 4, 5), (60,), 0, 0, 0),  # 3*4*5 = 60
    ({"type": "reshape", "shape": [2, -1, 5]}, (4, 5, 3), (2, 6, 5), 0, 0, 0),  # 60/(2*5) = 6
    ({"type": "unflatten", "sizes": [512, 4, 4]}, (8192,), (512, 4, 4), 0, 0, 0),  # DCGAN after its linear
    ({"type": "unflatten", "dim": -1, "sizes": [-1, 2, 3]}, (24,), (4, 2, 3), 0, 0, 0),  # 24/(2*3) = 4
    ({"type": "unflatten", "dim": 2, "sizes": [5]}, (3, 5, 7), (3, 5, 7), 0, 0, 0),  # a split into one: unchanged
    # channels and positions rearranged: no parameters
    ({"type": "pixel_shuffle", "upscale_factor": 3}, (18, 4, 5), (2, 12, 15), 0, 0, 0),  # 18/3^2, 4*3, 5*3
    ({"type": "pixel_unshuffle", "downscale_factor": 2}, (3, 8, 6), (12, 4, 3), 0, 0, 0),  # 3*2^2, 8/2, 6/2
    ({"type": "channel_shuffle", "groups": 4}, (8, 5, 5), (8, 5, 5), 0, 0, 0),
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
    covered = {fields["type"] for fields, *_ in ROWS} | {kind for kind, _ in GRAPHS}
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
        (
            {"type": "groupnorm", "num_groups": 3},
            (64, 4, 4),
            "num_groups",
            "the number of channels must be evenly divisible by num_groups. Received: num_groups=3, channels=64",
        ),
        ({"type": "groupnorm", "num_groups": 2, "num_channels": 6}, (4,), "num_channels", "num_channels is 6"),
        ({"type": "instancenorm2d", "num_features": 4}, (3, 2, 2), "num_features", "num_features is 4"),
        ({"type": "batchnorm1d", "num_features": 4}, (3,), "num_features", "num_features is 4, but the layer's input"),
        (
            {"type": "pixel_shuffle", "upscale_factor": 2},
            (6, 4, 4),
            "upscale_factor",
            "evenly divisible by upscale_factor squared. Received: upscale_factor=2 (squared: 4), channels=6",
        ),
        (
            {"type": "pixel_unshuffle", "downscale_factor": 3},
            (1, 9, 10),
            "downscale_factor",
            "the width must be evenly divisible by downscale_factor. Received: downscale_factor=3, width=10",
        ),
        (
            {"type": "pixel_unshuffle", "downscale_factor": 2},
            (1, 5, 4),
            "downscale_factor",
            "the height must be evenly divisible by downscale_factor. Received: downscale_factor=2, height=5",
        ),
        (
            {"type": "channel_shuffle", "groups": 3},
            (8, 2, 2),
            "groups",
            "the number of channels must be evenly divisible by groups. Received: groups=3, channels=8",
        ),
        (
            {"type": "center_crop", "size": [4, 6]},
            (2, 5, 5),
            "size",
            "the crop must fit the input. Received: size=[4, 6], input height x width=5x5",
        ),
        # 3*4*4 = 48 values; [5, 10] holds 50
        (
            {"type": "reshape", "shape": [5, 10, 1]},
            (3, 4, 4),
            "shape",
            "shape [5, 10, 1] holds 50 values, but the input",
        ),
        # 48 is not divisible by 5*1 = 5
        (
            {"type": "reshape", "shape": [5, -1, 1]},
            (3, 4, 4),
            "shape",
            "48 is not divisible by the product of the others, 5",
        ),
        (
            {"type": "unflatten", "sizes": [4, 4]},
            (12,),
            "sizes",
            "sizes [4, 4] holds 16 values, but axis 0 of the input",
        ),
        ({"type": "unflatten", "sizes": [2, 3]}, (6,), "sizes", "gives [2, 3], but cnnsize's shapes are [features] or"),
        ({"type": "unflatten", "sizes": [2, 2], "dim": 1}, (4, 3, 3), "sizes", "gives [2, 2, 3, 3]"),
        (
            {"type": "unflatten", "dim": 2, "sizes": [12]},
            (12,),
            "dim",
            "dim must be in [-2, 1] for a batched input of 2 dimensions, got 2",
        ),
        ({"type": "unflatten", "dim": 0, "sizes": [12]}, (12,), "dim", "dim 0 is the batch"),
    ],
)
def test_rule_errors_name_the_field(fields, inp, field, message):
    layer = KINDS[fields["type"]].model_validate(fields)
    with pytest.raises(LayerRuleError) as info:
        layer.output_shape(inp)
    assert info.value.field == field
    assert message in info.value.message


def test_instance_norm_needs_more_than_one_position():
    layer = KINDS["instancenorm2d"].model_validate({"type": "instancenorm2d"})
    with pytest.raises(LayerRuleError, match=r"more than one position per channel.*Received: input \[8, 1, 1\]"):
        layer.output_shape((8, 1, 1))
    assert layer.output_shape((8, 1, 2)) == (8, 1, 2)  # two positions are enough


def test_batchnorm1d_on_a_volume_points_to_batchnorm2d():
    layer = KINDS["batchnorm1d"].model_validate({"type": "batchnorm1d"})
    with pytest.raises(LayerRuleError, match=r"input is the volume \[3, 4, 4\]; use batchnorm2d for volumes"):
        layer.output_shape((3, 4, 4))


def test_center_crop_rounds_the_offset_down():
    crop = KINDS["center_crop"].model_validate({"type": "center_crop", "size": [4, 3]})
    # (7 - 4)/2 = 1.5 -> 1 (the extra row at the bottom); (6 - 3)/2 = 1.5 -> 1; (9 - 3)/2 = 3
    assert crop.offsets((1, 7, 6)) == (1, 1)
    assert crop.offsets((1, 8, 9)) == (2, 3)


@pytest.mark.parametrize(
    "layer, message",
    [
        (
            "{type: upsample, scale_factor: 2, align_corners: false}",
            "layers[0].align_corners: align_corners applies only to the interpolating modes bilinear and bicubic; "
            "leave it out with mode nearest. Received: mode='nearest', align_corners=false",
        ),
        (
            "{type: upsample, scale_factor: 2, mode: linear}",
            "layers[0].mode: must be 'nearest', 'bilinear' or 'bicubic'",
        ),
        ("{type: reshape, shape: [4, 4]}", "layers[0].shape: must be [features] or [C, H, W] (one entry may be -1)"),
        (
            "{type: reshape, shape: [-1, -1, 4]}",
            "layers[0].shape: must be a non-empty list of positive integers, at most one of them -1",
        ),
        ("{type: unflatten, sizes: [0, 4]}", "layers[0].sizes: must be a non-empty list of positive integers"),
        ("{type: unflatten, sizes: []}", "layers[0].sizes: must be a non-empty list of positive integers"),
        ("{type: stochastic_depth, p: 0.2, mode: col}", "layers[0].mode: must be 'row' or 'batch'"),
        ("{type: stochastic_depth, p: 1.5}", "layers[0].p: must be a number from 0 to 1, got 1.5"),
        ("{type: stochastic_depth}", "layers[0]: missing required field 'p'"),
        ("{type: groupnorm, num_groups: 0}", "layers[0].num_groups: must be a positive integer, got 0"),
        # a float field is finite: infinity means nothing to a norm's eps or an activation's slope
        ("{type: batchnorm2d, eps: .inf}", "layers[0].eps: must be a positive finite number, got Infinity"),
        (
            "{type: leaky_relu, negative_slope: -.inf}",
            "layers[0].negative_slope: must be a finite number, got -Infinity",
        ),
        ("{type: layer_scale, init_value: .nan}", "layers[0].init_value: must be a finite number, got NaN"),
        ("{type: lppool2d, norm_type: .nan, kernel_size: 2}", "layers[0].norm_type: must be a positive number or .inf"),
    ],
)
def test_bad_fields_of_the_new_kinds_are_reported(layer, message):
    with pytest.raises(SpecError) as info:
        load(f"input: [4, 8, 8]\nlayers:\n  - {layer}\n")
    assert message in str(info.value)


def test_lppool_keeps_infinity_as_pytorch_does():
    # LPPool2d with norm_type=inf is max pooling of |x|: the one float field where infinity means something
    spec = load("input: [4, 8, 8]\nlayers:\n  - {type: lppool2d, norm_type: .inf, kernel_size: 2}\n")
    assert spec.layers[0].norm_type == float("inf")


def test_linear_on_a_volume_suggests_flatten():
    layer = KINDS["linear"].model_validate({"type": "linear", "out_features": 10})
    with pytest.raises(LayerRuleError, match=r"add `flatten` before it \(giving 48 features\)"):
        layer.output_shape((3, 4, 4))


def test_spatial_kinds_refuse_a_flat_input():
    for name, cls in KINDS.items():
        if name in (
            "conv2d",
            "maxpool2d",
            "batchnorm2d",
            "upsample",
            "zeropad2d",
            "global_avgpool2d",
            "layernorm2d",
            "instancenorm2d",
            "pixel_shuffle",
            "pixel_unshuffle",
            "channel_shuffle",
            "center_crop",
        ):
            fields = {"type": name, **_minimal(name)}
            with pytest.raises(LayerRuleError, match=r"needs a \(C, H, W\) volume"):
                cls.model_validate(fields).output_shape((10,))


def _minimal(name):
    return {
        "conv2d": {"out_channels": 1, "kernel_size": 1},
        "maxpool2d": {"kernel_size": 1},
        "upsample": {"scale_factor": 2},
        "zeropad2d": {"padding": 1},
        "pixel_shuffle": {"upscale_factor": 1},
        "pixel_unshuffle": {"downscale_factor": 1},
        "channel_shuffle": {"groups": 1},
        "center_crop": {"size": 1},
    }.get(name, {})


def test_composites_declare_their_layer_fields():
    for cls in KINDS.values():
        if issubclass(cls, Composite):
            assert set(cls.layer_fields) <= set(cls.model_fields)


@pytest.mark.parametrize(
    "body, hint",
    [
        # two unpadded 3x3 convolutions: 16 -> 14 -> 12; a 1x1 conv gives 16 (stride 1) or 8 (stride 2),
        # never 12, so the fix is padding in the body
        (
            "[{type: conv2d, out_channels: 8, kernel_size: 3}, {type: conv2d, out_channels: 8, kernel_size: 3}]",
            "; the body shrinks the map from 16x16 to 12x12, which no 1x1 shortcut can match: pad the body's "
            "convolutions (a 3x3 convolution keeps the size with `padding: 1`)",
        ),
        # a strided, widening body: floor((16 - 1)/2) + 1 = 8, so a 1x1 conv with stride 2 matches
        (
            "[{type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}]",
            "; give a `shortcut`: a 1x1 conv2d with 16 out_channels and stride 2, or `shortcut: auto`",
        ),
        # 16 -> 6: floor(15/s) + 1 = 6 needs floor(15/s) = 5, so s = 3
        (
            "[{type: conv2d, out_channels: 8, kernel_size: 3, stride: 3, padding: 1}]",
            "; give a `shortcut`: a 1x1 conv2d with 8 out_channels and stride 3, or `shortcut: auto`",
        ),
    ],
)
def test_a_residual_whose_paths_differ_gets_the_fix_that_can_work(body, hint):
    spec = load(f"input: [8, 16, 16]\nlayers:\n  - {{type: residual, body: {body}}}\n")
    with pytest.raises(SpecError) as info:
        resolve(spec)  # shapes meet where the graph is resolved
    (problem,) = info.value.problems
    assert problem.message.endswith(hint)
