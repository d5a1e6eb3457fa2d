"""The sharing view (cnnsize.sharing): each convolution against a locally connected and a fully
connected layer between the same volumes, worked by hand as CS231n's lecture works them."""

from __future__ import annotations

import random

import pytest

from cnnsize.engine import analyze
from cnnsize.loader import load_argument
from cnnsize.sharing import _landings, sharing


def view_of(make_spec, input_shape, *layers):
    return sharing(analyze(make_spec({"input": list(input_shape), "layers": list(layers)})))


def test_the_lectures_example_32x32x3_with_ten_5x5_filters(make_spec):
    # CS231n: input 32x32x3, 10 filters of 5x5, stride 1, padding 2 -> output 32x32x10
    (row,) = view_of(
        make_spec, (3, 32, 32), {"type": "conv2d", "out_channels": 10, "kernel_size": 5, "padding": 2}
    ).rows
    assert row.output_shape == (10, 32, 32)
    # each filter 5*5*3 = 75 weights and a bias: 10 * 76 = 760
    assert row.params == 760
    # each output unit reads its 5x5x3 window: 75 of the 32*32*3 = 3,072 inputs (bias not counted)
    assert (row.per_unit, row.inputs) == (75, 3_072)
    # 32*32*10 = 10,240 output units; fully connected: 3,072 * 10,240 + 10,240 biases
    assert row.units == 10_240
    assert row.dense == 3_072 * 10_240 + 10_240 == 31_467_520
    # no sharing: 75 weights and a bias for each of the 10,240 units: 10,240 * 76
    assert row.unshared == 10_240 * 76 == 778_240
    assert row.bias is True


def test_alexnets_first_layer_as_the_lecture_counts_it(make_spec):
    # CS231n: input 227x227x3, 96 filters of 11x11 at stride 4 -> (227 - 11)/4 + 1 = 55: 55x55x96
    (row,) = view_of(
        make_spec, (3, 227, 227), {"type": "conv2d", "out_channels": 96, "kernel_size": 11, "stride": 4}
    ).rows
    assert row.output_shape == (96, 55, 55)
    # 96 filters of 11*11*3 = 363 weights, and 96 biases: 34,848 + 96
    assert row.params == 96 * 363 + 96 == 34_944
    # "55*55*96 = 290,400 neurons ... each has 11*11*3 = 363 weights and 1 bias. Together, this
    # adds up to 290400 * 364 = 105,705,600 parameters" without parameter sharing
    assert row.units == 290_400
    assert row.unshared == 290_400 * 364 == 105_705_600
    # fully connected: 227*227*3 = 154,587 inputs to each of 290,400 units, and 290,400 biases
    assert row.inputs == 154_587
    assert row.dense == 154_587 * 290_400 + 290_400 == 44_892_355_200
    assert row.per_unit == 363


def test_without_a_bias_nothing_counts_one(make_spec):
    # small-resnet's stem: 3 -> 16 channels, 3x3, padding 1, no bias, on 32x32
    (row,) = view_of(
        make_spec, (3, 32, 32), {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1, "bias": False}
    ).rows
    assert row.params == 16 * 27 == 432  # 16 filters of 3*3*3, no bias
    assert row.dense == 3_072 * 16_384 == 50_331_648  # 32*32*3 inputs x 32*32*16 units, no biases
    assert row.unshared == 16_384 * 27 == 442_368  # 27 weights a unit, no biases
    assert row.bias is False


def test_groups_narrow_what_a_unit_reads(make_spec):
    # 8 channels in 4 groups: a unit reads 8/4 = 2 channels of a 3x3 window, 18 inputs
    (row,) = view_of(
        make_spec, (8, 10, 10), {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1, "groups": 4}
    ).rows
    assert row.per_unit == 2 * 9 == 18
    assert row.params == 16 * 18 + 16 == 304
    # fully connected ignores the groups: 800 inputs x 1,600 units, and 1,600 biases
    assert row.dense == 800 * 1_600 + 1_600
    depthwise = view_of(make_spec, (8, 10, 10), {"type": "conv2d", "groups": "depthwise", "kernel_size": 3}).rows[0]
    assert depthwise.per_unit == 9  # one channel's 3x3 window
    assert depthwise.params == 8 * 9 + 8


def test_a_transposed_convolution_counts_the_taps_landing_on_each_unit(make_spec):
    # 4 channels of 3x3 up to 2 channels of 6x6: kernel 4, stride 2, padding 1 ((3-1)*2 - 2 + 4 = 6)
    (row,) = view_of(
        make_spec,
        (4, 3, 3),
        {"type": "conv_transpose2d", "out_channels": 2, "kernel_size": 4, "stride": 2, "padding": 1},
    ).rows
    assert row.output_shape == (2, 6, 6)
    # along an axis, input i's tap j lands on 2i + j - 1: i=0 on -1 (cropped), 0, 1, 2; i=1 on 1, 2,
    # 3, 4; i=2 on 3, 4, 5, 6 (cropped). Positions 0..5 get 1, 2, 2, 2, 2, 1 taps: at most 2, 10 in all
    # a unit reads its 4 input channels at up to 2 x 2 taps: 16
    assert row.per_unit == 4 * 2 * 2 == 16
    # connections: 2 output channels x 4 input channels x 10 x 10 landings
    assert row.connections == 2 * 4 * 10 * 10 == 800
    assert row.params == 4 * 2 * 4 * 4 + 2 == 130  # weight [C_in, C_out, 4, 4] and 2 biases
    assert row.unshared == 800 + 2 * 36 == 872  # a weight per connection, a bias per unit (72)
    assert row.dense == 36 * 72 + 72 == 2_664  # 4*3*3 = 36 inputs x 2*6*6 = 72 units, 72 biases


