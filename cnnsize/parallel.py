"""Training on several GPUs: what one rank holds under each of PyTorch's data-parallel strategies.

Every rank runs the same network on its own batch (`--gpus` ranks per node, `--nodes` nodes); the
global batch is the per-rank batch times the ranks times `--accumulate` steps. What differs is where
the parameters, gradients and optimizer state live, read from PyTorch's own implementations (torch
2.13):

- `ddp`, `torch.nn.parallel.DistributedDataParallel`: every rank holds the whole model, its
  gradients and the optimizer's state, and the Reducer's gradient buckets: flat tensors of the
  gradients (`reducer.cpp`, `initialize_buckets`: one `at::empty` per bucket, as many elements as
  its parameters): one bucket for the first step, rebuilt after it in the order the gradients
  became ready, the first closed at 1 MiB and the others at `bucket_cap_mb=25`
  (`_compute_bucket_assignment_by_size`). They hold a second copy of every gradient, as
  `gradient_as_bucket_view=False` (the default) keeps `param.grad` apart; with `True` the
  gradients are views into the buckets.
- `zero1`, DDP with `torch.distributed.optim.ZeroRedundancyOptimizer`: the optimizer state of the
  parameters a rank owns only. Whole parameters are assigned greedily, largest first (a stable
  sort by `numel`), each to the rank owning the fewest elements so far (`_partition_parameters`);
  after the step each owner broadcasts its parameters in place.
- `zero2` and `fsdp`, FSDP2's `fully_shard` with `reshard_after_forward=False` (ZeRO-2) and `True`
  (ZeRO-3): each parameter is split on dim 0 into `ceil(rows / ranks)`-row chunks, padded, one
  chunk per rank (`FSDPParam._init_sharded_param`); the gradients are reduce-scattered into the
  same padded shards (`foreach_reduce`'s output, the sharded gradients are views of it) and the
  optimizer's state follows each rank's unpadded rows. A unit (one `fully_shard` call: each
  top-level composite layer of the spec, and the root holding every other parameter) is
  all-gathered as a whole, into per-parameter padded tensors (`foreach_all_gather_copy_out`).
  Under `zero2` every unit stays gathered from its forward to the end of its backward; under
  `fsdp` a unit is gathered while it runs (and again in backward, the next unit prefetched), and
  the root, which backward needs first, stays gathered. A unit's backward makes its full
  gradients, copies them into the reduce-scatter input (padded) and frees them; the rank's peak is
  the reduce-scatter holding the most (`sharded_peak`).
- with `--nodes` above 1, `zero2` and `fsdp` shard over the GPUs of a node and replicate across
  nodes (hybrid sharding: the reduce-scatter's output is all-reduced in place across nodes);
  `ddp` and `zero1` count all ranks alike.

Communication libraries' own buffers (NCCL's, gloo's) are not PyTorch tensors and are not counted.
Every line is `fixed + per_sample * batch`, as on one GPU: the per-rank batch is solved exactly.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from math import ceil, prod
from typing import Optional

from cnnsize.errors import SpecPath, UsageError, format_path
from cnnsize.graph import Graph, Group
from cnnsize.memory import Bytes
from cnnsize.shapes import Shape

STRATEGIES = ("ddp", "zero1", "zero2", "fsdp")
SHARDED = ("zero2", "fsdp")  # FSDP2: parameters and gradients sharded too
MAX_RANKS = 1_000_000  # far beyond any cluster; keeps the per-rank arithmetic instant

DDP_FIRST_BUCKET = 1024 * 1024  # torch.distributed.constants._DEFAULT_FIRST_BUCKET_BYTES
DDP_BUCKET_CAP = 25 * 1024 * 1024  # DistributedDataParallel(bucket_cap_mb=25)

STRATEGY_NAMES = {
    "ddp": "DistributedDataParallel",
    "zero1": "ZeRO-1 (DDP + ZeroRedundancyOptimizer)",
    "zero2": "ZeRO-2 (FSDP2 fully_shard, reshard_after_forward=False)",
    "fsdp": "ZeRO-3 (FSDP2 fully_shard, reshard_after_forward=True)",
}


@dataclass(frozen=True)
class Parallel:
    """How a training run spreads over GPUs: `gpus` ranks on each of `nodes` nodes under `strategy`,
    each step accumulating `accumulate` micro-batches. `Parallel()` is one GPU."""

    gpus: int = 1
    strategy: str = "ddp"
    nodes: int = 1
    accumulate: int = 1

    def __post_init__(self) -> None:
        for flag, value in (("--gpus", self.gpus), ("--nodes", self.nodes), ("--accumulate", self.accumulate)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{flag} must be a positive integer, got {value!r}")
            if value > MAX_RANKS:
                raise UsageError(f"{flag} must be at most {MAX_RANKS:,}, got {value:,}")
        if self.strategy not in STRATEGIES:
            raise UsageError(f"--strategy: unknown strategy '{self.strategy}'; choose one of {', '.join(STRATEGIES)}")
        if self.world > MAX_RANKS:
            raise UsageError(f"--gpus x --nodes must be at most {MAX_RANKS:,} ranks, got {self.world:,}")

    @property
    def world(self) -> int:
        """Every rank of the run: GPUs per node times nodes."""
        return self.gpus * self.nodes

    @property
    def sharded(self) -> bool:
        """Whether parameters and gradients are sharded (FSDP2: `zero2`, `fsdp`)."""
        return self.strategy in SHARDED

    @property
    def shard_ranks(self) -> int:
        """The ranks one copy of a sharded state is split over: the node's GPUs under hybrid
        sharding (more than one node), so all of them with one node; 1 when nothing is sharded."""
        return self.gpus if self.sharded else 1

    def global_batch(self, batch_size: int) -> int:
        """Samples per optimizer step: the per-rank batch x ranks x accumulated micro-batches."""
        return batch_size * self.world * self.accumulate

    def describe(self) -> str:
        """`8 GPUs, fsdp` or `2 nodes x 8 GPUs, fsdp (hybrid sharding)`."""
        where = f"{self.nodes} nodes x {self.gpus} GPUs" if self.nodes > 1 else _count(self.gpus, "GPU")
        hybrid = " (hybrid sharding)" if self.nodes > 1 and self.sharded else ""
        steps = f", {self.accumulate} accumulated steps" if self.accumulate > 1 else ""
        return f"{where}, {self.strategy}{hybrid}{steps}"

    def to_dict(self) -> dict[str, object]:
        return {
            "gpus": self.gpus,
            "nodes": self.nodes,
            "world_size": self.world,
            "strategy": self.strategy,
            "accumulate": self.accumulate,
        }


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


# -- the parameters, as PyTorch holds them -------------------------------------------------------


@dataclass(frozen=True)
class ParamTensor:
    """One parameter tensor of the built network: the layer's spec path, its name in the layer
    (`weight`, `bias`), its shape."""

    path: SpecPath
    name: str
    shape: Shape

    @property
    def numel(self) -> int:
        return prod(self.shape)

    def shard_rows(self, ranks: int) -> int:
        """Rows (dim 0) of the padded shard each of `ranks` ranks holds: `ceil(rows / ranks)`."""
        return ceil(self.shape[0] / ranks) if self.shape else 1

    def padded_shard(self, ranks: int) -> int:
        """Elements of one rank's padded shard (FSDP2 pads dim 0 to a multiple of `ranks`)."""
        return self.shard_rows(ranks) * prod(self.shape[1:])

    def local(self, ranks: int, rank: int) -> int:
        """Elements of `rank`'s own rows, unpadded (`torch.chunk`'s chunks; the last ones may be
        short or empty)."""
        rows = self.shape[0] if self.shape else 1
        step = self.shard_rows(ranks)
        return max(0, min(step, rows - rank * step)) * prod(self.shape[1:])


