"""`groups: depthwise` on conv2d: one group per input channel, whatever their inferred number."""

from __future__ import annotations

import pytest

from cnnsize.engine import analyze
from cnnsize.errors import SpecError
from cnnsize.kinds.conv import Conv2d
from cnnsize.loader import load

DEPTHWISE = {"type": "conv2d", "kernel_size": 3, "padding": 1, "groups": "depthwise", "bias": False}


@pytest.mark.parametrize(
    "fields, inp, out, weight, macs",
    [
        # MobileNetV2's 3x3 depthwise at 144 channels: weight (144, 1, 3, 3); 144*56*56*1*3*3 = 4,064,256 MACs
        ({}, (144, 56, 56), (144, 56, 56), (144, 1, 3, 3), 4_064_256),
        # stride 2: floor((112 + 2 - 3)/2) + 1 = 56; 96*56*56*1*3*3 = 2,709,504 MACs
        ({"stride": 2}, (96, 112, 112), (96, 56, 56), (96, 1, 3, 3), 2_709_504),
        # channel multiplier 2: out 16 = 2 x 8, weight (16, 1, 3, 3); 16*10*10*1*3*3 = 14,400 MACs
        ({"out_channels": 16}, (8, 10, 10), (16, 10, 10), (16, 1, 3, 3), 14_400),
    ],
)
def test_depthwise_takes_its_groups_from_the_input(fields, inp, out, weight, macs):
    conv = Conv2d.model_validate({**DEPTHWISE, **fields})
    assert conv.output_shape(inp) == out
    assert conv.weight_shapes(inp) == {"weight": weight}
    assert conv.macs(inp, out) == macs
    assert conv.groups_for(inp[0]) == inp[0]


def test_numeric_groups_still_work_as_before():
    conv = Conv2d.model_validate({"type": "conv2d", "out_channels": 8, "kernel_size": 1, "groups": 2})
    # weight (8, 4/2, 1, 1) + bias 8 = 24 params
    assert conv.params((4, 5, 5)) == 8 * 2 + 8
    assert (conv.groups_for(4), conv.out_channels_for(4)) == (2, 8)


def test_a_depthwise_multiplier_must_divide_by_the_input_channels():
    spec = load(
        "input: [8, 10, 10]\nlayers:\n  - {type: conv2d, kernel_size: 3, groups: depthwise, out_channels: 12}\n"
    )
    with pytest.raises(SpecError, match="output channels must be evenly divisible by groups. Received: groups=8"):
        analyze(spec)


@pytest.mark.parametrize(
    "layer, message",
    [
        (
            "{type: conv2d, kernel_size: 3}",
            "layers[0]: missing required field 'out_channels' (only a `groups: depthwise`",
        ),
        (
            "{type: conv2d, out_channels: 4, kernel_size: 3, groups: dw}",
            "groups: must be a positive integer or 'depthwise'",
        ),
        (
            "{type: conv2d, out_channels: 4, kernel_size: 3, groups: 0}",
            "groups: must be a positive integer or 'depthwise'",
        ),
    ],
)
def test_bad_groups_and_a_missing_out_channels_are_reported(layer, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace("[", r"\[").replace("]", r"\]")):
        load(f"input: [8, 10, 10]\nlayers:\n  - {layer}\n")
