"""Activation checkpointing in the memory model, worked by hand on a tiny spec of two residual
blocks: what each choice saves for backward at the forward's end and while each block runs again in
backward, the FLOPs it costs, and the blocks `auto` picks (cheapest recompute per byte first)."""

from __future__ import annotations

from dataclasses import replace

import pytest

import cnnsize
from cnnsize.checkpointing import CannotFit, blocks, choose, plan_checkpointed
from cnnsize.engine import analyze
from cnnsize.errors import UsageError
from cnnsize.graph import resolve
from cnnsize.memory import Bytes, Precision, trace
from cnnsize.planner import NoBatchFits, model_memory

# Every map of 2 channels at 4x4 is 2*4*4 = 32 float32 values: 128 B a sample; block a's inner map
# of 8 channels is 8*4*4*4 = 512 B.
TINY = """
name: two-blocks
input: [2, 4, 4]
layers:
  - {type: conv2d, name: stem, out_channels: 2, kernel_size: 1, bias: false}
  - relu
  - type: residual
    name: a
    body:
      - {type: conv2d, out_channels: 8, kernel_size: 1, bias: false}
      - relu
      - {type: conv2d, out_channels: 2, kernel_size: 1, bias: false}
  - type: residual
    name: b
    body:
      - {type: conv2d, out_channels: 2, kernel_size: 3, padding: 1, bias: false}
      - relu
  - flatten
  - {type: linear, out_features: 3}
"""
MAP = 2 * 4 * 4 * 4  # 128 B
WIDE = 8 * 4 * 4 * 4  # 512 B
# Saved without checkpointing, per sample: the stem conv saves the batch x (MAP); the ReLU its
# output r0 (MAP); block a's first conv saves r0 again (counted once), its ReLU its output h (WIDE),
# the second conv h again; the add saves nothing; block b's conv saves a's sum (MAP), its ReLU its
# output (MAP); the linear layer saves b's sum (MAP, flatten is a view).
NONE = MAP + MAP + WIDE + MAP + MAP + MAP  # 1,152 B
# Forward FLOPs per sample (2 x MACs, FlopCounterMode's count; ReLU and add count 0):
STEM = 2 * (2 * 2 * 16)  # 1x1 conv 2 -> 2 over 16 positions: 128
FLOPS_A = 2 * (2 * 8 * 16 + 8 * 2 * 16)  # two 1x1 convs: 1,024
FLOPS_B = 2 * (2 * 2 * 9 * 16)  # 3x3 conv 2 -> 2: 1,152
LINEAR = 2 * (32 * 3)  # 192
PARAMS = 2 * 2 + (2 * 8 + 8 * 2) + 2 * 2 * 9 + (32 * 3 + 3)  # 171
FIXED = 2 * 4 * PARAMS  # sgd: parameters and gradients, float32: 1,368 B


def tiny():
    spec = cnnsize.load(TINY)
    return spec, resolve(spec), analyze(spec, 1)


def segments(*names):
    spec, graph, report = tiny()
    found = {b.name: b for b in blocks(graph, report)}
    return graph, tuple(found[n].segment() for n in names)


def test_the_blocks_are_the_top_level_composites_with_their_flops():
    _, graph, report = tiny()
    found = blocks(graph, report)
    assert [b.label for b in found] == ["layers[2] (a)", "layers[3] (b)"]
    assert [b.flops for b in found] == [FLOPS_A, FLOPS_B]
    assert report.totals.flops == STEM + FLOPS_A + FLOPS_B + LINEAR  # 2,496
    assert len(found[1].inputs) == 1 and found[1].inputs[0] == found[0].output  # b reads a's sum