@dataclass(frozen=True)
class Unit:
    """One FSDP unit: a top-level composite layer (`path`), or the root (`path` None) holding every
    parameter outside them."""

    path: Optional[SpecPath]
    tensors: tuple[ParamTensor, ...]
    title: Optional[str] = None  # the composite's `name`, if it has one

    @property
    def name(self) -> str:
        """`root`, or the composite's spec path: `layers[7]`."""
        return "root" if self.path is None else format_path(self.path)

    @property
    def layer_paths(self) -> tuple[SpecPath, ...]:
        """The spec paths of the layers holding the unit's parameters, in order: the modules one
        `fully_shard([...])` call groups (cnnsize's network calls its leaf modules, not composites)."""
        return tuple(dict.fromkeys(t.path for t in self.tensors))

    def describe(self) -> str:
        """`layers[7] (layer4)`: the spec path, with the layer's name where it has one."""
        return f"{self.name} ({self.title})" if self.title else self.name

    @property
    def numel(self) -> int:
        return sum(t.numel for t in self.tensors)

    def padded(self, ranks: int) -> int:
        """Elements of the unit gathered whole: each tensor padded to `ranks` shards."""
        return ranks * sum(t.padded_shard(ranks) for t in self.tensors)


@dataclass(frozen=True)
class Layout:
    """The network's parameter tensors in the order the built module registers them, and its FSDP
    units in execution order (the root first, as it runs first)."""

    tensors: tuple[ParamTensor, ...]
    units: tuple[Unit, ...]


