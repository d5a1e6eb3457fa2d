"""Result objects of an analysis: plain data that knows nothing of rendering.

`Report.to_dict()` is the public JSON contract (see README): counts and bytes are exact integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Iterator, Optional, Union

from cnnsize.errors import Problem, SpecPath, format_path
from cnnsize.shapes import Shape

if TYPE_CHECKING:
    from cnnsize.conventions import Counted
    from cnnsize.graph import Graph
    from cnnsize.memory_report import MemoryReport

Exact = Union[int, Fraction]


def _number(value: Exact) -> int | float:
    if isinstance(value, int):
        return value
    return int(value) if value.denominator == 1 else float(value)


@dataclass(frozen=True)
class ReceptiveField:
    """Per spatial axis (H, W): field size, jump and start (the centre of the first output's field),
    in input pixels; a jump of 0 means every position sees the same pixels."""

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[Exact, Exact]

    def to_dict(self) -> dict[str, list[int | float]]:
        """`{"size": [h, w], "jump": [h, w], "start": [h, w]}`; whole numbers as int."""
        # spelled out rather than a loop over the keys with getattr: it runs once a layer
        return {
            "size": [_number(v) for v in self.size],
            "jump": [_number(v) for v in self.jump],
            "start": [_number(v) for v in self.start],
        }


@dataclass(frozen=True)
class LayerRow:
    """One layer's figures for the whole batch. A composite row sums its `children`, which are its
    sequences' rows followed by the row of its join (`add` or `cat`).

    Most layers read one input and give one output (`input_shape`, `output_shape`); a join reads
    several (`input_shapes`, in `from:`'s order, from the values named `inputs`) and a split gives
    several. `receptive_field` is None for a network without a volume input, or, with
    `receptive_field_unknown` saying why, where no (size, jump, start) describes the field.
    `shares` names the layer whose weights this one uses (the same module called again): its
    parameters are counted there, once, and are 0 here; its MACs are its own call's."""

    path: SpecPath
    name: Optional[str]
    type: str
    input_shapes: tuple[Shape, ...]
    output_shapes: tuple[Shape, ...]
    params: int
    non_trainable_params: int
    macs: int
    activation_bytes: int
    receptive_field: Optional[ReceptiveField]
    children: tuple["LayerRow", ...] = field(default=())
    receptive_field_unknown: Optional[str] = None
    inputs: tuple[str, ...] = ()
    shares: Optional[str] = None

    @property
    def input_shape(self) -> Shape:
        """The (first) input's shape."""
        return self.input_shapes[0]

    @property
    def output_shape(self) -> Shape:
        """The (first) output's shape."""
        return self.output_shapes[0]

    @property
    def flops(self) -> int:
        """FLOPs are 2 x MACs (the convention of PyTorch's FlopCounterMode)."""
        return 2 * self.macs

    def leaves(self) -> Iterator["LayerRow"]:
        """This row if it is a leaf, else the leaves below it in execution order."""
        if not self.children:
            yield self
        for child in self.children:
            yield from child.leaves()

    def walk(self, depth: int = 0) -> Iterator[tuple[int, "LayerRow"]]:
        """(nesting depth, row) for this row, then every row below it, depth first."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)

    def truncated(self, depth: int) -> "LayerRow":
        """This row with `depth` levels of rows in all (1: itself alone, its figures summing all below)."""
        children = () if depth <= 1 else tuple(child.truncated(depth - 1) for child in self.children)
        return replace(self, children=children)

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data (without children: `Report.to_dict` lists leaves)."""
        return {
            "path": format_path(self.path),
            "name": self.name,
            "type": self.type,
            "from": list(self.inputs),
            "input_shape": list(self.input_shape) if len(self.input_shapes) == 1 else None,
            "output_shape": list(self.output_shape) if len(self.output_shapes) == 1 else None,
            "input_shapes": [list(s) for s in self.input_shapes],
            "output_shapes": [list(s) for s in self.output_shapes],
            "params": self.params,
            "non_trainable_params": self.non_trainable_params,
            "macs": self.macs,
            "flops": self.flops,
            "activation_bytes": self.activation_bytes,
            "receptive_field": self.receptive_field.to_dict() if self.receptive_field else None,
            "receptive_field_unknown": self.receptive_field_unknown,
            "shares": self.shares,
        }


@dataclass(frozen=True)
class Totals:
    """Whole-network figures: trainable and non-trainable parameters, MACs and activation bytes for
    the batch, and the bytes of the trainable parameters."""

    params: int
    non_trainable_params: int
    macs: int
    activation_bytes: int
    param_bytes: int

    @property
    def flops(self) -> int:
        """FLOPs are 2 x MACs."""
        return 2 * self.macs

    def to_dict(self) -> dict[str, int]:
        """Every total as an exact integer (counts, and bytes)."""
        return {
            "params": self.params,
            "non_trainable_params": self.non_trainable_params,
            "macs": self.macs,
            "flops": self.flops,
            "activation_bytes": self.activation_bytes,
            "param_bytes": self.param_bytes,
        }


@dataclass(frozen=True)
class Report:
    """Everything the engine computed for one spec at one batch size and dtype; `memory`, when a
    command asks for it, is the memory planner's section (`cnnsize.planner.with_memory`).

    `inputs` and `outputs` are (name, shape) pairs; `input_shape` and `output_shape` the shape of the
    one input and the one output (None where there are several). `graph` is the resolved spec the
    figures were computed from; `warnings`, what looks like a mistake in it; `named_inputs`, whether a
    layer says `from:` (a graph, not a chain), so that tables show what each layer reads."""

    name: str
    file: Optional[str]
    inputs: tuple[tuple[str, Shape], ...]
    outputs: tuple[tuple[str, Shape], ...]
    batch_size: int
    dtype: str
    rows: tuple[LayerRow, ...]
    totals: Totals
    memory: Optional["MemoryReport"] = None
    counted: Optional["Counted"] = None  # another tool's figures (`--convention`), from cnnsize.conventions
    warnings: tuple[Problem, ...] = ()
    named_inputs: bool = False  # some layer names its inputs with `from:`: tables show where each reads
    graph: Optional["Graph"] = field(default=None, repr=False, compare=False)

    @property
    def input_shape(self) -> Optional[Shape]:
        """The shape of the network's one input; None when it has several (see `inputs`)."""
        return self.inputs[0][1] if len(self.inputs) == 1 else None

    @property
    def output_shape(self) -> Optional[Shape]:
        """The shape of the network's one output; None when it has several (see `outputs`)."""
        return self.outputs[0][1] if len(self.outputs) == 1 else None

    def leaves(self) -> Iterator[LayerRow]:
        """Every leaf layer (and merge operation) in execution order."""
        for row in self.rows:
            yield from row.leaves()

    def walk(self) -> Iterator[tuple[int, LayerRow]]:
        """(nesting depth, row) for every row, parents before their children."""
        for row in self.rows:
            yield from row.walk()

    def truncated(self, depth: Optional[int]) -> "Report":
        """The report with rows `depth` levels deep at most, as torchinfo's `depth`: a row at the
        last level sums the rows below it and stands as a leaf. `None` keeps every row."""
        if depth is None:
            return self
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        return replace(self, rows=tuple(row.truncated(depth) for row in self.rows))

    def to_dict(self) -> dict[str, Any]:
        """The public JSON contract: the spec's name and file, shapes, batch size, dtype, every leaf
        layer in execution order (`layers`) and the `totals`; counts and bytes are exact integers.
        With a memory section, each layer carries `saved_bytes` and `memory` holds the breakdowns;
        counted by another tool's convention (`cnnsize.conventions`), each layer and the totals carry
        `counted`. `provenance` says what the figures were counted at (`cnnsize.provenance`)."""
        from cnnsize.provenance import stamp

        memory, counted = self.memory, self.counted
        layers = []
        for leaf in self.leaves():
            layer = leaf.to_dict()
            if memory is not None:
                layer["saved_bytes"] = memory.saved_at(leaf.path)
            if counted is not None:
                layer["counted"] = counted.of(leaf)
            layers.append(layer)
        totals: dict[str, Any] = self.totals.to_dict()
        if counted is not None:
            totals["counted"] = counted.total
        data = {
            "name": self.name,
            "file": self.file,
            "input_shape": list(self.input_shape) if self.input_shape is not None else None,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "inputs": [{"name": name, "shape": list(shape)} for name, shape in self.inputs],
            "outputs": [{"name": name, "shape": list(shape)} for name, shape in self.outputs],
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "layers": layers,
            "totals": totals,
            "warnings": [str(problem) for problem in self.warnings],
            "provenance": stamp(self).to_dict(),
        }
        if memory is not None:
            data["memory"] = memory.to_dict()
        return data
