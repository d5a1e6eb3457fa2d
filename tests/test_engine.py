"""The engine: shapes through a network, totals, composites, receptive field, and rule errors
located in the spec."""

from fractions import Fraction

import pytest

from cnnsize.engine import analyze
from cnnsize.errors import SpecError, UsageError, format_path
from cnnsize.loader import load

TOY = """
name: toy
input: [3, 32, 32]
layers:
  - {type: conv2d, out_channels: 12, kernel_size: 3, padding: same}
  - relu
  - {type: maxpool2d, kernel_size: 2, stride: 2}
  - flatten
  - {type: linear, out_features: 10}
"""


def test_toy_network_of_the_lecture():
    report = analyze(load(TOY))
    assert [leaf.output_shape for leaf in report.leaves()] == [(12, 32, 32), (12, 32, 32), (12, 16, 16), (3072,), (10,)]
    # conv: 12*3*3*3 + 12 = 336; linear: 3072*10 + 10 = 30,730
    assert report.totals.params == 336 + 30_730
    # conv: 12*32*32*3*9 = 331,776; linear: 3072*10 = 30,720
    assert report.totals.macs == 331_776 + 30_720
    assert report.totals.flops == 2 * (331_776 + 30_720)
    # float32 outputs: (12288 + 12288 + 3072 + 3072 + 10)*4 bytes
    assert report.totals.activation_bytes == (12288 + 12288 + 3072 + 3072 + 10) * 4
    assert report.totals.param_bytes == (336 + 30_730) * 4
    assert report.output_shape == (10,)


def test_batch_and_dtype_scale_work_and_memory_not_parameters():
    one = analyze(load(TOY))
    eight = analyze(load(TOY), batch_size=8, dtype="float16")
    assert eight.totals.params == one.totals.params
    assert eight.totals.macs == 8 * one.totals.macs
    # 8 samples at 2 bytes instead of 1 at 4: 8*2/4 = 4x
    assert eight.totals.activation_bytes == 4 * one.totals.activation_bytes
    assert eight.totals.param_bytes == one.totals.param_bytes // 2
    assert (eight.batch_size, eight.dtype) == (8, "float16")


def test_spec_dtype_is_the_default():
    report = analyze(load(TOY + "dtype: float64\n"))
    assert report.dtype == "float64" and report.totals.param_bytes == (336 + 30_730) * 8


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_batch_size_is_a_usage_error(bad):
    with pytest.raises(UsageError):
        analyze(load(TOY), batch_size=bad)


def test_unknown_dtype_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown dtype"):
        analyze(load(TOY), dtype="float8")


RESIDUAL = """
input: [4, 8, 8]
layers:
  - type: residual
    name: down
    body:
      - {type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1, bias: false}
      - batchnorm2d
    shortcut:
      - {type: conv2d, out_channels: 8, kernel_size: 1, stride: 2, bias: false}
  - relu
"""


def test_residual_rows_nest_and_sum():
    report = analyze(load(RESIDUAL))
    residual = report.rows[0]
    assert residual.type == "residual" and residual.name == "down"
    assert [format_path(c.path) for c in residual.children] == [
        "layers[0].body[0]",
        "layers[0].body[1]",
        "layers[0].shortcut[0]",
        "layers[0].add",
    ]
    # body conv 8*4*9 = 288, batch norm 2*8 = 16, shortcut 8*4 = 32
    assert residual.params == 288 + 16 + 32
    assert residual.non_trainable_params == 16
    # body conv: 8*4*4*4*9 = 4,608; shortcut: 8*4*4*4 = 512
    assert residual.macs == 4_608 + 512
    add = residual.children[-1]
    assert (add.type, add.output_shape, add.params) == ("add", (8, 4, 4), 0)
    # four tensors of 8*4*4 floats: body conv, batch norm, shortcut conv, the sum
    assert residual.activation_bytes == 4 * 8 * 4 * 4 * 4
    assert [leaf.type for leaf in report.leaves()] == ["conv2d", "batchnorm2d", "conv2d", "add", "relu"]
    assert report.totals.params == residual.params


def test_concat_joins_channels():
    report = analyze(
        load("""
input: [3, 8, 8]
layers:
  - type: concat
    branches:
      - [{type: conv2d, out_channels: 5, kernel_size: 3, padding: 1}]
      - [{type: maxpool2d, kernel_size: 3, stride: 1, padding: 1}]
      - []
""")
    )
    cat = report.rows[0]
    assert cat.output_shape == (5 + 3 + 3, 8, 8)
    assert cat.children[-1].type == "cat" and format_path(cat.children[-1].path) == "layers[0].cat"