def layout(graph: Graph) -> Layout:
    """The parameter tensors of `graph`'s layers (their kinds' `weight_shapes`; a layer that shares
    another's weights holds none of its own) and its FSDP units, in one pass over the nodes."""
    by_node = [
        ()
        if node.shares is not None
        else tuple(ParamTensor(node.path, n, shape) for n, shape in node.layer.node_weights(node.in_shapes).items())
        for node in graph.nodes
    ]
    tensors = tuple(t for held in by_node for t in held)
    in_unit: set[int] = set()
    units = []
    for member in graph.tree:
        if isinstance(member, Group):
            nodes = sorted(_nodes_of(member))
            inside = tuple(t for i in nodes for t in by_node[i])
            if inside:
                units.append(Unit(member.path, inside, member.layer.name))
                in_unit.update(nodes)
    root = Unit(None, tuple(t for i, held in enumerate(by_node) if i not in in_unit for t in held))
    return Layout(tensors, (root, *units))


def _nodes_of(group: Group) -> list[int]:
    found: list[int] = []
    for member in group.members:
        found += _nodes_of(member) if isinstance(member, Group) else [member]
    return found


# -- what one rank holds -------------------------------------------------------------------------


def zero1_partition(tensors: tuple[ParamTensor, ...], ranks: int) -> list[int]:
    """Elements each rank owns under ZeroRedundancyOptimizer: the parameters sorted by size,
    largest first (stable), each to the rank owning the fewest so far (the first such rank: a heap
    of (owned, rank) pops the fewest, then the lowest rank)."""
    sizes = [0] * ranks
    heap = [(0, rank) for rank in range(min(ranks, len(tensors)))]  # ranks beyond the tensors own nothing
    for tensor in sorted(tensors, key=lambda t: t.numel, reverse=True):
        owned, rank = heapq.heappop(heap)
        sizes[rank] = owned + tensor.numel
        heapq.heappush(heap, (sizes[rank], rank))
    return sizes


def ddp_buckets(tensors: tuple[ParamTensor, ...], element_bytes: int) -> list[int]:
    """Elements of each of DDP's gradient buckets: parameters in reverse order, a bucket closed once
    it reaches its cap (1 MiB for the first, 25 MiB after), as `_compute_bucket_assignment_by_size`."""
    buckets: list[int] = []
    current, cap = 0, DDP_FIRST_BUCKET
    for tensor in reversed(tensors):
        current += tensor.numel
        if current * element_bytes >= cap:
            buckets.append(current)
            current, cap = 0, DDP_BUCKET_CAP
    if current:
        buckets.append(current)
    return buckets


# per-rank line keys, beside the single-GPU ones (cnnsize.memory_report)
PARALLEL_LINES = ("gradient_bucket_bytes", "unsharded_parameter_bytes", "communication_buffer_bytes")


