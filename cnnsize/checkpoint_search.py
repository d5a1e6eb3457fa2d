"""What any set of checkpointed blocks saves, from one trace: for `--checkpoint auto` to rank the
blocks and try prefixes of its order without tracing the network again for each.

One training trace without checkpointing records who saves what (`cnnsize.memory.Savers`): for
each storage the nodes that save it, for each autocast weight copy the nodes that save it, and the
storage each value is. The tracer with checkpointed blocks (`cnnsize.memory.trace` with
`Segment`s) then follows from these, storage by storage:

- a storage is saved at the forward's end when a node outside the checkpointed blocks saves it, or
  when it is an input of a checkpointed block (checkpoint keeps its inputs): its *effective save*
  is the first of these moments, the node's index or the block's first node's;
- an autocast weight copy is saved when a node outside the checkpointed blocks saves it;
- a checkpointed block run again in backward holds every storage whose effective save comes no
  later than its start (`before`), and what its own nodes save, its inputs aside (a storage a
  block's node saves that was made before the block is always one of its inputs), and the weight
  copies its nodes save, each call counted (`again`: the same for any set of blocks).

So the bytes saved with a set of blocks are a sum over storages keyed by their effective save, kept
in a Fenwick tree over the nodes' indices: adding a block moves the effective save of the storages
it saves or reads, each once per block (linear over a prefix order of all the blocks), and a block's
`before` is a prefix sum (logarithmic). A block run again never holds more than a later one with at
least its `again` in both parts (fixed and per sample), since `before` only grows along the pass:
only the blocks no later block outweighs (the frontier) are evaluated. The pieces are exactly those
of `MemoryModel.pieces` for a trace with those blocks checkpointed (tests/test_checkpoint_search.py
checks both against full traces).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Sequence

from cnnsize.memory import Bytes, Savers, Trace
from cnnsize.planner import fitting_batch

NEVER = -1  # no effective save: not saved at the forward's end


@dataclass(frozen=True)
class BlockSaves:
    """One block's part, from the recorded trace: its first node, the storages of the values it
    reads from outside (`pins`: checkpoint keeps them), the storages its nodes save (`saves`), and
    what it saves when run again beyond what was saved before it (`again`: its nodes' storages, its
    inputs aside, and the weight copies its nodes save)."""

    first: int
    last: int
    pins: tuple[int, ...]
    saves: tuple[int, ...]
    again: Bytes


class Savings:
    """What checkpointing any set of `blocks` (node ranges with their inputs, in execution order)
    saves, from a trace recorded without checkpointing (`trace(..., record=True)`); `fixed`: the
    training footprint's lines that checkpointing does not change (parameters, gradients, optimizer
    state, weight copies), for the pieces."""

    def __init__(self, recorded: Trace, blocks: Sequence[tuple[int, int, Sequence[int]]], fixed: Bytes) -> None:
        savers = recorded.savers
        if savers is None:
            raise ValueError("the trace must be recorded: trace(graph, precision, True, record=True)")
        self.savers: Savers = savers
        self.fixed = fixed
        self.input = recorded.input
        self.firsts = [first for first, _, _ in blocks]
        block_of: dict[int, int] = {}
        for k, (first, last, _) in enumerate(blocks):
            for node in range(first, last + 1):
                block_of[node] = k
        self.block_of = block_of
        saves: list[dict[int, None]] = [{} for _ in blocks]
        for storage, nodes in savers.by_storage.items():
            for node in nodes:
                if node in block_of:
                    saves[block_of[node]][storage] = None
        copies = [Bytes() for _ in blocks]
        for events in savers.copies.values():
            for node, size in events:
                if node in block_of:
                    copies[block_of[node]] += size
        self.blocks: list[BlockSaves] = []
        for k, (first, last, inputs) in enumerate(blocks):
            pins = tuple(dict.fromkeys(savers.value_storage[v] for v in inputs))
            pinned = set(pins)
            inner = Bytes()
            for storage in saves[k]:
                if storage not in pinned:
                    inner += savers.sizes[storage]
            self.blocks.append(BlockSaves(first, last, pins, tuple(saves[k]), inner + copies[k]))

    def freed(self) -> list[Bytes]:
        """For each block, the bytes saved at the forward's end that checkpointing it alone frees
        (negative where it keeps an input nothing saved otherwise): the storages only its nodes save,
        its inputs aside, and the weight copies only its nodes save."""
        sizes, block_of = self.savers.sizes, self.block_of
        freed = [Bytes() for _ in self.blocks]
        for storage, nodes in self.savers.by_storage.items():
            ks = {block_of.get(node) for node in nodes}
            if len(ks) == 1:
                (k,) = ks
                if k is not None and storage not in self.blocks[k].pins:
                    freed[k] += sizes[storage]
        for k, block in enumerate(self.blocks):
            for storage in block.pins:
                if storage not in self.savers.by_storage:
                    freed[k] -= sizes[storage]
        for events in self.savers.copies.values():
            ks = {block_of.get(node) for node, _ in events}
            if len(ks) == 1:
                (k,) = ks
                if k is not None:
                    freed[k] += events[0][1]
        return freed

    def prefixes(self) -> "Prefix":
        """No block checkpointed yet: add blocks one by one and read each set's pieces."""
        return Prefix(self)


