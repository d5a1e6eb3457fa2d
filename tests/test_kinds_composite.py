"""The `sequential` kind and residual's `shortcut: auto` (torchvision's downsample convention)."""

from __future__ import annotations

import pytest

from cnnsize.engine import analyze
from cnnsize.errors import LayerRuleError, SpecError
from cnnsize.kinds.composite import Residual, projection
from cnnsize.kinds.elementwise import ReLU
from cnnsize.loader import load


def report(layers: str, input_shape: str = "[8, 16, 16]"):
    return analyze(load(f"input: {input_shape}\nlayers:\n{layers}"))


def test_sequential_sums_its_layers_and_adds_no_merge_row():
    result = report(
        "  - type: sequential\n    name: group\n    layers:\n"
        "      - {type: conv2d, out_channels: 4, kernel_size: 3}\n      - relu\n"
    )
    [group] = result.rows
    assert group.type == "sequential" and group.name == "group"
    assert [child.type for child in group.children] == ["conv2d", "relu"]
    # conv 8*4*3*3 + 4 = 292 params; 4*14*14*8*3*3 = 56,448 MACs
    assert (group.params, group.macs, group.output_shape) == (292, 56_448, (4, 14, 14))
    assert group.activation_bytes == sum(child.activation_bytes for child in group.children)


def test_sequential_must_hold_a_layer():
    with pytest.raises(SpecError, match=r"layers\[0\]\.layers: must not be empty"):
        report("  - {type: sequential, layers: []}\n")


@pytest.mark.parametrize(
    "inp, out, expected",
    [
        ((64, 56, 56), (64, 56, 56), []),  # identity: the shapes agree
        ((64, 56, 56), (256, 56, 56), [(256, (1, 1))]),  # resnet50 layer1: channels only
        ((256, 56, 56), (512, 28, 28), [(512, (2, 2))]),  # floor((56 - 1)/2) + 1 = 28
        ((64, 7, 7), (128, 4, 4), [(128, (2, 2))]),  # floor((7 - 1)/2) + 1 = 4
        ((8, 5, 9), (8, 1, 3), [(8, (5, 3))]),  # floor(4/5) + 1 = 1; floor(8/3) + 1 = 3 (smallest such stride)
    ],
)
def test_auto_shortcut_projects_only_where_the_shapes_differ(inp, out, expected):
    layers = projection(inp, out)
    convs = [(conv.out_channels, conv.stride) for conv in layers[::2]]
    assert convs == expected
    if layers:
        conv, norm = layers
        assert conv.kernel_size == (1, 1) and conv.bias is False and norm.kind == "batchnorm2d"
        assert conv.output_shape(inp) == out


@pytest.mark.parametrize(
    "inp, out, message",
    [
        (
            (8, 10, 10),
            (8, 7, 7),
            "finds no stride for a 1x1 convolution that takes [8, 10, 10] to the body's [8, 7, 7]",
        ),
        ((8, 4, 4), (8, 8, 8), "finds no stride"),
        ((16,), (8,), "projects volumes with a 1x1 convolution, but the body takes [16] to [8]"),
    ],
)
def test_auto_shortcut_refuses_what_no_projection_can_match(inp, out, message):
    with pytest.raises(LayerRuleError, match=message.replace("[", r"\[").replace("]", r"\]")):
        projection(inp, out)


def test_auto_shortcut_counts_as_torchvision_downsample():
    result = report(
        "  - type: residual\n    shortcut: auto\n    body:\n"
        "      - {type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1, bias: false}\n"
        "      - batchnorm2d\n"
    )
    [residual] = result.rows
    assert [row.path[-2:] for row in residual.children] == [
        ("body", 0),
        ("body", 1),
        ("shortcut", 0),
        ("shortcut", 1),
        (0, "add"),
    ]
    # body: 8*16*3*3 = 1,152 + bn 2*16 = 32; shortcut: 8*16 = 128 + bn 32
    assert residual.params == 1_152 + 32 + 128 + 32
    # body conv 16*8*8*8*3*3 = 73,728 MACs; shortcut conv 16*8*8*8 = 8,192 MACs
    assert residual.macs == 73_728 + 8_192
    assert result.totals.non_trainable_params == 2 * 16 + 2 * 16


def test_auto_shortcut_is_the_identity_when_the_body_keeps_the_shape():
    result = report(
        "  - type: residual\n    shortcut: auto\n    body: [{type: conv2d, out_channels: 8, kernel_size: 1}]\n"
    )
    [residual] = result.rows
    assert [row.type for row in residual.children] == ["conv2d", "add"]


def test_auto_shortcut_error_points_at_the_residual():
    with pytest.raises(SpecError) as caught:
        report("  - type: residual\n    shortcut: auto\n    body: [{type: conv2d, out_channels: 8, kernel_size: 4}]\n")
    [problem] = caught.value.problems
    assert (problem.location.line, problem.location.column) == (3, 5)
    assert "residual: `shortcut: auto` finds no stride" in problem.message


def test_shortcut_takes_a_list_or_auto_only():
    with pytest.raises(SpecError, match="shortcut: must be a list of layers or 'auto', got 'automatic'"):
        report("  - {type: residual, shortcut: automatic, body: [relu]}\n")


def test_residual_sequences_leave_an_auto_shortcut_to_derived_sequences():
    residual = Residual.model_validate({"body": [ReLU()], "shortcut": "auto"})
    assert [path for path, _ in residual.sequences()] == [("body",)]
    assert residual.derived_sequences((4, 8, 8), [(4, 8, 8)]) == [(("shortcut",), [])]
