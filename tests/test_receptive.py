"""Unit tests of `cnnsize.receptive`: the arithmetic of fields, each case worked out in comments.

Notation: a field `[left, right] / jump` means position k sees input pixels
`[left + k*jump, right + k*jump]`; the input itself is `[0, 0] / 1` (PIXEL).
"""

from __future__ import annotations

from fractions import Fraction

from cnnsize import receptive
from cnnsize.receptive import INPUT, PIXEL, AxisField, Fields, Unknown

A = AxisField


def test_size_and_start():
    # [-1, 2]: 2 - (-1) + 1 = 4 pixels, centred on (-1 + 2)/2 = 1/2
    assert A(-1, 2, 1).size == 4 and A(-1, 2, 1).start == Fraction(1, 2)
    # [-1, 1]: 3 pixels centred on 0, an int
    assert A(-1, 1, 1).size == 3 and A(-1, 1, 1).start == 0 and isinstance(A(-1, 1, 1).start, int)


def test_window():
    # a 3x3 convolution, padding 1, stride 1, on the input: output k reads k - 1 .. k + 1
    assert receptive.window(PIXEL, 3, 1, 1) == A(-1, 1, 1)
    # then a 2x2 stride-2 pool: left -= 0*1 = -1, right += (2 - 1 - 0)*1 = 2, jump 1*2 = 2
    assert receptive.window(A(-1, 1, 1), 2, 2) == A(-1, 2, 2)
    # then a 3x3, padding 1, dilation 2 on jump 2: k_eff = 2*(3 - 1) + 1 = 5;
    # left -= 1*2 -> -3, right += (5 - 1 - 1)*2 = 6 -> 8, jump 2
    assert receptive.window(A(-1, 2, 2), 3, 1, 1, 2) == A(-3, 8, 2)


def test_shift():
    # zero padding of 2 before: position k is old position k - 2: left, right -= 2*jump
    assert receptive.shift(A(0, 2, 3), 2) == A(-6, -4, 3)
    # a crop of 1 (a split's second piece starting at 1): position k is old position k + 1
    assert receptive.shift(A(0, 2, 3), -1) == A(3, 5, 3)


def test_spread():
    # global pooling over 4 positions of [-1, 1] / 2: from position 0's left to position 3's
    # right, 1 + 3*2 = 7; every position then sees the same: jump 0
    assert receptive.spread(A(-1, 1, 2), 4) == A(-1, 7, 0)


def test_copies():
    # upsampling a map where every position sees the same: still the same (right + (n-1)*0)
    assert receptive.copies(A(0, 7, 0), 4, "x") == A(0, 7, 0)
    # of one position: the whole of it, jump 0
    assert receptive.copies(A(-1, 1, 2), 1, "x") == A(-1, 1, 0)
    # otherwise neighbours copy one input unevenly: no one field
    got = receptive.copies(A(-1, 1, 1), 4, "nearest upsampling by 2")
    assert isinstance(got, Unknown) and "after nearest upsampling by 2" in got.reason


def test_transposed():
    # stride 1, kernel 3, padding 1: output o reads inputs o + 1 - 2 .. o + 1 = o - 1 .. o + 1:
    # left + (1 - 3 + 1)*1 = -1, right + 1*1 = 1
    assert receptive.transposed(PIXEL, 5, 3, 1, 1, 1) == A(-1, 1, 1)
    # stride 1, kernel 2, dilation 2 (k_eff 3), padding 0: left + (0 - 3 + 1) = -2, right + 0
    assert receptive.transposed(PIXEL, 5, 2, 1, 0, 2) == A(-2, 0, 1)
    # stride 2: upsampling, exact only where every position sees the same
    assert isinstance(receptive.transposed(PIXEL, 5, 3, 2, 1, 1), Unknown)
    assert receptive.transposed(A(0, 9, 0), 5, 3, 2, 1, 1) == A(0, 9, 0)


