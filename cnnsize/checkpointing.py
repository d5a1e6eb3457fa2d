"""Activation checkpointing: which blocks to run again in backward instead of keeping what they save.

A checkpointed block (`torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)`, the mode
PyTorch recommends) keeps only the tensors it reads from outside (its input, a skip it joins), saves
nothing else for backward, and runs its forward again when backward reaches it. The memory model
(`cnnsize.memory.trace` with `Segment`s) counts both moments of a training step:

- the end of the forward pass: what is saved outside the checkpointed blocks, plus their inputs;
- each checkpointed block run again in backward: what was saved before it (its inputs included),
  plus what the block saves when run again, while everything after it has released its own.

The step's footprint is the most of these (with the parameters, gradients and optimizer state), so
the largest batch is still solved exactly: every piece is `fixed + per_sample * batch`.

Checkpointable blocks are the top-level composites of a spec (residual units, sequential blocks,
block uses such as a U-Net's encoder and decoder steps), a `sequential` holding two or more
composites opened into them (a zoo ResNet's stages into their residual units, MobileNet's
`features` into its blocks), named by their spec path as reports name them. The work paid is each
checkpointed block's forward FLOPs, once more per step; the step's FLOPs are taken as 3 x the
forward's (forward, then backward's gradients with respect to the inputs and to the weights, each
about a forward). PyTorch's recomputation stops once the last tensor backward needs is made again,
so the operations after a block's last saving one (a residual's add, a mean) are not run again:
they count no FLOPs in FlopCounterMode's convention (cnnsize's), in which a convolution or linear
layer, which saves its input, always runs again.

`auto` picks blocks greedily, cheapest recompute per byte saved first (FLOPs per sample over the
bytes per sample the block alone frees at the forward's end), until a wanted batch fits, or keeps
the prefix of that order that fits the largest batch. It traces the network once, recording who
saves what, and works out each block's saving and each prefix's footprint from that
(`cnnsize.checkpoint_search`): the same figures as a trace per block and per prefix, without them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Sequence, Union

from cnnsize.checkpoint_search import Savings
from cnnsize.engine import analyze
from cnnsize.errors import CnnsizeError, SpecPath, UsageError, format_path
from cnnsize.graph import Graph, Group, Member, resolve
from cnnsize.headroom import Reserve, usable
from cnnsize.memory import Precision, Segment, total, trace
from cnnsize.parallel import Parallel, peak_moment
from cnnsize.planner import MemoryModel, NoBatchFits, Plan, check_limit, check_optimizer, model_memory, reserve_of
from cnnsize.report import Report
from cnnsize.schema import Spec
from cnnsize.units import human_bytes

CHOICES = ("none", "all", "auto")
STEP_FLOPS = 3  # a training step's FLOPs as a multiple of the forward's: forward 1x, backward 2x


@dataclass(frozen=True)
class Block:
    """A checkpointable block: a top-level composite, its nodes `first` to `last`, the values it reads
    from outside (`inputs`) and its forward FLOPs per sample."""

    path: SpecPath
    name: Optional[str]
    first: int
    last: int
    inputs: tuple[int, ...]
    output: int
    flops: int  # per sample

    @property
    def label(self) -> str:
        """The spec path, with the block's name: `layers[3] (block1)`."""
        where = format_path(self.path)
        return f"{where} ({self.name})" if self.name else where

    def segment(self) -> Segment:
        return Segment(self.path, self.first, self.last, self.inputs)


def blocks(graph: Graph, report: Report) -> list[Block]:
    """The top-level composites of `graph`, in execution order, with their forward FLOPs from
    `report` (the engine's analysis at batch size 1)."""
    flops = {row.path: row.flops for _, row in report.walk()}
    found = []
    for member in _opened(graph.tree):
        nodes = _nodes(member)
        if not nodes:
            continue
        first, last = min(nodes), max(nodes)
        made = {v for n in range(first, last + 1) for v in graph.nodes[n].outputs}
        reads = [v for n in range(first, last + 1) for v in graph.nodes[n].inputs if v not in made]
        found.append(Block(member.path, member.layer.name, first, last, tuple(dict.fromkeys(reads)),
                           member.output, flops.get(member.path, 0)))  # fmt: skip
    return found