class Prefix:
    """A set of checkpointed blocks, grown one block at a time (`add`), with the pieces of its
    training footprint (`pieces`) and the largest batch that fits a limit (`largest`)."""

    def __init__(self, savings: Savings) -> None:
        self.s = savings
        savers = savings.savers
        self.chosen = [False] * len(savings.blocks)
        self.next = {storage: 0 for storage in savers.by_storage}  # the first saver not yet ruled out
        self.pin: dict[int, int] = {}  # the first node of the first checkpointed block it is an input of
        self.at: dict[int, int] = {}  # each storage's effective save, NEVER when not saved
        last = max((nodes[-1] for nodes in savers.by_storage.values()), default=0)  # saver nodes are in order
        self.tree = _Fenwick(max(last, max(savings.firsts, default=0)) + 1)  # over the nodes' indices
        self.saved = Bytes()  # every storage saved at the forward's end
        self.inputs_saved = 0  # of the network's input storages
        self.frontier: list[int] = []  # checkpointed blocks no later one outweighs, in order
        for storage, nodes in savers.by_storage.items():
            self.move(storage, nodes[0])

    def add(self, k: int) -> None:
        """Checkpoint block `k` too."""
        if self.chosen[k]:
            return
        self.chosen[k] = True
        block = self.s.blocks[k]
        for storage in block.pins:
            if block.first < self.pin.get(storage, block.first + 1):
                self.pin[storage] = block.first
                self.move(storage, self.effective(storage))
        for storage in block.saves:
            self.move(storage, self.effective(storage))
        self.place(k)

    def effective(self, storage: int) -> int:
        """The storage's first save that still counts: by a node outside the checkpointed blocks,
        or by a checkpointed block keeping it as an input."""
        nodes = self.s.savers.by_storage.get(storage, ())
        i = self.next.get(storage, 0)
        while i < len(nodes) and self._inside(nodes[i]):
            i += 1
        if nodes:
            self.next[storage] = i
        found = [nodes[i]] if i < len(nodes) else []
        if storage in self.pin:
            found.append(self.pin[storage])
        return min(found) if found else NEVER

    def _inside(self, node: int) -> bool:
        k = self.s.block_of.get(node)
        return k is not None and self.chosen[k]

    def move(self, storage: int, at: int) -> None:
        old = self.at.get(storage, NEVER)
        if old == at:
            return
        size = self.s.savers.sizes[storage]
        inputs = self.s.savers.inputs
        if old != NEVER:
            self.tree.add(old, Bytes() - size)
            self.saved -= size
            self.inputs_saved -= storage in inputs
        if at != NEVER:
            self.tree.add(at, size)
            self.saved += size
            self.inputs_saved += storage in inputs
        self.at[storage] = at

    def place(self, k: int) -> None:
        """Keep `k` among the blocks whose run again may be the step's peak, unless a later one
        outweighs it; drop the earlier ones it outweighs."""
        again = self.s.blocks[k].again
        where = bisect_left(self.frontier, k)
        if any(_outweighs(self.s.blocks[j].again, again) for j in self.frontier[where:]):
            return
        kept = [j for j in self.frontier[:where] if not _outweighs(again, self.s.blocks[j].again)]
        self.frontier = kept + [k] + self.frontier[where:]

    def base(self) -> Bytes:
        """The lines every piece shares: the fixed lines and the input batch, unless autograd saves it."""
        return self.s.fixed + (Bytes() if self.inputs_saved else self.s.input)

    def recomputed(self, k: int) -> Bytes:
        """Saved while checkpointed block `k` runs again in backward (`Trace.recomputed`'s figure)."""
        block = self.s.blocks[k]
        return self.tree.upto(block.first) + block.again

    def pieces(self, every: bool = False) -> list[Bytes]:
        """The training footprint's linear pieces (`MemoryModel.pieces`): the forward's end, then each
        checkpointed block run again (`every`), or only those that may be the largest (the frontier)."""
        base = self.base()
        run_again = [k for k, chosen in enumerate(self.chosen) if chosen] if every else self.frontier
        return [base + self.saved] + [base + self.recomputed(k) for k in run_again]

    def largest(self, limit: int) -> int:
        """The largest batch that fits `limit` bytes, 0 when none does (`MemoryModel.largest_batch`)."""
        return fitting_batch(self.pieces(), limit)

    def end_bound(self, limit: int) -> int:
        """The largest batch the forward's end alone allows: no set with these blocks fits more."""
        return fitting_batch([self.base() + self.saved], limit)


def _outweighs(a: Bytes, b: Bytes) -> bool:
    """Whether `a` is at least `b` in both parts: at every batch size."""
    return a.fixed >= b.fixed and a.per_sample >= b.per_sample


class _Fenwick:
    """Sums of `Bytes` over positions 0..size-1, added to and summed up to a position in log time."""

    def __init__(self, size: int) -> None:
        self.fixed = [0] * (size + 1)
        self.per_sample = [0] * (size + 1)

    def add(self, position: int, size: Bytes) -> None:
        i = position + 1
        while i < len(self.fixed):
            self.fixed[i] += size.fixed
            self.per_sample[i] += size.per_sample
            i += i & -i

    def upto(self, position: int) -> Bytes:
        """The sum over positions 0..position."""
        fixed = per_sample = 0
        i = position + 1
        while i > 0:
            fixed += self.fixed[i]
            per_sample += self.per_sample[i]
            i -= i & -i
        return Bytes(fixed, per_sample)


__all__ = ["BlockSaves", "Prefix", "Savings"]