@pytest.mark.parametrize(
    "names, saved, recomputed",
    [
        ((), NONE, []),
        # a: h is not kept (-WIDE); a's input r0 is kept, but the ReLU saved it anyway. Run again in
        # backward: x and r0 saved before it, and h again: 2*MAP + WIDE = 768
        (("a",), NONE - WIDE, [MAP + MAP + WIDE]),
        # b: its ReLU's output is not kept (-MAP); its input, a's sum, is kept (its conv saved it
        # anyway). Run again: x, r0, h, a's sum before it, and its ReLU's output: 1,024
        (("b",), NONE - MAP, [MAP + MAP + WIDE + MAP + MAP]),
        # both: x, r0, a's sum, b's sum; a run again: x, r0, h (768); b run again: x, r0, a's sum,
        # its ReLU's output (512)
        (("a", "b"), NONE - WIDE - MAP, [MAP + MAP + WIDE, 4 * MAP]),
    ],
)
def test_saved_at_the_forward_end_and_while_each_block_runs_again(names, saved, recomputed):
    graph, chosen = segments(*names)
    t = trace(graph, Precision(device="cpu"), True, chosen)
    assert t.saved == Bytes(0, saved)
    assert list(t.recomputed) == [Bytes(0, r) for r in recomputed]


def test_the_footprint_is_the_worse_of_the_forward_end_and_a_block_run_again():
    spec, graph, report = tiny()
    _, both = segments("a", "b")
    model = model_memory(spec, Precision(device="cpu"), report, both)
    lines = model.footprint("training", "sgd", 10).lines
    # forward end 10 * 512; block a run again 10 * 768: 10 * 256 more
    assert lines["saved_activation_bytes"] == 10 * (NONE - WIDE - MAP)  # x, r0, a's sum, b's sum
    assert lines["input_bytes"] == 0  # the stem conv saves the batch: counted as saved
    assert lines["recompute_bytes"] == 10 * (MAP + MAP + WIDE - (NONE - WIDE - MAP))
    assert model.footprint("training", "sgd", 10).total_bytes == FIXED + 10 * 768
    # and the largest batch: 1,368 + 768 n <= 9,048 up to n = 10
    assert model.largest_batch(FIXED + 10 * 768, "training", "sgd") == 10


def test_auto_picks_the_cheapest_recompute_per_byte_first():
    # a frees WIDE = 512 B a sample for 1,024 FLOPs (2 a byte); b frees MAP = 128 B for 1,152 (9 a byte)
    spec, graph, report = tiny()
    cache = {}

    def model(chosen):
        # checkpointed traces are planned at the forward's end: the unchecked one alike (stepwise=False)
        plain = replace(model_memory(spec, Precision(device="cpu"), report, chosen), stepwise=False)
        return cache.setdefault(chosen, plain)

    limit = FIXED + 10 * 768  # none: (9,048 - 1,368) // 1,152 = 6; with a (or both): 10
    chosen, _ = choose(graph, report, "auto", model, "sgd", limit, batch_size=7)
    assert [b.name for b in chosen] == ["a"]
    chosen, _ = choose(graph, report, "auto", model, "sgd", limit, batch_size=6)
    assert chosen == []  # 6 fits without checkpointing
    chosen, _ = choose(graph, report, "auto", model, "sgd", limit)
    assert [b.name for b in chosen] == ["a"]  # b adds nothing: block a run again is the peak
    with pytest.raises(CannotFit, match="batch size 11 does not fit .* the largest that fits then is 10"):
        choose(graph, report, "auto", model, "sgd", limit, batch_size=11)


