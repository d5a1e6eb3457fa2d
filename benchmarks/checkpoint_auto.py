"""How long does `--checkpoint auto` take to choose, now and as it was?

For each network, in one run: `choose` as it is (one recorded trace, `cnnsize.checkpoint_search`)
and as it was (one full trace per block to rank them, one per prefix of the ranked order to fit:
`traced_choice` below), both timed, with whether they chose the same blocks. The former algorithm's
time on a spec with thousands of blocks is estimated instead of waited for (minutes): the time of
the traces it would run (one per block, one per prefix it tries), from the mean time of a few of
them, and marked so.

    PYTHONPATH=. python benchmarks/checkpoint_auto.py [--models densenet121 resnet152] [--blocks 2000]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from typing import Optional, Sequence

import cnnsize
from cnnsize.checkpointing import Block, blocks, choose
from cnnsize.engine import analyze
from cnnsize.graph import resolve
from cnnsize.memory import Precision, trace
from cnnsize.planner import NoBatchFits, model_memory

LIMIT = 24 * 2**30
ESTIMATE_OVER = 100  # blocks: above, the former algorithm's time is estimated from a few traces


def residual_spec(count: int) -> str:
    """A spec of `count` residual units (3x3 convolution, batch norm, ReLU, 3x3 convolution, batch
    norm, plus the identity) on 16 channels at 8x8, between a stem and a classifier."""
    unit = (
        "  - type: residual\n    body:\n"
        "      - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}\n"
        "      - batchnorm2d\n      - relu\n"
        "      - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}\n"
        "      - batchnorm2d\n"
    )
    return (
        f"name: residual-{count}\ninput: [3, 8, 8]\nlayers:\n"
        "  - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}\n"
        + unit * count
        + "  - flatten\n  - {type: linear, out_features: 10}\n"
    )


def shrinking_spec(count: int) -> str:
    """A spec of `count` blocks whose inner map shrinks by 8 channels a block on a 4-channel input:
    no block run again outweighs an earlier one's, the worst case for `auto`'s frontier (the
    segment tree takes over)."""
    unit = (
        "  - {{type: sequential, layers: [{{type: conv2d, out_channels: {c}, kernel_size: 1, bias: false}}, "
        "batchnorm2d, relu, {{type: conv2d, out_channels: 4, kernel_size: 1, bias: false}}]}}\n"
    )
    layers = "".join(unit.format(c=8 * (count - i) + 8) for i in range(count))
    head = f"name: shrinking-{count}\ninput: [4, 4, 4]\nlayers:\n"
    return head + layers + "  - flatten\n  - {type: linear, out_features: 2}\n"


def traced_choice(graph, report, model, limit: int, optimizer: str) -> list[Block]:
    """`choose`'s auto (for the largest batch) as it was: a full trace per block and per prefix."""
    found = blocks(graph, report)
    base = model(()).training.saved.per_sample
    ranked = []
    for block in found:
        freed = base - model((block.segment(),)).training.saved.per_sample
        if freed > 0:
            ranked.append((block.flops / freed, block))
    ranked.sort(key=lambda pair: pair[0])
    order = [block for _, block in ranked]

    def largest(prefix: Sequence[Block]) -> int:
        try:
            return model(tuple(b.segment() for b in prefix)).largest_batch(limit, "training", optimizer)
        except NoBatchFits:
            return 0

    best, best_count = -1, 0
    for count in range(len(order) + 1):
        fits = largest(order[:count])
        if fits > best:
            best, best_count = fits, count
    return sorted(order[:best_count], key=lambda b: b.first)


def measure(name: str, spec, optimizer: str = "adam") -> tuple[str, int, float, Optional[float], str]:
    report = analyze(spec, 1)
    graph = resolve(spec)
    precision = Precision()
    plain = model_memory(spec, precision, report)

    def model(segments):  # as plan_checkpointed: a trace per set of blocks, not cached across runs
        return plain if not segments else replace(plain, training=trace(graph, precision, True, segments))

    found = blocks(graph, report)
    start = time.perf_counter()
    chosen, _ = choose(graph, report, "auto", model, optimizer, LIMIT)
    now = time.perf_counter() - start
    if len(found) <= ESTIMATE_OVER:
        start = time.perf_counter()
        before = traced_choice(graph, report, model, LIMIT, optimizer)
        was: Optional[float] = time.perf_counter() - start
        same = "yes" if [b.label for b in before] == [b.label for b in chosen] else "NO"
    else:
        sample = found[:5]
        start = time.perf_counter()
        for block in sample:
            model((block.segment(),))
        each = (time.perf_counter() - start) / len(sample)
        was = each * 2 * len(found)  # one per block, and about one per prefix (largest-batch search)
        same = "(estimated)"
    return name, len(found), now, was, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=["densenet121", "resnet152"])
    parser.add_argument("--blocks", type=int, default=2000, help="residual units of the generated spec")
    parser.add_argument("--shrinking", type=int, default=2000, help="blocks of the generated worst case")
    args = parser.parse_args()
    specs = [(name, cnnsize.load(name)) for name in args.models]
    if args.blocks:
        specs.append((f"residual-{args.blocks} (generated)", cnnsize.load(residual_spec(args.blocks))))
    if args.shrinking:
        specs.append((f"shrinking-{args.shrinking} (generated)", cnnsize.load(shrinking_spec(args.shrinking))))
    print(f"{'network':<30} {'blocks':>6} {'now':>9} {'before':>11}  same choice")
    for name, spec in specs:
        name, count, now, was, same = measure(name, spec)
        was_text = f"{was:.2f} s" if was is not None else "-"
        if same == "(estimated)":
            was_text = f"~{was:.0f} s"
        print(f"{name:<30} {count:>6} {now:>7.3f} s {was_text:>11}  {same}")


if __name__ == "__main__":
    main()