def test_composites_nest():
    report = analyze(
        load("""
input: [2, 6, 6]
layers:
  - type: residual
    body:
      - type: concat
        branches:
          - [{type: conv2d, out_channels: 1, kernel_size: 1}]
          - [{type: conv2d, out_channels: 1, kernel_size: 3, padding: 1}]
""")
    )
    paths = [format_path(leaf.path) for leaf in report.leaves()]
    assert paths == [
        "layers[0].body[0].branches[0][0]",
        "layers[0].body[0].branches[1][0]",
        "layers[0].body[0].cat",
        "layers[0].add",
    ]
    # 1x1: 1*2 + 1 = 3; 3x3: 1*2*9 + 1 = 19
    assert report.totals.params == 3 + 19


def test_receptive_field_of_a_chain():
    # Two 3x3 convs then a 2x2/2 pool: r = 1 + 2 + 2 = 5, then + (2 - 1)*1 = 6; jump 2.
    report = analyze(
        load("""
input: [1, 16, 16]
layers:
  - {type: conv2d, out_channels: 1, kernel_size: 3, padding: 1}
  - {type: conv2d, out_channels: 1, kernel_size: 3, padding: 1}
  - {type: maxpool2d, kernel_size: 2}
  - {type: conv2d, out_channels: 1, kernel_size: 3, stride: 2}
""")
    )
    fields = [leaf.receptive_field for leaf in report.leaves()]
    assert [f.size[0] for f in fields] == [3, 5, 6, 10]  # last: 6 + (3 - 1)*2 = 10
    assert [f.jump[0] for f in fields] == [1, 1, 2, 4]
    # start: (3-1)/2 - 1 = 0; again 0; (2-1)/2 * 1 = 0.5; 0.5 + (3-1)/2 * 2 = 2.5
    assert [f.start[0] for f in fields] == [0, 0, Fraction(1, 2), Fraction(5, 2)]
    assert fields[-1].to_dict() == {"size": [10, 10], "jump": [4, 4], "start": [2.5, 2.5]}


def test_receptive_field_of_a_dilated_conv():
    # k_eff = 2*(3 - 1) + 1 = 5: one dilated 3x3 sees 5x5
    report = analyze(load("input: [1, 9, 9]\nlayers: [{type: conv2d, out_channels: 1, kernel_size: 3, dilation: 2}]"))
    assert report.rows[0].receptive_field.size == (5, 5)


def test_receptive_field_takes_the_wider_path_at_a_merge():
    report = analyze(
        load("""
input: [1, 9, 9]
layers:
  - type: residual
    body:
      - {type: conv2d, out_channels: 1, kernel_size: 5, padding: 2}
""")
    )
    assert report.rows[0].receptive_field.size == (5, 5)


def test_receptive_field_of_global_pooling_is_the_whole_input():
    report = analyze(load("input: [1, 7, 7]\nlayers: [global_avgpool2d]"))
    # a window of the whole 7x7 input: 1 + (7 - 1)*1 = 7
    assert report.rows[0].receptive_field.size == (7, 7)


def test_after_upsampling_the_field_is_unknown_and_says_why():
    report = analyze(
        load("""
input: [1, 8, 8]
layers:
  - {type: conv2d, out_channels: 1, kernel_size: 3, padding: 1}
  - {type: upsample, scale_factor: 2}
  - {type: conv_transpose2d, out_channels: 1, kernel_size: 4, stride: 2, padding: 1}
""")
    )
    conv, up, deconv = report.leaves()
    assert conv.receptive_field.size == (3, 3) and conv.receptive_field_unknown is None
    # outputs 2m and 2m + 1 copy input m: the field does not move by one jump per position
    assert up.receptive_field is None and "nearest upsampling by 2" in up.receptive_field_unknown
    assert deconv.receptive_field is None and deconv.receptive_field_unknown == up.receptive_field_unknown