def test_adaptive():
    # 6 -> 1: everything, as global pooling: [0, 0 + 5*1] / 0
    assert receptive.adaptive(PIXEL, 6, 1) == A(0, 5, 0)
    # 6 -> 3: windows of 6/3 = 2 at stride 2
    assert receptive.adaptive(PIXEL, 6, 3) == A(0, 1, 2)
    # 6 -> 4: PyTorch's windows [floor(j*6/4), ceil((j+1)*6/4)) are [0,2) [1,3) [3,5) [4,6): unequal
    assert isinstance(receptive.adaptive(PIXEL, 6, 4), Unknown)
    # unless every position sees the same
    assert receptive.adaptive(A(0, 5, 0), 6, 4) == A(0, 5, 0)


def test_union_of_nested_paths():
    # a residual: body [-2, 2] / 1 (two 3x3 convolutions), shortcut [0, 0] / 1; at every position
    # the body is leftmost and rightmost: the union is the body's field
    assert receptive.union([A(-2, 2, 1), A(0, 0, 1)], 5) == A(-2, 2, 1)
    # one leftmost [-3, 0] and another rightmost [-1, 2], same jump: [-3, 2] at every position
    assert receptive.union([A(-3, 0, 1), A(-1, 2, 1)], 5) == A(-3, 2, 1)


def test_union_of_paths_of_different_jumps():
    # [0, 0] / 1 and [0, 1] / 2 over 3 positions: lefts 0, 1, 2 and 0, 2, 4: the first is
    # leftmost at both ends, but rights 0, 1, 2 and 1, 3, 5 put the second rightmost, with another
    # jump: the union [0, 1], [1, 3], [2, 5] does not move by one jump
    got = receptive.union([A(0, 0, 1), A(0, 1, 2)], 3)
    assert isinstance(got, Unknown) and "jumps 1 and 2" in got.reason
    # at one position there is nothing to move: [min left, max right], the larger jump
    assert receptive.union([A(0, 0, 1), A(0, 1, 2)], 1) == A(0, 1, 2)


def test_union_with_a_gate_that_sees_everything():
    # squeeze-and-excitation: x is [-1, 1] / 1 over 4 positions, its gate (global pooling of x)
    # [-1, 1 + 3] / 0; the gate's field holds x's at every position: the union is the gate's
    assert receptive.union([A(-1, 1, 1), A(-1, 4, 0)], 4) == A(-1, 4, 0)


def test_union_of_fields_that_do_not_nest():
    # [0, 2] / 1 and [1, 1] / 0 over 3 positions: lefts 0, 1, 2 and 1, 1, 1: the first is
    # leftmost at position 0 but not at 2; no one field
    got = receptive.union([A(0, 2, 1), A(1, 1, 0)], 3)
    assert isinstance(got, Unknown)


def test_union_of_whole_fields():
    body, shortcut = (A(-1, 1, 1), A(-1, 1, 1)), (PIXEL, PIXEL)
    assert receptive.union_of([body, shortcut], (4, 4)) == body
    assert receptive.union_of([body, body], (4, 4)) == body  # one distinct field: itself
    reason = Unknown("why")
    assert receptive.union_of([body, reason], (4, 4)) == reason  # an unknown path: unknown
    # an axis that does not move by one jump makes the whole unknown
    assert isinstance(receptive.union_of([(PIXEL, PIXEL), (A(0, 1, 2), PIXEL)], (3, 3)), Unknown)


def test_each_axis():
    # a 3x1 window: H grows, W stays
    got = receptive.each_axis(INPUT, lambda axis, a: receptive.window(axis, (3, 1)[a], 1, (1, 0)[a]))
    assert got == (A(-1, 1, 1), PIXEL)
    assert isinstance(receptive.each_axis(INPUT, lambda axis, a: Unknown("no") if a else axis), Unknown)


def test_fields_runs_merge_and_count():
    f = (A(-1, 1, 1), A(-1, 1, 1))
    fields = Fields.of_runs([(2, INPUT), (0, f), (3, INPUT), (1, f)])
    # the empty run goes, and the two runs of INPUT, now neighbours, merge: 2 + 3 = 5
    assert fields.runs == ((5, INPUT), (1, f)) and fields.channels == 6