def test_the_plan_says_what_checkpointing_saved_and_cost():
    spec, _, _ = tiny()
    limit = FIXED + 10 * 768
    answer = plan_checkpointed(spec, limit, checkpoint="all", device="cpu")
    c = answer.checkpointing
    assert answer.batch_size == 10
    assert c.blocks == ("layers[2] (a)", "layers[3] (b)")
    assert c.unchecked_total == FIXED + 10 * NONE  # 12,888
    assert c.saved_bytes == 10 * (NONE - 768)  # 3,840
    assert c.extra_flops == 10 * (FLOPS_A + FLOPS_B)  # 21,760
    assert c.step_flops == 3 * 10 * (STEM + FLOPS_A + FLOPS_B + LINEAR)  # 74,880
    assert round(c.extra_percent, 2) == round(100 * 2176 / 7488, 2)  # 29.06
    data = answer.to_dict()["checkpointing"]
    assert data["step_flops_convention"] == "3 x forward" and data["blocks"] == list(c.blocks)
    auto = plan_checkpointed(spec, limit, checkpoint="auto", batch_size=7, device="cpu")
    assert auto.checkpointing.blocks == ("layers[2] (a)",) and auto.batch_size == 10
    with pytest.raises(CannotFit, match="^two-blocks: batch size 11"):
        plan_checkpointed(spec, limit, checkpoint="auto", batch_size=11, device="cpu")
    with pytest.raises(UsageError, match="unknown checkpointing 'some'"):
        plan_checkpointed(spec, limit, checkpoint="some")
    with pytest.raises(UsageError, match="a wanted batch size is for --checkpoint auto"):
        plan_checkpointed(spec, limit, checkpoint="all", batch_size=3)


def test_checkpointing_every_zoo_resnet_block_never_holds_more():
    spec = cnnsize.load("resnet18")
    plain = cnnsize.plan(spec, 8 * 2**30, optimizer="adam")
    checked = plan_checkpointed(spec, 8 * 2**30, checkpoint="all", optimizer="adam")
    assert checked.batch_size > plain.batch_size
    assert checked.footprint.total_bytes <= checked.usable < checked.next_total
    assert len(checked.checkpointing.blocks) == checked.checkpointing.candidates


@pytest.mark.parametrize("amp", [None, "bf16"])
def test_the_footprint_total_is_the_worst_piece_at_every_batch(amp):
    # the lines sum to the worst moment (forward end, or a block run again), the pieces the solver
    # uses: under autocast the weight copies are one line, never also in a recompute moment
    spec = cnnsize.load("resnet18")
    report = analyze(spec, 1)
    chosen = [b.segment() for b in blocks(resolve(spec), report)]
    model = model_memory(spec, Precision(amp=amp), report, chosen)
    for batch in (1, 7, 64):
        footprint = model.footprint("training", "adam", batch)
        assert footprint.total_bytes == max(p.at(batch) for p in model.pieces("training", "adam"))
        assert footprint.lines["recompute_bytes"] > 0  # ResNet-18's first unit run again is the peak


def test_the_reserve_and_several_gpus_apply_as_to_a_plain_plan():
    spec, _, _ = tiny()
    limit = FIXED + 10 * 768
    # holding back 768 B (one sample of the checkpointed footprint) leaves room for batch 9
    held = plan_checkpointed(spec, limit, checkpoint="all", device="cpu", reserve=768)
    assert held.batch_size == 9 and held.reserve.bytes == 768 and held.usable == limit - 768
    with pytest.raises(NoBatchFits, match="less the reserve"):
        plan_checkpointed(spec, FIXED + 768, checkpoint="all", device="cpu", reserve=768)
    # DDP on 2 ranks: each rank's footprint is the checkpointed model's with DDP's lines (its
    # gradient buckets), solved per rank in the same room
    from cnnsize.memory import Precision
    from cnnsize.parallel import Parallel

    par = Parallel(2, "ddp")
    answer = plan_checkpointed(spec, 10**6, checkpoint="all", device="cpu", parallel=par)
    segments = tuple(b.segment() for b in blocks(resolve(spec), analyze(spec, 1)))
    model = model_memory(spec, Precision(device="cpu"), None, segments)
    assert answer.batch_size == model.largest_batch(10**6, "training", "sgd", par)
    assert answer.footprint == model.footprint("training", "sgd", answer.batch_size, par)
    assert answer.footprint.lines["gradient_bucket_bytes"] == answer.footprint.lines["gradient_bytes"]
    assert answer.global_batch == 2 * answer.batch_size
