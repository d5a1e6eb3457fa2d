"""Every shape vector of ../shared/CONVENTIONS.md, with its arithmetic."""

import pytest

from cnnsize import shapes


@pytest.mark.parametrize(
    "i, k, s, p, d, out",
    [
        (227, 11, 4, 0, 1, 55),  # floor((227 + 0 - 10 - 1)/4) + 1 = floor(216/4) + 1 = 55 (AlexNet, CS231n)
        (224, 11, 4, 2, 1, 55),  # floor((224 + 4 - 10 - 1)/4) + 1 = floor(217/4) + 1 = 55 (torchvision AlexNet)
        (224, 7, 2, 3, 1, 112),  # floor((224 + 6 - 6 - 1)/2) + 1 = floor(223/2) + 1 = 112 (ResNet stem)
        (10, 3, 2, 0, 1, 4),  # floor((10 - 2 - 1)/2) + 1 = floor(7/2) + 1 = 4
        (64, 3, 2, 4, 4, 32),  # floor((64 + 8 - 8 - 1)/2) + 1 = floor(63/2) + 1 = 32
        (15, 5, 3, 1, 2, 3),  # floor((15 + 2 - 8 - 1)/3) + 1 = floor(8/3) + 1 = 3
        (5, 3, 2, 1, 1, 3),  # floor((5 + 2 - 2 - 1)/2) + 1 = 3 (CS231n padding demo)
    ],
)
def test_conv_out(i, k, s, p, d, out):
    assert shapes.conv_out(i, k, s, p, d=d) == out


def test_conv_out_asymmetric_padding():
    # floor((5 + 0 + 1 - 2 - 1)/2) + 1 = floor(3/2) + 1 = 2
    assert shapes.conv_out(5, 3, 2, p_before=0, p_after=1) == 2


def test_conv_out_too_small_is_returned_not_clamped():
    # floor((3 + 0 - 4 - 1)/1) + 1 = -1: the caller decides what that means
    assert shapes.conv_out(3, 5) == -1


@pytest.mark.parametrize(
    "i, k, s, d, out, before, after",
    [
        (224, 7, 2, 1, 112, 2, 3),  # out = ceil(224/2) = 112; total = 111*2 + 7 - 224 = 5 -> 2/3
        (224, 3, 2, 1, 112, 0, 1),  # total = 111*2 + 3 - 224 = 1 -> 0/1
        (225, 3, 2, 1, 113, 1, 1),  # out = ceil(225/2) = 113; total = 112*2 + 3 - 225 = 2 -> 1/1
        (13, 6, 5, 1, 3, 1, 2),  # out = ceil(13/5) = 3; total = 2*5 + 6 - 13 = 3 -> 1/2
        (64, 3, 1, 2, 64, 2, 2),  # out = 64; total = 63 + 2*2 + 1 - 64 = 4 -> 2/2
    ],
)
def test_same_padding(i, k, s, d, out, before, after):
    assert shapes.same_padding(i, k, s, d) == (before, after)
    assert shapes.conv_out(i, k, s, before, after, d) == out


def test_same_padding_never_negative():
    # a 1x1 kernel at stride 2: total = (ceil(5/2) - 1)*2 + 1 - 5 = 0, never below zero
    assert shapes.same_padding(5, 1, 2) == (0, 0)
    # stride 3 over 10 with k=1: total = max(3*3 + 1 - 10, 0) = 0
    assert shapes.same_padding(10, 1, 3) == (0, 0)


def test_full_padding():
    # p = d*(k - 1) on each side, so out = i + d*(k - 1) at stride 1: 5 + 2*(3 - 1) = 9
    assert shapes.full_padding(3, 2) == 4
    assert shapes.conv_out(5, 3, 1, 4, d=2) == 9


@pytest.mark.parametrize(
    "i, k, s, p, op, d, out",
    [
        (7, 3, 2, 1, 1, 1, 14),  # (7 - 1)*2 - 2 + 2 + 1 + 1 = 14
        (7, 3, 2, 1, 0, 1, 13),  # (7 - 1)*2 - 2 + 2 + 0 + 1 = 13
        (3, 4, 2, 1, 0, 1, 6),  # (3 - 1)*2 - 2 + 3 + 0 + 1 = 6
        (5, 3, 2, 1, 1, 2, 12),  # (5 - 1)*2 - 2 + 2*2 + 1 + 1 = 12
    ],
)
def test_transposed_conv_out(i, k, s, p, op, d, out):
    assert shapes.transposed_conv_out(i, k, s, p, op, d) == out


@pytest.mark.parametrize(
    "i, k, s, p, ceil_out, floor_out",
    [
        (112, 3, 2, 0, 56, 55),  # ceil(109/2) + 1 = 56; floor: 54 + 1 = 55
        (6, 3, 2, 0, 3, 2),  # ceil(3/2) + 1 = 3; floor(3/2) + 1 = 2
        (14, 3, 2, 1, 8, 7),  # ceil(13/2) + 1 = 8; floor(13/2) + 1 = 7
        (7, 2, 2, 0, 4, 3),  # ceil(5/2) + 1 = 4; floor(5/2) + 1 = 3
        (5, 2, 2, 1, 3, 3),  # ceil(5/2) + 1 = 4, but window 3 starts at 6 >= 5 + 1: dropped -> 3
    ],
)
def test_pool_out(i, k, s, p, ceil_out, floor_out):
    assert shapes.pool_out(i, k, s, p, ceil_mode=True) == ceil_out
    assert shapes.pool_out(i, k, s, p, ceil_mode=False) == floor_out


def test_pool_out_dilated():
    # max pooling with dilation 2: floor((9 + 0 - 2*(3 - 1) - 1)/1) + 1 = 5
    assert shapes.pool_out(9, 3, 1, 0, 2) == 5


def test_formulas_put_the_numbers_in():
    assert shapes.conv_formula(32, 5, 1, 2) == "floor((32 + 2*2 - 5)/1) + 1 = 32"
    assert shapes.conv_formula(64, 3, 2, 4, d=4) == "floor((64 + 2*4 - 4*(3 - 1) - 1)/2) + 1 = 32"
    assert shapes.conv_formula(224, 7, 2, 2, 3) == "floor((224 + 2 + 3 - 7)/2) + 1 = 112"
    assert shapes.transposed_conv_formula(7, 3, 2, 1, 1) == "(7 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 14"
    assert shapes.pool_formula(112, 3, 2, ceil_mode=True) == "ceil((112 + 2*0 - 3)/2) + 1 = 56"


def test_adaptive_windows_match_pytorch_rule():
    # start = floor(j*i/o), end = ceil((j+1)*i/o): i=5, o=3 -> [0,2), [1,4), [3,5)
    assert shapes.adaptive_windows(5, 3) == [(0, 2), (1, 4), (3, 5)]
    # divisible: i=6, o=3 -> windows of 2 at stride 2
    assert shapes.adaptive_windows(6, 3) == [(0, 2), (2, 4), (4, 6)]


def test_integers_stay_exact_at_any_size():
    big = 10**15 + 7
    # floor((big + 2 - 3)/1) + 1 = big
    assert shapes.conv_out(big, 3, 1, 1) == big