def test_fields_past_max_runs_are_unknown():
    a, b = INPUT, (A(0, 1, 1), PIXEL)
    fields = Fields.of_runs([(1, a if i % 2 else b) for i in range(receptive.MAX_RUNS + 1)])
    assert len(fields.runs) == 1 and isinstance(fields.runs[0][1], Unknown)
    assert fields.channels == receptive.MAX_RUNS + 1


def test_fields_map_and_union():
    f = (A(-1, 1, 1), A(-1, 1, 1))
    fields = Fields.of_runs([(2, INPUT), (3, f)])
    grown = fields.map(lambda s: (receptive.window(s[0], 3, 1, 1), receptive.window(s[1], 3, 1, 1)))
    # INPUT -> [-1, 1]; f -> [-2, 2]
    assert grown.runs == ((2, f), (3, (A(-2, 2, 1), A(-2, 2, 1))))
    # the value as a whole sees the union: the wider field, at every position
    assert grown.union((5, 5)) == (A(-2, 2, 1), A(-2, 2, 1))


def test_fields_slice():
    f = (A(-1, 1, 1), A(-1, 1, 1))
    fields = Fields.of_runs([(2, INPUT), (3, f)])
    # channels 1 .. 3: one of INPUT (channel 1), two of f (channels 2, 3)
    assert fields.slice(1, 4).runs == ((1, INPUT), (2, f))
    # a part of a flattened volume (coarse) is unknown: its features see different pixels
    coarse = Fields(((6, f),), coarse=True)
    assert isinstance(coarse.slice(0, 3).runs[0][1], Unknown)
    assert coarse.slice(0, 6).runs == ((6, f),)  # all of it is still exact


def test_fields_grouped():
    f = (A(-1, 1, 1), A(-1, 1, 1))
    fields = Fields.of_runs([(2, INPUT), (2, f)])
    # 2 groups of 2 inputs, 3 outputs each: the first group sees INPUT, the second f
    assert fields.grouped(2, 6, (4, 4)).runs == ((3, INPUT), (3, f))
    # 1 group: every output sees the union of all inputs, f
    assert fields.grouped(1, 5, (4, 4)).runs == ((5, f),)
    # 4 groups of 1 input, 1 output each (depthwise): channel by channel
    assert fields.grouped(4, 4, (4, 4)).runs == ((2, INPUT), (2, f))
    # groups that straddle runs: 3 runs of 1, 2, 1 channels in 2 groups of 2: the first group
    # holds channel 0 (INPUT) and channel 1 (f): their union f; the second f and INPUT: f
    three = Fields.of_runs([(1, INPUT), (2, f), (1, INPUT)])
    assert three.grouped(2, 2, (4, 4)).runs == ((2, f),)


def never_called(laid: list) -> list:
    raise AssertionError("uniform fields are not laid out")


def test_laid_out_and_rearranged():
    f = (A(-1, 1, 1), A(-1, 1, 1))
    fields = Fields.of_runs([(2, INPUT), (2, f)])
    assert fields.laid_out() == [INPUT, INPUT, f, f]
    # a shuffle of 2 groups of 2: channels 0, 2, 1, 3
    shuffled = receptive.rearranged(fields, lambda laid: [laid[0], laid[2], laid[1], laid[3]], "shuffle")
    assert shuffled.runs == ((1, INPUT), (1, f), (1, INPUT), (1, f))
    # uniform fields need no laying out
    uniform = Fields.uniform(f, 10**9)
    assert receptive.rearranged(uniform, never_called, "shuffle") is uniform
    assert uniform.laid_out() is None  # past MAX_SPREAD_CHANNELS


def test_concatenated():
    f = (A(-1, 1, 1), A(-1, 1, 1))
    got = receptive.concatenated([Fields.uniform(INPUT, 2), Fields.uniform(f, 3), Fields.uniform(f, 1)])
    assert got.runs == ((2, INPUT), (4, f)) and not got.coarse
    assert receptive.concatenated([Fields(((2, f),), coarse=True), Fields.uniform(f, 1)]).coarse


