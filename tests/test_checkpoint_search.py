"""`--checkpoint auto` from one recorded trace (`cnnsize.checkpoint_search`) against full traces: for
every block of several networks, what it alone frees equals the difference of two full traces; for
sets of blocks grown in the ranked order and in a shuffled one, the pieces of the footprint equal a
full trace's with those blocks checkpointed; and `choose` picks what the algorithm it replaces (one
full trace per block and per prefix, kept here as the oracle) picked."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Optional, Sequence

import pytest

import cnnsize
from cnnsize.checkpoint_search import Savings
from cnnsize.checkpointing import Block, CannotFit, blocks, choose
from cnnsize.engine import analyze
from cnnsize.graph import resolve
from cnnsize.memory import Bytes, Precision, total, trace
from cnnsize.planner import NoBatchFits, model_memory

NETWORKS = [
    "resnet18", "resnet50", "densenet121", "mobilenet_v2", "googlenet", "specs/unet.yaml", "specs/small-resnet.yaml",
]  # fmt: skip
PRECISIONS = [Precision(), Precision(amp="bf16"), Precision(device="cpu", amp="bf16")]


class Setup:
    def __init__(self, name: str, precision: Precision, optimizer: str = "adam") -> None:
        self.spec = cnnsize.load(name)
        self.report = analyze(self.spec, 1)
        self.graph = resolve(self.spec)
        self.precision = precision
        self.found = blocks(self.graph, self.report)
        # planned at the forward's end, as checkpointing sets its traces against (stepwise=False)
        self.plain = replace(model_memory(self.spec, precision, self.report), stepwise=False)
        self.cache: dict = {(): self.plain}
        lines = self.plain.lines("training", optimizer)
        fixed = total(v for k, v in lines.items() if k not in ("saved_activation_bytes", "input_bytes"))
        recorded = trace(self.graph, precision, True, record=True)
        self.savings = Savings(recorded, [(b.first, b.last, b.inputs) for b in self.found], fixed)

    def model(self, segments):
        if segments not in self.cache:
            self.cache[segments] = replace(self.plain, training=trace(self.graph, self.precision, True, segments))
        return self.cache[segments]

    def segments(self, ks: Sequence[int]):
        return tuple(self.found[k].segment() for k in sorted(ks))


@pytest.fixture(scope="module")
def setups():
    made: dict = {}

    def get(name: str, precision: Precision) -> Setup:
        key = (name, precision)
        if key not in made:
            made[key] = Setup(name, precision)
        return made[key]

    return get


@pytest.mark.parametrize("precision", PRECISIONS[:2], ids=["float32", "bf16"])
@pytest.mark.parametrize("name", NETWORKS)
def test_what_each_block_alone_frees_equals_two_full_traces(setups, name, precision):
    s = setups(name, precision)
    base = s.plain.training.saved
    freed = s.savings.freed()
    assert len(freed) == len(s.found) > 0
    for k in range(len(s.found)):
        alone = s.model(s.segments([k])).training.saved
        assert freed[k] == base - alone, s.found[k].label  # the forward's end, weight copies included


def _orders(s: Setup) -> list[list[int]]:
    ranked = sorted(range(len(s.found)), key=lambda k: -s.savings.freed()[k].per_sample)
    shuffled = list(range(len(s.found)))
    random.Random(0).shuffle(shuffled)
    return [ranked, shuffled]


@pytest.mark.parametrize("precision", PRECISIONS, ids=["float32", "bf16", "cpu-bf16"])
@pytest.mark.parametrize("name", NETWORKS)
def test_the_pieces_of_growing_sets_equal_full_traces(setups, name, precision):
    s = setups(name, precision)
    step = max(1, len(s.found) // 8)  # densenet121's 61 blocks: every 7th set, and the last
    for order in _orders(s):
        prefix, tree = s.savings.prefixes(), s.savings.prefixes()
        tree.scan = 0  # the segment tree from the first block on, in place of the frontier
        for count, k in enumerate(order, 1):
            prefix.add(k)
            tree.add(k)
            if count % step and count != len(order):
                continue
            full = s.model(s.segments(order[:count]))
            t = full.training
            assert [prefix.recomputed(j) for j in sorted(order[:count])] == list(t.recomputed)
            assert prefix.pieces(every=True) == full.pieces("training", "adam")
            # the frontier leaves out only pieces another outweighs: the same largest batch
            for limit in (2**30, 24 * 2**30):
                try:
                    expected = full.largest_batch(limit, "training", "adam")
                except NoBatchFits:
                    expected = 0
                assert prefix.largest(limit) == tree.largest(limit) == expected


def oracle(s: Setup, optimizer: str, limit: int, batch_size: Optional[int]) -> tuple[list[Block], str]:
    """`choose`'s auto as it was: one full trace per block to rank, one per prefix to fit."""
    found = s.found
    base = s.model(()).training.saved.per_sample
    ranked = []
    for block in found:
        freed = base - s.model((block.segment(),)).training.saved.per_sample
        if freed > 0:
            ranked.append((block.flops / freed, block))
    ranked.sort(key=lambda pair: pair[0])
    order = [block for _, block in ranked]

    def largest(prefix: Sequence[Block]) -> int:
        segments = tuple(b.segment() for b in sorted(prefix, key=lambda b: b.first))
        try:
            return s.model(segments).largest_batch(limit, "training", optimizer)
        except NoBatchFits:
            return 0

    if batch_size is not None:
        for count in range(len(order) + 1):
            if largest(order[:count]) >= batch_size:
                return sorted(order[:count], key=lambda b: b.first), "fits"
        raise CannotFit(f"the largest that fits then is {largest(order)}")
    best, best_count = -1, 0
    for count in range(len(order) + 1):
        fits = largest(order[:count])
        if fits > best:
            best, best_count = fits, count
    return sorted(order[:best_count], key=lambda b: b.first), "largest"