def _opened(members: Sequence[Member]) -> list[Group]:
    """The composites among `members`, a `sequential` that holds two or more composites opened into
    them, recursively (a ResNet stage into its residual units, MobileNet's `features` into its
    blocks); the leaves beside them are not checkpointed."""
    found: list[Group] = []
    for member in members:
        if not isinstance(member, Group):
            continue
        inner = [m for m in member.members if isinstance(m, Group)]
        if member.layer.kind == "sequential" and len(inner) >= 2:
            found += _opened(member.members)
        else:
            found.append(member)
    return found


def _nodes(group: Group) -> list[int]:
    found: list[int] = []
    for member in group.members:
        found += _nodes(member) if isinstance(member, Group) else [member]
    return found


def check_choice(choice: str) -> None:
    if choice not in CHOICES:
        raise UsageError(f"unknown checkpointing '{choice}'; choose one of {', '.join(CHOICES)}")


@dataclass(frozen=True)
class Checkpointing:
    """What checkpointing did to a plan, at its batch size: the blocks checkpointed (labels), the
    footprint without checkpointing at that batch and the bytes saved against it, the extra FLOPs
    (the blocks' forward FLOPs, run again) and the step's FLOPs without them (3 x the forward's)."""

    choice: str
    blocks: tuple[str, ...]
    candidates: int
    batch_size: int
    unchecked_total: int  # the footprint at this batch without checkpointing
    saved_bytes: int
    extra_flops: int
    step_flops: int
    note: str = ""  # how auto chose, or why it could not reach the wanted batch

    @property
    def extra_percent(self) -> float:
        """The extra FLOPs as a percentage of the step's (3 x forward)."""
        return 100 * self.extra_flops / self.step_flops if self.step_flops else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.choice,
            "blocks": list(self.blocks),
            "checkpointable_blocks": self.candidates,
            "unchecked_total_bytes": self.unchecked_total,
            "saved_bytes": self.saved_bytes,
            "extra_flops": self.extra_flops,
            "step_flops": self.step_flops,
            "step_flops_convention": "3 x forward",
            "extra_flops_percent": round(self.extra_percent, 2),
            "note": self.note,
        }


class CannotFit(CnnsizeError):
    """The wanted batch does not fit even with every block checkpointed (exit 1, as a failed budget)."""


def choose(
    graph: Graph,
    report: Report,
    choice: str,
    model: Callable[[tuple[Segment, ...]], MemoryModel],
    optimizer: str,
    limit: int,
    batch_size: Optional[int] = None,
    parallel: Optional[Parallel] = None,
) -> tuple[list[Block], str]:
    """The blocks `choice` checkpoints (`model(segments)` gives a `MemoryModel` with those segments
    checkpointed), and a note on how they were chosen. `auto`: cheapest FLOPs per byte saved first,
    until `batch_size` fits (`CannotFit` when all do not make it fit), or the prefix of that order
    that fits the largest batch."""
    check_choice(choice)
    found = blocks(graph, report)
    if choice == "none":
        return [], ""
    if choice == "all":
        return found, ""
    plain = model(())
    lines = plain.lines("training", optimizer, parallel)
    fixed = total(size for key, size in lines.items() if key not in ("saved_activation_bytes", "input_bytes"))
    recorded = trace(graph, plain.precision, True, record=True)  # who saves what: one trace for every set
    savings = Savings(recorded, [(b.first, b.last, b.inputs) for b in found], fixed)
    ranked = []
    for k, freed in enumerate(savings.freed()):  # what each alone frees at the forward's end, per sample
        if freed.per_sample > 0:
            ranked.append((found[k].flops / freed.per_sample, k))
    ranked.sort(key=lambda pair: pair[0])
    order = [k for _, k in ranked]
    prefix = savings.prefixes()
    if batch_size is not None:
        for count in range(len(order) + 1):
            if count:
                prefix.add(order[count - 1])
            if prefix.largest(limit) >= batch_size:
                chosen = [found[k] for k in order[:count]]
                return _in_order(chosen), f"cheapest recompute per byte first, until batch size {batch_size} fits"
        raise CannotFit(
            f"batch size {batch_size} does not fit even with every block that frees memory checkpointed "
            f"({len(order)} of {len(found)}): the largest that fits then is {prefix.largest(limit)}"
        )
    best, best_count = prefix.largest(limit), 0
    for count in range(1, len(order) + 1):
        prefix.add(order[count - 1])
        if prefix.end_bound(limit) > best:  # else the forward's end alone holds it to no more than the best
            fits = prefix.largest(limit)
            if fits > best:
                best, best_count = fits, count
    return _in_order([found[k] for k in order[:best_count]]), "cheapest recompute per byte first, for the largest batch"