def test_a_map_of_one_position_upsampled_sees_the_same_everywhere():
    report = analyze(load("input: [1, 8, 8]\nlayers: [global_avgpool2d, {type: upsample, scale_factor: 4}]"))
    pool, up = report.leaves()
    # global pooling over 8 positions: left 0, right 0 + (8 - 1)*1 = 7 -> size 8; every copy sees it all
    assert pool.receptive_field.size == up.receptive_field.size == (8, 8)
    assert up.receptive_field.jump == (0, 0) and up.receptive_field.start == (Fraction(7, 2), Fraction(7, 2))


def test_a_transposed_conv_with_stride_1_is_a_window():
    report = analyze(
        load("input: [1, 8, 8]\nlayers: [{type: conv_transpose2d, out_channels: 1, kernel_size: 3, padding: 1}]")
    )
    # output o reads inputs o + p - (k - 1) .. o + p = o - 1 .. o + 1: size 3, centred
    assert report.rows[0].receptive_field.size == (3, 3) and report.rows[0].receptive_field.start == (0, 0)


def test_flat_networks_have_no_receptive_field():
    report = analyze(load("input: [784]\nlayers: [{type: linear, out_features: 10}, softmax]"))
    assert report.rows[0].receptive_field is None
    assert report.totals.params == 784 * 10 + 10


def test_integers_stay_exact_for_enormous_layers():
    # 10^12 output channels of a 1x1 conv on 3 channels: 3*10^12 weights + 10^12 biases
    report = analyze(load("input: [3, 1, 1]\nlayers: [{type: conv2d, out_channels: 1000000000000, kernel_size: 1}]"))
    assert report.totals.params == 4 * 10**12
    assert report.totals.macs == 3 * 10**12
    assert report.totals.activation_bytes == 4 * 10**12
    assert isinstance(report.to_dict()["totals"]["params"], int)


def located(text, **kwargs):
    with pytest.raises(SpecError) as exc:
        analyze(load(text), **kwargs)
    (problem,) = exc.value.problems
    return problem.location.line, problem.location.column, format_path(problem.location.path), problem.message


def test_kernel_larger_than_the_padded_input():
    line, col, path, message = located(
        "input: [3, 4, 4]\nlayers:\n  - {type: conv2d, name: c1, out_channels: 4, kernel_size: 7}\n"
    )
    assert (line, path) == (3, "layers[0].kernel_size")
    assert message == (
        "conv2d 'c1': the kernel does not fit the padded input along the height: input 4, kernel 7, "
        "padding 0+0: floor((4 + 2*0 - 7)/1) + 1 = -2"
    )


def test_groups_that_do_not_divide():
    line, _, path, message = located(
        "input: [3, 4, 4]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 1, groups: 2}\n"
    )
    assert (line, path) == (3, "layers[0].groups") and "Received: groups=2, input channels=3" in message


def test_residual_whose_paths_differ_shows_both_shapes():
    line, col, path, message = located("""input: [3, 8, 8]
layers:
  - relu
  - type: residual
    body:
      - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 2}
""")
    assert (line, col, path) == (4, 5, "layers[1]")
    assert "the body gives [4, 3, 3], the shortcut gives [3, 8, 8]" in message


def test_concat_whose_branches_differ_spatially():
    _, _, path, message = located("""input: [3, 8, 8]
layers:
  - type: concat
    branches:
      - [{type: conv2d, out_channels: 4, kernel_size: 3}]
      - []
""")
    assert path == "layers[0]" and "branch 0: [4, 6, 6], branch 1: [3, 8, 8]" in message


def test_linear_fed_a_volume_suggests_flatten():
    line, _, path, message = located("input: [3, 4, 4]\nlayers:\n  - relu\n  - {type: linear, out_features: 4}\n")
    assert (line, path) == (4, "layers[1]")
    assert message.endswith("add `flatten` before it (giving 48 features)")


def test_stated_in_channels_must_agree():
    line, _, path, message = located(
        "input: [3, 4, 4]\nlayers:\n  - {type: conv2d, in_channels: 4, out_channels: 4, kernel_size: 1}\n"
    )
    assert path == "layers[0].in_channels" and "in_channels is 4, but the layer's input has 3" in message


def test_error_inside_a_nest_points_at_the_inner_layer():
    line, col, path, _ = located("""input: [3, 4, 4]
layers:
  - type: residual
    body:
      - type: concat
        branches:
          - [{type: maxpool2d, kernel_size: 9}]
""")
    assert (line, path) == (7, "layers[0].body[0].branches[0][0].kernel_size")