def rank_lines(
    lines: dict[str, Bytes], model: Layout, parallel: Parallel, states: int, element_bytes: int, rank: int
) -> dict[str, Bytes]:
    """One rank's training lines: `lines` (one GPU's, at the per-rank batch) with the parameters,
    gradients and optimizer state (`states` tensors per parameter) as `parallel` places them, and
    the buckets, gathered parameters and communication buffers it adds."""
    b = element_bytes
    out = dict(lines)
    full = sum(t.numel for t in model.tensors)
    if not parallel.sharded:
        owned = zero1_partition(model.tensors, parallel.world)[rank] if parallel.strategy == "zero1" else full
        out["optimizer_state_bytes"] = Bytes(states * owned * b, 0)
        out["gradient_bucket_bytes"] = Bytes(full * b, 0)
        out["unsharded_parameter_bytes"] = Bytes()
        out["communication_buffer_bytes"] = Bytes()
        return out
    n = parallel.shard_ranks
    shard = sum(t.padded_shard(n) for t in model.tensors)
    local = sum(t.local(n, rank % n) for t in model.tensors)
    peak = sharded_peak(model, parallel)
    out["parameter_bytes"] = Bytes(shard * b, 0)
    out["gradient_bytes"] = Bytes(peak.reduced * b, 0)
    out["optimizer_state_bytes"] = Bytes(states * local * b, 0)
    out["gradient_bucket_bytes"] = Bytes()
    out["unsharded_parameter_bytes"] = Bytes(peak.gathered * b, 0)
    out["communication_buffer_bytes"] = Bytes(peak.buffers * b, 0)
    return out


@dataclass(frozen=True)
class ShardedPeak:
    """The moment of an FSDP2 step holding the most beside what every moment holds (the shards,
    the optimizer state): a unit's reduce-scatter, when its full gradients are copied into the
    padded reduce-scatter input (`buffers`), with `gathered` elements of units all-gathered and the
    gradient shards of the units backward has finished (`reduced`)."""

    unit: Unit
    gathered: int
    buffers: int
    reduced: int

    @property
    def elements(self) -> int:
        return self.gathered + self.buffers + self.reduced


def sharded_peak(model: Layout, parallel: Parallel) -> ShardedPeak:
    """The reduce-scatter holding the most. Backward runs the units last to first, the root (which
    holds the stem) finishing last. At the reduce-scatter of unit i: its gradients and their padded
    copy, and the gradient shards of the units after it (done already); gathered, under `zero2` the
    root and units up to i (a unit stays gathered from its forward until its own backward ends),
    under `fsdp` the root, unit i and unit i - 1 (prefetched; for the first unit, the root, which is
    gathered already). At the root's: the root gathered, its buffers, every unit's shards."""
    n = parallel.shard_ranks
    root, units = model.units[0], model.units[1:]
    shards = [sum(t.padded_shard(n) for t in u.tensors) for u in units]
    moments = []
    for i, unit in enumerate(units):
        if parallel.strategy == "zero2":
            gathered = root.padded(n) + sum(u.padded(n) for u in units[: i + 1])
        else:
            gathered = root.padded(n) + unit.padded(n) + (units[i - 1].padded(n) if i > 0 else 0)
        moments.append(ShardedPeak(unit, gathered, unit.numel + unit.padded(n), sum(shards[i + 1 :])))
    moments.append(ShardedPeak(root, root.padded(n), root.numel + root.padded(n), sum(shards)))
    return max(reversed(moments), key=lambda m: m.elements)  # the first in backward among equals


def peak_moment(model: Layout, parallel: Parallel) -> Optional[str]:
    """Where a rank's peak is, in words: the reduce-scatter of the unit `sharded_peak` finds (FSDP2);
    None for DDP and ZeRO-1, whose lines are what a step holds at once."""
    if not parallel.sharded:
        return None
    peak = sharded_peak(model, parallel)
    return f"the reduce-scatter of {peak.unit.describe()}'s gradients"


def largest_rank(parallel: Parallel, model: Layout) -> int:
    """The rank holding the most: only the optimizer state differs between ranks (ZeRO-1's
    partition; FSDP's unpadded rows, fullest on the first ranks)."""
    if parallel.strategy == "zero1":
        sizes = zero1_partition(model.tensors, parallel.world)
        return sizes.index(max(sizes))
    return 0


def check_rank(parallel: Parallel, rank: int) -> None:
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < parallel.world:
        raise UsageError(f"rank must be from 0 to {parallel.world - 1}, got {rank!r}")