def test_the_landings_of_a_transposed_convolution_against_a_loop_over_every_tap():
    rng = random.Random(12)
    for _ in range(2_000):
        size, k, s, d, p = rng.randint(1, 9), rng.randint(1, 6), rng.randint(1, 4), rng.randint(1, 3), rng.randint(0, 6)
        out = rng.randint(1, 40)
        landed = [0] * out
        for i in range(size):
            for j in range(k):
                if 0 <= i * s + j * d - p < out:
                    landed[i * s + j * d - p] += 1
        assert _landings(size, out, k, s, d, p) == (max(landed), sum(landed)), (size, out, k, s, d, p)


def test_a_large_transposed_convolution_is_counted_without_visiting_every_position():
    # 1 x 1 x 10^9 input, kernel 3, stride 2: the sweep's work follows the kernel, not the sizes
    # along the width: taps land on 2i + j (no padding); the output is (10^9 - 1)*2 + 3 wide
    out = (10**9 - 1) * 2 + 3
    most, total = _landings(10**9, out, 3, 2, 1, 0)
    assert (most, total) == (2, 3 * 10**9)  # even positions 2..: taps j=0 and j=2; every tap lands


def test_rows_follow_the_graph_into_composites_and_sum_to_the_totals():
    report = analyze(load_argument("specs/small-resnet.yaml"))
    view = sharing(report)
    # the stem, two convolutions in each of three bodies, and block3's projection shortcut
    assert len(view.rows) == 1 + 3 * 2 + 1
    convs = [row for row in report.leaves() if row.type == "conv2d"]
    assert [r.path for r in view.rows] == [r.path for r in convs]
    assert [r.params for r in view.rows] == [r.params for r in convs]  # the engine's own counts
    assert view.params == sum(r.params for r in convs) == sum(r.params for r in view.rows)
    assert view.dense == sum(r.dense for r in view.rows)
    assert view.unshared == sum(r.unshared for r in view.rows)
    projection = view.rows[-1]
    # block3's shortcut: 1x1, stride 2, 16 -> 32 channels, 32x32 -> 16x16: a unit reads 16 inputs
    assert (projection.input_shape, projection.output_shape, projection.per_unit) == ((16, 32, 32), (32, 16, 16), 16)


def test_a_network_without_convolutions_has_no_rows(make_spec):
    view = view_of(make_spec, (16,), {"type": "linear", "out_features": 4})
    assert view.rows == () and view.params == view.dense == 0
    assert view.to_dict()["totals"]["dense_over_params"] is None


def test_json(make_spec):
    data = view_of(
        make_spec, (3, 32, 32), {"type": "conv2d", "out_channels": 10, "kernel_size": 5, "padding": 2}
    ).to_dict()
    (conv,) = data["convolutions"]
    assert data["view"] == "sharing"
    assert (conv["params"], conv["dense_params"], conv["unshared_params"]) == (760, 31_467_520, 778_240)
    assert conv["dense_over_params"] == pytest.approx(31_467_520 / 760)
    assert conv["connected_share"] == pytest.approx(75 / 3_072)
    assert data["totals"]["params"] == 760
    assert data["provenance"]["inputs"] == [{"name": "input", "shape": [3, 32, 32]}]


def test_dcgans_first_upsampling_with_output_padding():
    # specs/dcgan-generator.yaml's conv1: [1024, 4, 4] -> [512, 8, 8], kernel 5, stride 2, padding 2,
    # output_padding 1, no bias. Along an axis input i's tap j lands on 2i + j - 2: i=0 on 0..2 (two
    # cropped), i=1 on 0..4, i=2 on 2..6, i=3 on 4..7 (8 cropped). Positions 0..7 get 2, 2, 3, 2, 3,
    # 2, 2, 1 taps: at most 3, 17 in all (20 taps less the 3 cropped)
    view = sharing(analyze(load_argument("specs/dcgan-generator.yaml")))
    first = view.rows[0]
    assert (first.type, first.input_shape, first.output_shape) == ("conv_transpose2d", (1024, 4, 4), (512, 8, 8))
    assert first.per_unit == 1024 * 3 * 3 == 9_216
    assert first.connections == 512 * 1024 * 17 * 17 == 151_519_232
    assert first.params == 1024 * 512 * 25 == 13_107_200  # no bias
    assert first.unshared == first.connections  # no biases either
    assert len(view.rows) == 4  # the linear that projects z is no convolution
