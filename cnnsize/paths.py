"""A residual network as an ensemble of paths (Veit, Wilber and Belongie, "Residual Networks Behave
Like Ensembles of Relatively Shallow Networks", NeurIPS 2016): every route the data can take from
an input to an output, and how long the routes are.

Unrolled, a network of n residual blocks with identity shortcuts has 2^n paths: each block is
passed through its body or skipped, so the number of bodies a path passes through follows the
binomial distribution B(n, 1/2). This module counts paths in any resolved graph, exactly, by
dynamic programming over its nodes in execution order: each value holds the distribution of the
lengths of the paths that reach it (length -> number of paths), an input starting with one path of
length 0. A node with several inputs (`add`, `cat`, `mul`) gives the paths of all of them (the
distributions summed, an input read twice counting twice); a split gives its input's paths to each
of its outputs; every node passes its input's paths on, lengthened by what it counts. Lengths come
in two measures:

- **layers**: the weighted layers on the path (`conv2d`, `conv_transpose2d`, `linear`): a
  projection shortcut (a 1x1 convolution) counts 1, an identity shortcut 0, and the longest path is
  the network's depth as papers count it (ResNet-50: 50);
- **blocks**: the bodies of `residual` composites the path passes through, Veit et al.'s measure
  (a block entered through its shortcut counts 0, projection or not); given where the network has
  residual composites. An `add` written as a layer with `from:` is a join, not a block.

A network of several inputs counts the paths from every input together; one of several outputs
gets a distribution of its own. The work is the sum over nodes of the distributions' sizes (at
most the depth): ResNet-152, about 500 nodes, in milliseconds; every count is an exact integer.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Callable, Optional

from cnnsize.errors import Problem
from cnnsize.shapes import Shape

if TYPE_CHECKING:
    from cnnsize.graph import Graph, Group, Member, Node
    from cnnsize.report import Report

WEIGHTED = ("conv2d", "conv_transpose2d", "linear")
MOST = Fraction(95, 100)
"""The share of paths the "most paths" range holds."""


@dataclass(frozen=True)
class Distribution:
    """How many paths have each length: (length, paths) pairs, shortest first, none with 0 paths."""

    counts: tuple[tuple[int, int], ...]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.counts)

    @property
    def shortest(self) -> int:
        return self.counts[0][0]

    @property
    def longest(self) -> int:
        return self.counts[-1][0]

    @property
    def mean(self) -> Fraction:
        """The expected length of a path drawn uniformly from all paths, exactly."""
        return Fraction(sum(length * n for length, n in self.counts), self.total)

    def most(self, share: Fraction = MOST) -> tuple[int, int, int]:
        """(shortest, longest, paths): the narrowest range of lengths that holds at least `share`
        of the paths; of ranges as narrow, the one holding more, then the shorter."""
        total = self.total
        best: Optional[tuple[int, int, int]] = None  # (width, -paths, low)
        held, j = 0, 0
        for i, (low, _) in enumerate(self.counts):
            while j < len(self.counts) and held < share * total:
                held += self.counts[j][1]
                j += 1
            if held < share * total:
                break
            candidate = (self.counts[j - 1][0] - low, -held, low)
            best = candidate if best is None or candidate < best else best
            held -= self.counts[i][1]
        assert best is not None  # the whole range holds every path
        width, paths, low = best
        return low, low + width, -paths

    def to_dict(self) -> dict[str, Any]:
        low, high, held = self.most()
        return {
            "paths": self.total,
            "shortest": self.shortest,
            "longest": self.longest,
            "mean": float(self.mean),
            "mean_exact": [self.mean.numerator, self.mean.denominator],
            "most": {"share": float(MOST), "shortest": low, "longest": high, "paths": held},
            "lengths": [{"length": length, "paths": n} for length, n in self.counts],
        }


@dataclass(frozen=True)
class OutputPaths:
    """The paths from the network's inputs to one of its outputs, in both measures."""

    output: str
    layers: Distribution
    blocks: Optional[Distribution]  # None where the network has no residual composite

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "layers": self.layers.to_dict(),
            "blocks": self.blocks.to_dict() if self.blocks is not None else None,
        }


