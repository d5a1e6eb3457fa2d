"""`--solve resolution`: the largest square input whose footprint fits, found by doubling then
bisection, worked by hand on a tiny spec; sizes a spec refuses are skipped and said; a spec that
admits one size only, a flat input and bad arguments are clear errors."""

from __future__ import annotations

import pytest

import cnnsize
from cnnsize.errors import UsageError
from cnnsize.planner import NoBatchFits
from cnnsize.resolution import solve_resolution

# One 1x1 convolution (1 weight) then a ReLU, on a 1-channel s x s input. Training with sgd at
# batch B, the step's peak is the ReLU's backward: the parameter (4 B), the loss and backward's
# first gradient (8 B), what the convolution saved (its input, the batch itself: 4 s^2 B a sample)
# and the ReLU (its output: 4 s^2 B), and the gradients of the ReLU's output and input (2 x 4 s^2 B):
# 12 + 16 B s^2 (the convolution's gradient is made after, once the ReLU's output is freed).
TINY = """
name: tiny
input: [1, 4, 4]
layers:
  - {type: conv2d, out_channels: 1, kernel_size: 1, bias: false}
  - relu
"""


def footprint(side, batch=1):
    return 4 + 8 + batch * 16 * side * side


def test_the_largest_side_that_fits_worked_by_hand():
    limit = 900  # side 7: 12 + 784 = 796 fits; side 8: 12 + 1,024 = 1,036 does not
    assert footprint(7) <= limit < footprint(8)
    answer = solve_resolution(cnnsize.load(TINY), limit, device="cpu")
    assert answer.resolution == 7 and answer.channels == 1
    assert answer.footprint.total_bytes == footprint(7) == 796
    assert answer.footprint.moment == "backward of layers[1]"
    assert answer.next_resolution == 8 and answer.next_total == footprint(8) == 1_036
    assert answer.notes == ()
    data = answer.to_dict()
    assert data["input"] == [1, 7, 7] and data["solve"] == "resolution"
    assert answer.analyses <= 2 * 8  # doubling, then bisection: a few analyses, not one per side


def test_the_batch_size_scales_the_per_sample_part():
    # batch 4: 12 + 64 s^2 <= 900 up to s = 3 (588); s = 4 takes 12 + 1,024 = 1,036
    answer = solve_resolution(cnnsize.load(TINY), 900, batch_size=4, device="cpu")
    assert answer.resolution == 3 and answer.footprint.total_bytes == footprint(3, 4) == 588
    assert answer.next_total == footprint(4, 4) == 1_036


def test_below_the_specs_own_side_and_nothing_at_all():
    # the spec's own side, 4, takes 12 + 256 = 268 B: over a limit of 80, side 2 takes 12 + 64 = 76
    answer = solve_resolution(cnnsize.load(TINY), 80, device="cpu")
    assert answer.resolution == 2 and answer.footprint.total_bytes == footprint(2) == 76
    with pytest.raises(NoBatchFits, match="no square input fits in 15 B .* 1x1, takes 28 B"):
        solve_resolution(cnnsize.load(TINY), 15, device="cpu")  # side 1: 12 + 16 = 28


def test_sides_the_spec_refuses_are_skipped_and_said():
    # the concat needs a 2x2 pool's output to match the input upsampled back: even sides only
    spec = cnnsize.load(
        """
name: even
input: [1, 4, 4]
layers:
  - {type: conv2d, name: c, out_channels: 1, kernel_size: 1, bias: false}
  - {type: maxpool2d, kernel_size: 2}
  - {type: upsample, scale_factor: 2}
  - {type: cat, from: [c, -1]}
"""
    )
    answer = solve_resolution(spec, 4000, device="cpu")
    assert answer.resolution % 2 == 0 and answer.next_resolution == answer.resolution + 2
    assert answer.footprint.total_bytes <= 4000 < answer.next_total
    assert any(f"sides {answer.resolution + 1} to {answer.resolution + 1} are not valid" in n for n in answer.notes)


def test_a_spec_that_fixes_its_input_admits_one_side():
    spec = cnnsize.load(
        """
name: fixed
input: [1, 4, 4]
layers:
  - {type: reshape, shape: [2, 2, 4]}
  - {type: conv2d, out_channels: 1, kernel_size: 1}
"""
    )
    answer = solve_resolution(spec, 10**6, device="cpu")
    assert answer.resolution == 4 and answer.next_resolution is None
    assert "only the spec's own side, 4, is valid" in answer.notes[0]