def _in_order(chosen: Sequence[Block]) -> list[Block]:
    return sorted(chosen, key=lambda b: b.first)


def summary(
    choice: str,
    chosen: Sequence[Block],
    candidates: int,
    batch_size: int,
    checked_total: int,
    unchecked_total: int,
    forward_flops_per_sample: int,
    note: str = "",
) -> Checkpointing:
    """The figures of `chosen` at `batch_size`: footprints with and without checkpointing, FLOPs."""
    return Checkpointing(
        choice=choice,
        blocks=tuple(b.label for b in chosen),
        candidates=candidates,
        batch_size=batch_size,
        unchecked_total=unchecked_total,
        saved_bytes=unchecked_total - checked_total,
        extra_flops=sum(b.flops for b in chosen) * batch_size,
        step_flops=STEP_FLOPS * forward_flops_per_sample * batch_size,
        note=note,
    )


def plan_checkpointed(
    spec: Spec,
    limit: int,
    *,
    checkpoint: str = "all",
    batch_size: Optional[int] = None,
    optimizer: str = "sgd",
    dtype: Optional[str] = None,
    amp: Optional[str] = None,
    device: str = "cuda",
    parallel: Optional[Parallel] = None,
    reserve: Union[None, int, str, Reserve] = None,
) -> Plan:
    """The largest training batch of `spec` in `limit` bytes less `reserve` (as `cnnsize.plan`'s;
    with `parallel`, what one rank holds) with `checkpoint`'s blocks checkpointed (`none`, `all`, or
    `auto`: for `batch_size` to fit, or for the largest batch), and what that costs
    (`Plan.checkpointing`)."""
    check_choice(checkpoint)
    check_optimizer(optimizer)
    check_limit(limit)
    if batch_size is not None and checkpoint != "auto":
        raise UsageError("a wanted batch size is for --checkpoint auto, which picks blocks until it fits")
    held = reserve_of(reserve, limit, device)
    room = usable(limit, held, explicit=reserve is not None)
    report = analyze(spec, 1, dtype)
    precision = Precision(report.dtype, amp, device)
    if not precision.trainable:
        raise UsageError(f"{report.name}: {precision.untrainable_reason}; checkpointing is for training")
    graph = resolve(spec)
    plain = replace(model_memory(spec, precision, report), stepwise=False)  # set against checkpointed traces alike
    cache: dict[tuple[Segment, ...], MemoryModel] = {(): plain}

    def model(segments: tuple[Segment, ...]) -> MemoryModel:  # one training trace per set of blocks
        if segments not in cache:
            cache[segments] = replace(plain, training=trace(graph, precision, True, segments))
        return cache[segments]

    try:
        chosen, note = choose(graph, report, checkpoint, model, optimizer, room, batch_size, parallel)
        checked = model(tuple(b.segment() for b in chosen))
        batch = checked.largest_batch(room, "training", optimizer, parallel)
    except (NoBatchFits, CannotFit) as exc:
        after = f" (--memory {human_bytes(limit)} less the reserve, {human_bytes(held.bytes)})" if held.bytes else ""
        raise type(exc)(f"{report.name}: {exc}{after}") from None
    footprint = checked.footprint("training", optimizer, batch, parallel)
    unchecked = model(()).footprint("training", optimizer, batch, parallel).total_bytes
    cost = summary(checkpoint, chosen, len(blocks(graph, report)), batch, footprint.total_bytes, unchecked,
                   report.totals.flops, note)  # fmt: skip
    return Plan(
        name=report.name,
        file=report.file,
        limit=limit,
        precision=precision,
        footprint=footprint,
        next_total=checked.footprint("training", optimizer, batch + 1, parallel).total_bytes,
        inputs=report.inputs,
        checkpointing=cost,
        reserve=held,
        parallel=parallel,
        peak=peak_moment(plain.layout, parallel) if parallel and plain.layout else None,
    )


__all__ = [
    "Block", "CannotFit", "Checkpointing", "blocks", "check_choice", "choose", "plan_checkpointed", "summary",
]  # fmt: skip