@dataclass(frozen=True)
class Paths:
    """The paths view of one spec: its residual blocks and joins, and each output's paths."""

    name: str
    file: Optional[str]
    inputs: tuple[tuple[str, Shape], ...]
    batch_size: int
    dtype: str
    blocks: int  # residual composites
    projections: int  # of them, those whose shortcut has layers
    joins: int  # nodes with several inputs
    outputs: tuple[OutputPaths, ...]
    warnings: tuple[Problem, ...] = ()  # the spec's, as a report's (printed with the view)

    @property
    def identities(self) -> int:
        return self.blocks - self.projections

    def to_dict(self) -> dict[str, Any]:
        from cnnsize.provenance import made_at

        return {
            "name": self.name,
            "file": self.file,
            "view": "paths",
            "residual_blocks": self.blocks,
            "identity_shortcuts": self.identities,
            "projection_shortcuts": self.projections,
            "joins": self.joins,
            "inputs": len(self.inputs),
            "outputs": [output.to_dict() for output in self.outputs],
            "provenance": made_at(self.inputs, self.batch_size, self.dtype).to_dict(),
        }


def paths(report: "Report") -> Paths:
    """The paths view of `report` (from its graph, which `analyze` keeps)."""
    graph = report.graph
    if graph is None:
        raise ValueError("the report has no graph: make it with cnnsize.analyze")
    residuals = _residuals(graph)
    body_edges = {(join, 0) for join, _ in residuals}  # a residual's add reads its body first
    by_layers = count(graph, lambda node: 1 if node.layer.kind in WEIGHTED else 0)
    by_blocks = count(graph, edge=lambda index, j: 1 if (index, j) in body_edges else 0) if residuals else None
    outputs = tuple(
        OutputPaths(name, by_layers[i], by_blocks[i] if by_blocks is not None else None)
        for i, (name, _) in enumerate(graph.outputs)
    )
    projections = sum(1 for join, group in residuals if graph.nodes[join].inputs[1] != group.input)
    joins = sum(1 for node in graph.nodes if len(node.inputs) > 1)
    return Paths(
        report.name,
        report.file,
        report.inputs,
        report.batch_size,
        report.dtype,
        len(residuals),
        projections,
        joins,
        outputs,
        report.warnings,
    )


def _residuals(graph: "Graph") -> list[tuple[int, "Group"]]:
    """(index of its `add` node, group) for every `residual` composite, in execution order."""
    from cnnsize.graph import Group

    found: list[tuple[int, Group]] = []
    stack: list[Member] = list(reversed(graph.tree))
    while stack:
        member = stack.pop()
        if isinstance(member, Group):
            if member.layer.kind == "residual":
                join = member.members[-1]
                assert isinstance(join, int) and graph.nodes[join].path == member.path + ("add",)
                found.append((join, member))
            stack.extend(reversed(member.members))
    return sorted(found, key=lambda pair: pair[0])


class _Lengths:
    """A distribution while it is counted: `counts[i]` paths of length `offset + i`. Never changed
    once made, so that a node passing its input on shares it (lengthening moves the offset only)."""

    __slots__ = ("counts", "offset")

    def __init__(self, offset: int, counts: list[int]):
        self.offset = offset
        self.counts = counts

    def longer(self, by: int) -> "_Lengths":
        return self if by == 0 else _Lengths(self.offset + by, self.counts)

    @staticmethod
    def union(parts: list["_Lengths"]) -> "_Lengths":
        if len(parts) == 1:
            return parts[0]
        low = min(p.offset for p in parts)
        high = max(p.offset + len(p.counts) for p in parts)
        counts = [0] * (high - low)
        for part in parts:
            start = part.offset - low
            for i, n in enumerate(part.counts):
                counts[start + i] += n
        return _Lengths(low, counts)

    def frozen(self) -> Distribution:
        return Distribution(tuple((self.offset + i, n) for i, n in enumerate(self.counts) if n))


def count(
    graph: "Graph",
    node: Callable[["Node"], int] = lambda node: 0,
    edge: Callable[[int, int], int] = lambda index, j: 0,
) -> list[Distribution]:
    """The distribution of path lengths at each output of `graph`, in `graph.outputs`' order: a
    path's length is the sum of `node(n)` over the nodes on it and of `edge(index, j)` over the
    edges it takes (into node `index` through its input `j`)."""
    held: dict[int, _Lengths] = {v: _Lengths(0, [1]) for _, v in graph.inputs}
    frees = graph.frees()
    for index, n in enumerate(graph.nodes):
        parts = [held[v].longer(edge(index, j)) for j, v in enumerate(n.inputs)]
        made = _Lengths.union(parts).longer(node(n))
        for v in n.outputs:
            held[v] = made
        for v in frees[index]:
            held.pop(v, None)
    return [held[v].frozen() for _, v in graph.outputs]


__all__ = ["MOST", "WEIGHTED", "Distribution", "OutputPaths", "Paths", "count", "paths"]
