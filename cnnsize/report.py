"""Result objects of an analysis: plain data that knows nothing of rendering.

`Report.to_dict()` is the public JSON contract (see README): counts and bytes are exact integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Iterator, Optional

from cnnsize.errors import SpecPath, format_path
from cnnsize.kinds import Shape
from cnnsize.receptive import Exact

if TYPE_CHECKING:
    from cnnsize.planner import MemoryReport


def _number(value: Exact) -> int | float:
    if isinstance(value, int):
        return value
    return int(value) if value.denominator == 1 else float(value)


@dataclass(frozen=True)
class ReceptiveField:
    """Per spatial axis (H, W): field size, jump and start, in input pixels."""

    size: tuple[Exact, Exact]
    jump: tuple[Exact, Exact]
    start: tuple[Exact, Exact]

    def to_dict(self) -> dict[str, list[int | float]]:
        """`{"size": [h, w], "jump": [h, w], "start": [h, w]}`; whole numbers as int."""
        return {key: [_number(v) for v in getattr(self, key)] for key in ("size", "jump", "start")}


@dataclass(frozen=True)
class LayerRow:
    """One layer's figures for the whole batch. A composite row sums its `children`, which are its
    sequences' rows followed by the row of its merge operation (`add` or `cat`)."""

    path: SpecPath
    name: Optional[str]
    type: str
    input_shape: Shape
    output_shape: Shape
    params: int
    non_trainable_params: int
    macs: int
    activation_bytes: int
    receptive_field: Optional[ReceptiveField]
    children: tuple["LayerRow", ...] = field(default=())

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
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "params": self.params,
            "non_trainable_params": self.non_trainable_params,
            "macs": self.macs,
            "flops": self.flops,
            "activation_bytes": self.activation_bytes,
            "receptive_field": self.receptive_field.to_dict() if self.receptive_field else None,
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
    command asks for it, is the memory planner's section (`cnnsize.planner.with_memory`)."""

    name: str
    file: Optional[str]
    input_shape: Shape
    output_shape: Shape
    batch_size: int
    dtype: str
    rows: tuple[LayerRow, ...]
    totals: Totals
    memory: Optional["MemoryReport"] = None

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
        With a memory section, each layer carries `saved_bytes` and `memory` holds the breakdowns."""
        memory = self.memory
        layers = []
        for leaf in self.leaves():
            layer = leaf.to_dict()
            if memory is not None:
                layer["saved_bytes"] = memory.saved_at(leaf.path)
            layers.append(layer)
        data = {
            "name": self.name,
            "file": self.file,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "layers": layers,
            "totals": self.totals.to_dict(),
        }
        if memory is not None:
            data["memory"] = memory.to_dict()
        return data
