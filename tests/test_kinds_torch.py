"""Every registered layer kind, built in PyTorch, agrees with the engine: one row at least per kind,
so a kind added without a PyTorch construction (or with a rule PyTorch disagrees with) fails here."""

from __future__ import annotations

from typing import Any

import pytest
from graph_rows import CNBLOCK, DCGAN, GRAPHS
from oracle import assert_engine_equals_pytorch

from cnnsize.kinds import KINDS

CONV = {"type": "conv2d", "out_channels": 4, "kernel_size": 1}

# (input shape, layer): the engine's figures for each are checked against what PyTorch builds.
ROWS: list[tuple[list[int], Any]] = [
    ([3, 9, 9], {"type": "conv2d", "out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1, "groups": 3}),
    ([4, 7, 8], {"type": "conv2d", "out_channels": 2, "kernel_size": [2, 3], "stride": 3, "padding": "same"}),
    ([2, 5, 5], {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "dilation": 2, "padding": "full"}),
    ([2, 6, 6], {"type": "conv2d", "out_channels": 3, "kernel_size": 2, "padding": [0, 1, 2, 0], "bias": False}),
    (
        [4, 7, 7],
        {
            "type": "conv_transpose2d",
            "out_channels": 2,
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "output_padding": 1,
            "groups": 2,
        },
    ),  # (7 - 1)*2 - 2 + 2 + 1 + 1 = 14
    (
        [2, 5, 5],
        {
            "type": "conv_transpose2d",
            "out_channels": 3,
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "output_padding": 1,
            "dilation": 2,
        },
    ),  # (5 - 1)*2 - 2 + 4 + 1 + 1 = 12
    ([3, 5, 5], {"type": "maxpool2d", "kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}),  # 3, not 4
    ([3, 9, 9], {"type": "maxpool2d", "kernel_size": 3, "stride": 2, "dilation": 2}),
    ([3, 14, 14], {"type": "avgpool2d", "kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),  # 8
    ([3, 7, 7], {"type": "lppool2d", "norm_type": 2, "kernel_size": 2, "ceil_mode": True}),  # ceil(5/2) + 1 = 4
    ([3, 7, 5], {"type": "adaptive_avgpool2d", "output_size": [3, 2]}),
    ([3, 7, 5], {"type": "adaptive_maxpool2d", "output_size": 4}),
    ([3, 7, 5], "global_avgpool2d"),
    ([3, 7, 5], "global_maxpool2d"),
    ([6, 3, 3], {"type": "channel_maxpool", "kernel_size": 3}),
    ([6, 3, 3], {"type": "channel_avgpool", "kernel_size": 2}),
    ([3, 4, 4], "batchnorm2d"),
    ([3, 4, 4], {"type": "batchnorm2d", "affine": False, "track_running_stats": False}),
    ([3, 4, 4], "identity"),
    ([3, 4, 4], {"type": "relu", "inplace": True}),
    ([3, 4, 4], "relu6"),
    ([3, 4, 4], {"type": "leaky_relu", "negative_slope": 0.2}),
    ([3, 4, 4], {"type": "elu", "alpha": 0.5}),
    ([3, 4, 4], {"type": "gelu", "approximate": "tanh"}),
    ([3, 4, 4], "silu"),
    ([3, 4, 4], "sigmoid"),
    ([3, 4, 4], "tanh"),
    ([3, 4, 4], "hardswish"),
    ([3, 4, 4], {"type": "softmax", "dim": -1}),
    ([3, 4, 4], {"type": "dropout", "p": 0.1}),
    ([3, 4, 4], "dropout2d"),
    ([3, 4, 4], "flatten"),
    ([12], {"type": "linear", "out_features": 5}),
    ([12], {"type": "linear", "out_features": 5, "bias": False}),
    ([3, 4, 4], {"type": "zeropad2d", "padding": [1, 2, 0, 3]}),
    ([3, 4, 5], {"type": "upsample", "scale_factor": [2, 3]}),
    ([3, 4, 5], {"type": "upsample", "scale_factor": [2, 3], "mode": "bilinear"}),
    ([3, 4, 5], {"type": "upsample", "scale_factor": 2, "mode": "bicubic", "align_corners": True}),
    ([3, 4, 4], {"type": "hardsigmoid", "inplace": True}),
    ([3, 4, 4], {"type": "batchnorm2d", "affine": False}),
    ([12], "batchnorm1d"),
    ([12], {"type": "batchnorm1d", "affine": False, "track_running_stats": False}),
    ([6, 4, 5], {"type": "layernorm2d", "eps": 0.001}),
    ([6, 4, 5], {"type": "layernorm2d", "bias": False}),
    ([6, 4, 5], {"type": "groupnorm", "num_groups": 3}),
    ([6], {"type": "groupnorm", "num_groups": 2, "affine": False}),
    ([3, 4, 5], "instancenorm2d"),
    ([3, 4, 5], {"type": "instancenorm2d", "affine": True, "track_running_stats": True}),
    ([3, 4, 5], "layer_scale"),
    ([7], {"type": "layer_scale", "init_value": 0.5}),
    ([3, 4, 5], {"type": "stochastic_depth", "p": 0.2}),
    ([3, 4, 5], {"type": "stochastic_depth", "p": 0.2, "mode": "batch"}),
    ([8, 3, 2], {"type": "pixel_shuffle", "upscale_factor": 2}),  # [2, 6, 4]
    ([2, 6, 4], {"type": "pixel_unshuffle", "downscale_factor": 2}),  # [8, 3, 2]
    ([6, 3, 3], {"type": "channel_shuffle", "groups": 3}),
    ([3, 7, 6], {"type": "center_crop", "size": [4, 3]}),
    ([48], {"type": "reshape", "shape": [3, -1, 4]}),  # [3, 4, 4]
    ([3, 4, 4], {"type": "reshape", "shape": [4, 3, 4]}),
    ([48], {"type": "unflatten", "sizes": [3, 4, 4]}),
    ([3, 8, 8], {"type": "residual", "body": [CONV], "shortcut": [CONV]}),
    ([4, 8, 8], {"type": "residual", "body": [CONV, "batchnorm2d"]}),
    (
        [3, 8, 8],
        {
            "type": "concat",
            "branches": [[CONV], [], [{"type": "maxpool2d", "kernel_size": 3, "stride": 1, "padding": 1}]],
        },
    ),
    ([6], {"type": "concat", "branches": [[{"type": "linear", "out_features": 2}], []]}),
    ([3, 8, 8], {"type": "sequential", "layers": [CONV, "relu"]}),
    ([8, 6, 6], {"type": "conv2d", "kernel_size": 3, "groups": "depthwise", "padding": 1}),
    ([8, 6, 6], {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "groups": "depthwise", "bias": False}),
    (
        [4, 8, 8],
        {
            "type": "residual",
            "shortcut": "auto",
            "body": [{"type": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1}],
        },
    ),  # projects: 1x1 conv at stride 2 + batch norm
    ([3, 8, 8], {"type": "residual", "shortcut": "auto", "body": [CONV]}),  # the identity
    ([4, 8, 8], CNBLOCK),
    ([16], DCGAN),  # [4, 8, 8]: (4 - 1)*2 - 2 + 4 = 8
]


def _kind(layer: Any) -> str:
    return layer if isinstance(layer, str) else layer["type"]


@pytest.mark.parametrize("inp, layer", ROWS, ids=[f"{_kind(layer)}-{i}" for i, (_, layer) in enumerate(ROWS)])
def test_kind_agrees_with_pytorch(make_spec, inp, layer):
    assert_engine_equals_pytorch(make_spec({"input": inp, "layers": [layer]}))


@pytest.mark.parametrize("kind, data", GRAPHS, ids=[f"{kind}-{i}" for i, (kind, _) in enumerate(GRAPHS)])
def test_join_or_split_agrees_with_pytorch(make_spec, kind, data):
    assert_engine_equals_pytorch(make_spec(data))


def test_every_registered_kind_has_a_row():
    missing = sorted(set(KINDS) - {_kind(layer) for _, layer in ROWS} - {kind for kind, _ in GRAPHS})
    assert not missing, f"add a row (and a torch_module) for: {', '.join(missing)}"