def test_channelwise():
    f = (A(-1, 1, 1), A(-1, 1, 1))
    # add of [INPUT x2, f x2] and [f x1, INPUT x3]: channel 0 sees INPUT | f = f, channel 1
    # INPUT | INPUT, channels 2, 3 f | INPUT = f
    a = Fields.of_runs([(2, INPUT), (2, f)])
    b = Fields.of_runs([(1, f), (3, INPUT)])
    assert receptive.channelwise([a, b], 4, (4, 4)).runs == ((1, f), (1, INPUT), (2, f))
    # an operand of one channel (a spatial gate [1, H, W]) is broadcast to every channel
    gate = Fields.uniform(f, 1)
    assert receptive.channelwise([a, gate], 4, (4, 4)).runs == ((4, f),)


def test_broadcast_spatial():
    gate = Fields.uniform((A(-1, 4, 0), A(-1, 4, 0)), 3)  # [C, 1, 1] after global pooling
    assert receptive.broadcast_spatial(gate, (1, 1), (4, 4)) is not gate
    # a map of one position broadcast along W only ([C, H, 1] to [C, H, W]): W's jump becomes 0
    column = Fields.uniform((A(-1, 1, 1), A(0, 5, 1)), 2)
    spread = receptive.broadcast_spatial(column, (4, 1), (4, 6))
    assert spread.runs == ((2, (A(-1, 1, 1), A(0, 5, 0))),)
    assert receptive.broadcast_spatial(column, (4, 6), (4, 6)) is column


def test_flattened():
    f = (A(-1, 1, 1), A(-1, 1, 1))
    # a [2, 3, 3] volume of f flattened to 18 features: each sees one position; together they
    # see from position 0's left (-1) to position 2's right (1 + 2*1 = 3), jump 0; coarse
    flat = receptive.flattened(Fields.uniform(f, 2), (3, 3), 18)
    assert flat.runs == ((18, (A(-1, 3, 0), A(-1, 3, 0))),) and flat.coarse
    # from one position, features are channels: exact
    one = Fields.uniform(f, 2)
    assert receptive.flattened(one, (1, 1), 2) is one


def test_unflattened():
    everywhere = (A(0, 7, 0), A(0, 7, 0))
    assert receptive.unflattened(Fields.uniform(everywhere, 12), 3, "unflatten").runs == ((3, everywhere),)
    # features that see different pixels cannot become positions that each see one field
    coarse = Fields(((12, everywhere),), coarse=True)
    assert isinstance(receptive.unflattened(coarse, 3, "unflatten").runs[0][1], Unknown)
    moving = Fields.uniform((A(0, 0, 1), A(0, 0, 1)), 12)
    assert isinstance(receptive.unflattened(moving, 3, "unflatten").runs[0][1], Unknown)


def test_a_field_past_the_largest_extent_is_unknown_not_a_number_too_large_to_print():
    # stride s multiplies the jump: from jump 2**62, a stride of 2 gives 2**63 > 2**63 - 1
    near = (A(0, 0, 2**62), A(0, 0, 1))
    stride_two = Fields.uniform(near, 3).map(lambda f: (receptive.window(f[0], 1, 2), f[1]))
    assert stride_two.runs == ((3, receptive.TOO_WIDE),)
    # a kernel of 2**63 pixels: right = 0 + (2**63 - 1) * 1 = MAX_EXTENT, still followed; one more is not
    edge = Fields.uniform(INPUT, 1).map(lambda f: (receptive.window(f[0], 2**63), f[1]))
    assert edge.runs == ((1, (A(0, 2**63 - 1, 1), PIXEL)),)
    past = Fields.uniform(INPUT, 1).map(lambda f: (receptive.window(f[0], 2**63 + 1), f[1]))
    assert past.runs == ((1, receptive.TOO_WIDE),)
