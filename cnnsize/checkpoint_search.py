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
from typing import Optional, Sequence

from cnnsize.memory import Bytes, Savers, Trace, total
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
    training footprint (`pieces`) and the largest batch that fits a limit (`largest`). The blocks run
    again that may be the peak are the frontier, looked at one by one while it holds at most `scan`
    blocks; past that (blocks whose run again shrinks along the network faster than their inputs),
    a segment tree over the blocks keeps the run-again figures no other outweighs (`_Peaks`)."""

    scan = 32

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
        self.peaks: Optional[_Peaks] = None  # in place of the frontier once it grows past `scan`
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
        if self.peaks is not None:
            self.peaks.put(k, self.recomputed(k))
        else:
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
        if self.peaks is not None:
            self.peaks.moved(old, at, size)

    def place(self, k: int) -> None:
        """Keep `k` among the blocks whose run again may be the step's peak, unless a later one
        outweighs it; drop the earlier ones it outweighs. A later block `j` run again holds all that
        an earlier `i` run again holds before it, plus its inputs made after `i` began (kept, as it is
        checkpointed, from then on): so it outweighs `i` when its `again` and those inputs are at
        least `i`'s `again`, whatever blocks are added later."""
        where = bisect_left(self.frontier, k)
        if any(self._outweighs(j, k) for j in self.frontier[where:]):
            return
        kept = [j for j in self.frontier[:where] if not self._outweighs(k, j)]
        self.frontier = kept + [k] + self.frontier[where:]

    def _outweighs(self, later: int, earlier: int) -> bool:
        """Whether block `later` run again holds at least what `earlier` does, at every batch size."""
        savers, block = self.s.savers, self.s.blocks[later]
        start = self.s.blocks[earlier].first
        made_since = [s for s in block.pins if savers.born and savers.born[s] > start]
        held = block.again + (total(savers.sizes[s] for s in made_since) if made_since else Bytes())
        again = self.s.blocks[earlier].again
        return held.fixed >= again.fixed and held.per_sample >= again.per_sample

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
        if every:
            run_again = [self.recomputed(k) for k, chosen in enumerate(self.chosen) if chosen]
        else:
            if self.peaks is None and len(self.frontier) > self.scan:
                chosen = {k: self.recomputed(k) for k, c in enumerate(self.chosen) if c}
                self.peaks, self.frontier = _Peaks(self.s.firsts, chosen), []
            if self.peaks is not None:
                run_again = self.peaks.top()
            else:
                run_again = [self.recomputed(k) for k in self.frontier]
        return [base + self.saved] + [base + r for r in run_again]

    def largest(self, limit: int) -> int:
        """The largest batch that fits `limit` bytes, 0 when none does (`MemoryModel.largest_batch`)."""
        return fitting_batch(self.pieces(), limit)

    def end_bound(self, limit: int) -> int:
        """The largest batch the forward's end alone allows: no set with these blocks fits more."""
        return fitting_batch([self.base() + self.saved], limit)


class _Peaks:
    """The checkpointed blocks' run-again figures (`Prefix.recomputed`), over the blocks in order:
    a segment tree whose every node keeps the figures of its blocks that no other of them outweighs
    (at least as much fixed and per sample), with a pending addition for its children. A storage's
    effective save moving from node `a` to node `b` changes the figure of every block starting in
    between by its size: one range addition, logarithmic but for the merges of the kept figures."""

    def __init__(self, firsts: Sequence[int], values: dict[int, Bytes]) -> None:
        self.firsts, self.n = list(firsts), len(firsts)
        self.kept: list[list[tuple[int, int]]] = [[] for _ in range(4 * max(self.n, 1))]
        self.pending: list[tuple[int, int]] = [(0, 0)] * (4 * max(self.n, 1))
        for k, value in values.items():
            self.put(k, value)

    def top(self) -> list[Bytes]:
        """The figures no other outweighs: the step's peak is one of them at every batch size."""
        return [Bytes(f, s) for f, s in self.kept[1]]

    def moved(self, old: int, new: int, size: Bytes) -> None:
        """A storage's effective save moved from node `old` to `new` (NEVER: not saved)."""
        far = 1 + (self.firsts[-1] if self.firsts else 0)
        a, b = (far if old == NEVER else old), (far if new == NEVER else new)
        low, high = min(a, b), max(a, b)
        sign = -1 if b > a else 1
        left, right = bisect_left(self.firsts, low), bisect_left(self.firsts, high)
        if left < right:
            self._add(1, 0, self.n, left, right, (sign * size.fixed, sign * size.per_sample))

    def put(self, k: int, value: Bytes) -> None:
        """Block `k` is checkpointed: its figure, exact as it is now."""
        self._put(1, 0, self.n, k, (value.fixed, value.per_sample))

    def _add(self, node: int, lo: int, hi: int, left: int, right: int, d: tuple[int, int]) -> None:
        if right <= lo or hi <= left:
            return
        if left <= lo and hi <= right:
            self._shift(node, d)
            return
        self._push(node)
        mid = (lo + hi) // 2
        self._add(2 * node, lo, mid, left, right, d)
        self._add(2 * node + 1, mid, hi, left, right, d)
        self.kept[node] = _unoutweighed(self.kept[2 * node] + self.kept[2 * node + 1])

    def _put(self, node: int, lo: int, hi: int, k: int, value: tuple[int, int]) -> None:
        if hi - lo == 1:
            self.kept[node] = [value]
            return
        self._push(node)
        mid = (lo + hi) // 2
        if k < mid:
            self._put(2 * node, lo, mid, k, value)
        else:
            self._put(2 * node + 1, mid, hi, k, value)
        self.kept[node] = _unoutweighed(self.kept[2 * node] + self.kept[2 * node + 1])

    def _shift(self, node: int, d: tuple[int, int]) -> None:
        self.kept[node] = [(f + d[0], s + d[1]) for f, s in self.kept[node]]
        p = self.pending[node]
        self.pending[node] = (p[0] + d[0], p[1] + d[1])

    def _push(self, node: int) -> None:
        d = self.pending[node]
        if d != (0, 0):
            self._shift(2 * node, d)
            self._shift(2 * node + 1, d)
            self.pending[node] = (0, 0)


def _unoutweighed(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The (fixed, per sample) pairs no other is at least in both parts, each once."""
    kept: list[tuple[int, int]] = []
    for f, s in sorted(set(pairs), reverse=True):
        if not kept or s > kept[-1][1]:
            kept.append((f, s))
    return kept


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
