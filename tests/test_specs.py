"""The bundled specs: the lecture's, against the numbers worked out by hand there, and three graphs
(a U-Net, a feature pyramid, a DCGAN generator) against their sources' figures, worked out here."""

import io
from pathlib import Path

import pytest

from cnnsize.budgets import check_budgets
from cnnsize.engine import analyze
from cnnsize.errors import format_path
from cnnsize.loader import load
from cnnsize.render import render

SPECS = Path(__file__).resolve().parent.parent / "specs"


def report(name):
    return analyze(load(SPECS / f"{name}.yaml"))


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_bundled_spec_meets_its_budgets(path):
    spec = load(path)
    assert check_budgets(spec, analyze(spec, spec.budgets.batch_size if spec.budgets else 1)) == []


def test_toy_network():
    # INPUT 32x32x3 -> CONV 12 (same) 32x32x12 -> RELU -> POOL 16x16x12 -> FC 10
    shapes = [leaf.output_shape for leaf in report("toy").leaves()]
    assert shapes == [(12, 32, 32), (12, 32, 32), (12, 16, 16), (3072,), (10,)]


def test_two_maps_three_filters():
    r = report("two-maps")
    # three filters of 3x3x2: 3*(3*3*2) + 3 = 57; floor((5 - 3)/1) + 1 = 3
    assert r.totals.params == 57 and r.output_shape == (3, 3, 3)


def test_padding_demo():
    r = report("padding-demo")
    # floor((5 + 2*1 - 3)/2) + 1 = 3; 2*(3*3*3) + 2 = 56
    assert r.output_shape == (2, 3, 3) and r.totals.params == 56


def test_one_by_one_convolution():
    r = report("one-by-one")
    # 64*16 + 16 = 1,040 params; 16*28*28*64 = 802,816 MACs
    assert (r.output_shape, r.totals.params, r.totals.macs) == ((16, 28, 28), 1040, 802_816)


def test_valid_and_same_padding():
    # valid: floor((28 - 5)/1) + 1 = 24; same: ceil(28/1) = 28 (2 pixels each side)
    assert report("padding-valid").output_shape == (8, 24, 24)
    assert report("padding-same").output_shape == (8, 28, 28)


def test_small_resnet():
    r = report("small-resnet")
    assert [row.type for row in r.rows].count("residual") == 3
    assert r.output_shape == (10,)
    # stem 16*3*9 = 432; blocks 1-2: 2*(2*16*16*9 + 2*32) = 9,344; block 3: 32*16*9 + 32*32*9 + 2*64
    # + shortcut 32*16 + 64 = 14,528; batch norm after stem 32; linear 32*10 + 10 = 330
    assert r.totals.params == 432 + 32 + 9_344 + 14_528 + 330


def _rows(r):
    return {row.name: row for _, row in r.walk() if row.name}


def test_unet_is_milesials_with_its_31_million_parameters():
    # milesial/Pytorch-UNet's UNet(n_channels=3, n_classes=2, bilinear=False): 31,037,698 params
    r = report("unet")
    rows = _rows(r)

    # DoubleConv(cin -> c), no conv bias: cin*c*9 + 2c + c*c*9 + 2c
    def double_conv(cin, c):
        return cin * c * 9 + 2 * c + c * c * 9 + 2 * c

    assert rows["inc"].params == double_conv(3, 64) == 3 * 64 * 9 + 128 + 64 * 64 * 9 + 128 == 38_848
    for name, cin, c in [("down1", 64, 128), ("down2", 128, 256), ("down3", 256, 512), ("down4", 512, 1024)]:
        assert rows[name].params == double_conv(cin, c)  # the max pool has none
    # Up(2c -> c): ConvTranspose2d(2c, c, 2, stride 2) with bias, 2c*c*2*2 + c, then DoubleConv(2c -> c)
    for name, c in [("up1", 512), ("up2", 256), ("up3", 128), ("up4", 64)]:
        assert rows[name].params == 2 * c * c * 4 + c + double_conv(2 * c, c)
    assert rows["up1"].params == 2_097_664 + 7_079_936 == 9_177_600
    assert rows["outc"].params == 64 * 2 + 2
    assert r.totals.params == 31_037_698 and r.totals.non_trainable_params == 11_776
    # 3x32x32 (divisible by 16: milesial's F.pad pads nothing) to 2 class maps of the same size
    assert (r.input_shape, r.output_shape) == ((3, 32, 32), (2, 32, 32))
    assert rows["down4"].output_shape == (1024, 2, 2)


