"""The bundled specs of the lecture, against the numbers worked out by hand there."""

from pathlib import Path

import pytest

from cnnsize.budgets import check_budgets
from cnnsize.engine import analyze
from cnnsize.loader import load

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