@pytest.mark.parametrize(
    "name, precision",
    [
        ("specs/small-resnet.yaml", Precision()),
        ("specs/unet.yaml", Precision(amp="bf16")),
        ("resnet18", Precision()),
        ("mobilenet_v2", Precision(amp="bf16")),
        ("googlenet", Precision()),
    ],
)
def test_choose_picks_what_the_full_traces_picked(setups, name, precision):
    s = setups(name, precision)
    plain = s.plain
    fixed = plain.lines("training", "sgd")["parameter_bytes"].fixed
    for limit in (fixed * 3, fixed * 20, 24 * 2**30):  # tight to roomy
        try:
            unchecked = plain.largest_batch(limit, "training", "sgd")
        except NoBatchFits:
            unchecked = 0
        for wanted in (None, unchecked + 1, 2 * unchecked + 3, 100 * unchecked + 100):
            try:
                expected = [b.label for b in oracle(s, "sgd", limit, wanted)[0]]
            except CannotFit as exc:
                with pytest.raises(CannotFit, match=str(exc).split(": ")[-1]):
                    choose(s.graph, s.report, "auto", s.model, "sgd", limit, wanted)
                continue
            chosen, _ = choose(s.graph, s.report, "auto", s.model, "sgd", limit, wanted)
            assert [b.label for b in chosen] == expected, (limit, wanted)


def test_a_block_reading_a_storage_nothing_saves_keeps_it():
    # a block whose input nothing saves (its first layer, a ReLU, saves only its output) makes
    # checkpoint keep that input: the block frees its inner maps less that input
    spec = cnnsize.load(
        """
name: keeps
input: [2, 4, 4]
layers:
  - {type: conv2d, out_channels: 2, kernel_size: 1, bias: false}
  - {type: sequential, name: s, layers: [relu, {type: conv2d, out_channels: 2, kernel_size: 1, bias: false}]}
  - flatten
  - {type: linear, out_features: 3}
"""
    )
    report, graph = analyze(spec, 1), resolve(spec)
    found = blocks(graph, report)
    recorded = trace(graph, Precision(), True, record=True)
    savings = Savings(recorded, [(b.first, b.last, b.inputs) for b in found], Bytes())
    full = trace(graph, Precision(), True, [found[0].segment()])
    # the conv's output (nothing saves it: the ReLU saves its own output) is kept; the ReLU's output
    # (saved by the ReLU and by the inner conv) is freed: 2*4*4*4 = 128 B each, net 0
    assert savings.freed() == [recorded.saved - full.saved] == [Bytes(0, 128 - 128)]


def shrinking(count: int) -> str:
    """`count` blocks whose inner map shrinks by 8 channels a block while their input stays 4
    channels: each block run again holds less than the one before it by more than the input it
    adds, so no block outweighs an earlier one and the frontier holds them all."""
    unit = (
        "  - {{type: sequential, layers: [{{type: conv2d, out_channels: {c}, kernel_size: 1, bias: false}}, "
        "batchnorm2d, relu, {{type: conv2d, out_channels: 4, kernel_size: 1, bias: false}}]}}\n"
    )
    layers = "".join(unit.format(c=8 * (count - i) + 8) for i in range(count))
    return f"name: shrinking\ninput: [4, 4, 4]\nlayers:\n{layers}  - flatten\n  - {{type: linear, out_features: 2}}\n"


def test_blocks_that_no_later_one_outweighs_the_segment_tree_takes_over(tmp_path):
    path = tmp_path / "shrinking.yaml"
    path.write_text(shrinking(40))
    s = Setup(str(path), Precision(), optimizer="sgd")
    prefix = s.savings.prefixes()
    prefix.scan = 8
    for count in range(1, len(s.found) + 1):
        prefix.add(count - 1)  # in order: each block outweighs no earlier one
        if count in (8, 9, 20, 40):
            full = s.model(s.segments(range(count)))
            assert prefix.pieces(every=True) == full.pieces("training", "sgd")
            for limit in (2**20, 2**24, 2**30):
                try:
                    expected = full.largest_batch(limit, "training", "sgd")
                except NoBatchFits:
                    expected = 0
                assert prefix.largest(limit) == expected
            assert (prefix.peaks is None) == (count <= 8)  # the frontier, then the tree
    chosen, _ = choose(s.graph, s.report, "auto", s.model, "sgd", 2**24)
    assert [b.label for b in chosen] == [b.label for b in oracle(s, "sgd", 2**24, None)[0]]


def test_a_recorded_trace_is_one_without_checkpointing():
    spec = cnnsize.load("specs/small-resnet.yaml")
    graph = resolve(spec)
    found = blocks(graph, analyze(spec, 1))
    with pytest.raises(ValueError, match="without checkpointed segments"):
        trace(graph, Precision(), True, [found[0].segment()], record=True)
    with pytest.raises(ValueError, match="must be recorded"):
        Savings(trace(graph, Precision(), True), [], Bytes())
    recorded = trace(graph, Precision(), True, record=True)
    assert recorded.saved == trace(graph, Precision(), True).saved  # recording changes no figure