def test_unet_skips_are_from_references_skip_first():
    text = (SPECS / "unet.yaml").read_text()
    assert '{type: cat, from: ["${skip}", -1]}' in text
    r = report("unet")
    rows = _rows(r)
    for up, skip in [("up1", "down3"), ("up2", "down2"), ("up3", "down1"), ("up4", "inc")]:
        convt, cat = rows[up].children[:2]
        assert (convt.type, cat.type) == ("conv_transpose2d", "cat")
        # torch.cat([x2, x1]): the encoder's output first, the upsampled map second
        assert cat.inputs == (skip, format_path(convt.path))  # a composite's output goes by its name
        assert cat.input_shapes == (rows[skip].output_shape, convt.output_shape)


def test_unet_receptive_field_is_unknown_after_the_first_transposed_convolution():
    r = report("unet")
    rows = _rows(r)
    # 3x3 convs and 2x2 pools to the bottleneck: size 140, jump 16
    assert rows["down4"].receptive_field.size == (140, 140)
    assert rows["down4"].receptive_field.jump == (16, 16)
    for name in ("up1", "up2", "up3", "up4", "outc"):
        assert rows[name].receptive_field is None
        assert "transposed convolution with stride 2" in rows[name].receptive_field_unknown
    out = io.StringIO()
    render([r], "markdown", out)
    table = out.getvalue()
    assert "- (1)" in table and "(1) Receptive field unknown from layers[5] (up1) on" in table


def test_fpn_has_four_outputs_and_torchvisions_neck():
    r = report("fpn")
    rows = _rows(r)
    # P3..P6 at strides 8, 16, 32, 64 of 128x128; P6 = max_pool2d(P5, 1, stride 2): floor((4 - 1)/2) + 1 = 2
    assert r.outputs == (
        ("p3", (256, 16, 16)),
        ("p4", (256, 8, 8)),
        ("p5", (256, 4, 4)),
        ("p6", (256, 2, 2)),
    )
    assert r.output_shape is None
    # laterals (1x1, bias): 128*256 + 256, 256*256 + 256, 512*256 + 256; outputs (3x3, bias): 256*256*9 + 256
    assert [rows[n].params for n in ("lateral3", "lateral4", "inner5")] == [33_024, 65_792, 131_328]
    assert [rows[n].params for n in ("p3", "p4", "p5")] == [590_080] * 3
    neck = 33_024 + 65_792 + 131_328 + 3 * 590_080
    assert neck == 2_000_384
    # torchvision's resnet18 without fc (11,689,512 - (512*1000 + 1000)), plus the neck
    assert r.totals.params == 11_689_512 - 513_000 + neck == 13_176_896
    # the top-down path: lateral + the coarser merged map upsampled by 2
    assert rows["inner4"].inputs[0] == "lateral4" and rows["inner3"].inputs[0] == "lateral3"
    assert rows["inner4"].input_shapes == ((256, 8, 8), (256, 8, 8))


def test_dcgan_generator_projects_reshapes_and_upsamples_to_64x64():
    r = report("dcgan-generator")
    rows = _rows(r)
    assert (r.input_shape, r.output_shape) == ((100,), (3, 64, 64))
    assert rows["reshape"].output_shape == (1024, 4, 4)
    # 5x5 transposed convs, stride 2, padding 2, output_padding 1: (H - 1)*2 - 4 + 5 + 1 = 2H
    assert [rows[n].output_shape for n in ("conv1", "conv2", "conv3", "conv4")] == [
        (512, 8, 8),
        (256, 16, 16),
        (128, 32, 32),
        (3, 64, 64),
    ]
    # no biases: linear 100*16,384; convT cin*cout*25; batch norms 2*(1024 + 512 + 256 + 128)
    weights = 100 * 16_384 + 25 * (1024 * 512 + 512 * 256 + 256 * 128 + 128 * 3)
    assert r.totals.params == weights + 2 * (1024 + 512 + 256 + 128) == 18_855_040
    # MACs, one input position times the whole kernel (FlopCounterMode's count): 4*4*25*1024*512 for
    # conv1, and so on; each layer doubles H and W and halves the channels, so the first three are equal
    assert rows["conv1"].macs == 4 * 4 * 25 * 1024 * 512 == 209_715_200
    assert r.totals.macs == 100 * 16_384 + 3 * 209_715_200 + 32 * 32 * 25 * 128 * 3 == 640_614_400