@pytest.mark.parametrize(
    "source, kwargs, message",
    [
        ("name: flat\ninput: [12]\nlayers:\n  - {type: linear, out_features: 2}\n", {}, "needs an image input"),
        (TINY, {"batch_size": 0}, "the batch size must be a positive integer, got 0"),
        (TINY, {"checkpoint": "auto"}, "--solve resolution takes --checkpoint none or all"),
        (TINY, {"mode": "eval"}, "unknown mode 'eval'"),
    ],
)
def test_usage_errors(source, kwargs, message):
    with pytest.raises(UsageError, match=message):
        solve_resolution(cnnsize.load(source), 10**6, **kwargs)


def test_checkpointing_all_lets_a_larger_input_fit():
    spec = cnnsize.load("specs/small-resnet.yaml")
    plain = solve_resolution(spec, 64 * 2**20, batch_size=8, reserve=0)
    checked = solve_resolution(spec, 64 * 2**20, batch_size=8, checkpoint="all", reserve=0)
    assert checked.resolution > plain.resolution
    for answer in (plain, checked):
        assert answer.footprint.total_bytes <= 64 * 2**20 < answer.next_total


def test_the_reserve_is_taken_off_before_the_search():
    # --reserve 104 of a 900 B limit leaves 796 B: side 7 (12 + 784 = 796 B) still fits, exactly
    answer = solve_resolution(cnnsize.load(TINY), 900, device="cpu", reserve=104)
    assert answer.resolution == 7 and answer.usable == 900 - 104 == footprint(7)
    # one byte more held back and side 7 no longer fits: side 6 takes 12 + 576 = 588 B
    answer = solve_resolution(cnnsize.load(TINY), 900, device="cpu", reserve=105)
    assert answer.resolution == 6 and answer.footprint.total_bytes == footprint(6) == 588
    assert answer.to_dict()["reserve_bytes"] == 105 and answer.to_dict()["usable_bytes"] == 795


def test_with_several_gpus_the_side_is_what_one_rank_fits():
    from cnnsize.parallel import Parallel
    from cnnsize.planner import model_memory

    spec = cnnsize.load("specs/small-resnet.yaml")
    par = Parallel(gpus=4, strategy="fsdp")
    answer = solve_resolution(spec, 2**30, batch_size=8, parallel=par)
    # the default reserve on CUDA: 512 MiB + 5% of 1 GiB
    assert answer.reserve.bytes == 512 * 2**20 + 2**30 * 5 // 100
    side = answer.resolution
    from cnnsize.loader import with_input

    at = with_input(spec, (3, side, side))
    per_rank = model_memory(at).footprint("training", "sgd", 8, par)
    assert answer.footprint.total_bytes == per_rank.total_bytes <= answer.usable < answer.next_total
    assert answer.to_dict()["parallel"]["strategy"] == "fsdp"
    # sharding the model states leaves more room than one whole copy per GPU
    assert side >= solve_resolution(spec, 2**30, batch_size=8).resolution


def test_a_rectangular_input_is_searched_from_its_larger_side():
    # the tiny network on a 1x4x8 input: the search starts at the larger side, 8, as a square, and
    # ends where 12 + 16 s^2 <= 1,612 B: side 10 (1,612 B), as on the square input
    spec = cnnsize.load(TINY.replace("[1, 4, 4]", "[1, 4, 8]"))
    answer = solve_resolution(spec, 1612, device="cpu")
    assert answer.resolution == 10 and answer.footprint.total_bytes == footprint(10) == 1612


def test_a_rectangular_input_no_square_side_takes_is_a_usage_error():
    # a 2x3 convolution (no padding) on 1x4x8 gives 1x3x6 = 18 features, which a linear layer fixes:
    # a square s gives (s - 1)(s - 2) features, never 18, so every square side is refused. It was the
    # linear layer's error at side 8 (located in a spec that is valid as written), exit 1
    spec = cnnsize.load(
        "name: rect\ninput: [1, 4, 8]\nlayers:\n  - {type: conv2d, out_channels: 1, kernel_size: [2, 3]}\n"
        "  - flatten\n  - {type: linear, in_features: 18, out_features: 2}\n"
    )
    with pytest.raises(UsageError, match=r"rect's input is 4x8, and no square side from 1 to 72 is valid: linear"):
        solve_resolution(spec, 10**6, device="cpu")
