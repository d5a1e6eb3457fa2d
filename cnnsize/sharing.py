"""Sparse connectivity and parameter sharing, as CS231n's lecture on convolutional networks teaches
them: each convolution set against the layers it stands for.

For every `conv2d` and `conv_transpose2d` of a resolved graph, between the same input and output
volumes:

- **params**: the convolution's own (its weight and bias tensors, `weight_shapes`);
- **unshared**: a locally connected layer, as sparse but without sharing: one weight per
  connection of every output unit, and one bias per output unit where the convolution has a bias
  (the lecture's AlexNet count: 55*55*96 = 290,400 units of 11*11*3 weights and 1 bias,
  105,705,600 parameters);
- **dense**: a fully connected layer: every input element to every output element, plus one bias
  per output element where the convolution has a bias (`in * out + out`);
- **connections per unit**: the inputs one output unit reads (its window: `C_in/groups * kH * kW`
  for `conv2d`, padded positions included, as the lecture counts 5*5*3 = 75 weights a neuron; for
  `conv_transpose2d` the most any output unit reads, since the stride scatters each input over the
  output so that border units read fewer); the bias is no connection and is not counted;
- **all inputs**: the input volume's elements, what a unit of a dense layer reads.

Plain data, computed from `Report.graph` before anything renders; exact integers throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING, Any, Optional

from cnnsize.errors import Problem, SpecPath, format_path
from cnnsize.shapes import Shape

if TYPE_CHECKING:
    from cnnsize.graph import Node
    from cnnsize.report import Report

CONVOLUTIONS = ("conv2d", "conv_transpose2d")


@dataclass(frozen=True)
class SharingRow:
    """One convolution against a locally connected and a fully connected layer (see the module)."""

    path: SpecPath
    name: Optional[str]
    type: str
    input_shape: Shape
    output_shape: Shape
    bias: bool
    params: int
    per_unit: int  # inputs an output unit reads (the most any reads, for conv_transpose2d)
    connections: int  # inputs read, summed over every output unit (each a weight, unshared)

    @property
    def inputs(self) -> int:
        """The input volume's elements: what one unit of a dense layer reads."""
        return prod(self.input_shape)

    @property
    def units(self) -> int:
        """The output volume's elements."""
        return prod(self.output_shape)

    @property
    def unshared(self) -> int:
        """A locally connected layer's parameters: a weight per connection, a bias per output unit."""
        return self.connections + (self.units if self.bias else 0)

    @property
    def dense(self) -> int:
        """A fully connected layer's parameters: `inputs * units`, plus `units` biases with a bias."""
        return self.inputs * self.units + (self.units if self.bias else 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": format_path(self.path),
            "name": self.name,
            "type": self.type,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "bias": self.bias,
            "params": self.params,
            "unshared_params": self.unshared,
            "dense_params": self.dense,
            "connections_per_unit": self.per_unit,
            "inputs": self.inputs,
            "output_units": self.units,
            "connections": self.connections,
            "dense_over_params": ratio(self.dense, self.params),
            "connected_share": ratio(self.per_unit, self.inputs),
        }


@dataclass(frozen=True)
class Sharing:
    """The sharing view of one spec: a row per convolution in execution order, and the sums."""

    name: str
    file: Optional[str]
    inputs: tuple[tuple[str, Shape], ...]
    batch_size: int
    dtype: str
    rows: tuple[SharingRow, ...]
    warnings: tuple[Problem, ...] = ()  # the spec's, as a report's (printed with the view)

    @property
    def params(self) -> int:
        return sum(row.params for row in self.rows)

    @property
    def unshared(self) -> int:
        return sum(row.unshared for row in self.rows)

    @property
    def dense(self) -> int:
        return sum(row.dense for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        from cnnsize.provenance import made_at

        return {
            "name": self.name,
            "file": self.file,
            "view": "sharing",
            "convolutions": [row.to_dict() for row in self.rows],
            "totals": {
                "params": self.params,
                "unshared_params": self.unshared,
                "dense_params": self.dense,
                "dense_over_params": ratio(self.dense, self.params),
            },
            "provenance": made_at(self.inputs, self.batch_size, self.dtype).to_dict(),
        }


def ratio(part: int, whole: int) -> Optional[float]:
    """`part / whole` as a float (JSON's number); None when `whole` is 0."""
    return part / whole if whole else None


def sharing(report: "Report") -> Sharing:
    """The sharing view of `report` (from its graph, which `analyze` keeps)."""
    graph = report.graph
    if graph is None:
        raise ValueError("the report has no graph: make it with cnnsize.analyze")
    rows = tuple(_row(node) for node in graph.nodes if node.layer.kind in CONVOLUTIONS)
    return Sharing(report.name, report.file, report.inputs, report.batch_size, report.dtype, rows, report.warnings)


def _row(node: "Node") -> SharingRow:
    layer = node.layer
    inp, out = node.in_shapes[0], node.out_shapes[0]
    weights = layer.weight_shapes(inp)
    # a convolution called again (`shares:`) has its weights at its first call, counted there once
    params = sum(prod(shape) for shape in weights.values()) if node.shares is None else 0
    units = prod(out)
    if layer.kind == "conv2d":
        # weight [C_out, C_in/groups, kH, kW]: each output unit reads C_in/groups * kH * kW inputs
        per_unit = prod(weights["weight"][1:])
        connections = units * per_unit
    else:
        per_unit, connections = _transposed(layer, inp, out)
    return SharingRow(
        path=node.path,
        name=layer.name,
        type=layer.kind,
        input_shape=inp,
        output_shape=out,
        bias="bias" in weights,
        params=params,
        per_unit=per_unit,
        connections=connections,
    )


def _transposed(layer: Any, inp: Shape, out: Shape) -> tuple[int, int]:
    """A transposed convolution's (most inputs any output unit reads, connections in all). Along
    each axis, input position i's tap j lands on output position `i*s + j*d - padding` (positions
    outside the output are cropped); a unit reads C_in/groups channels at each tap landing on it."""
    channels = inp[0] // layer.groups
    most, total = channels, out[0] * channels
    for axis in (0, 1):
        axis_most, axis_total = _landings(
            inp[1 + axis],
            out[1 + axis],
            layer.kernel_size[axis],
            layer.stride[axis],
            layer.dilation[axis],
            layer.padding[axis],
        )
        most, total = most * axis_most, total * axis_total
    return most, total


def _landings(size: int, out: int, k: int, s: int, d: int, p: int) -> tuple[int, int]:
    """Along one axis of a transposed convolution: the most taps landing on one output position,
    and the taps landing inside the output in all. Tap j of the inputs 0..size-1 lands on the
    positions `j*d - p + i*s`: an arithmetic progression, kept where it falls in 0..out-1. Taps
    land on one position only when their progressions share its residue modulo s, so the most is
    the deepest overlap of the progressions of one residue (a sweep: O(k log k), whatever the
    sizes)."""
    total = 0
    by_residue: dict[int, list[tuple[int, int]]] = {}
    for j in range(k):
        first = j * d - p  # where input 0's tap j lands
        low, high = max(0, first), min(out - 1, first + (size - 1) * s)
        r = first % s
        # the positions of the progression within [low, high], as indices q of r + q*s
        q_low, q_high = -((r - low) // s), (high - r) // s
        if q_low <= q_high:
            total += q_high - q_low + 1
            by_residue.setdefault(r, []).append((q_low, q_high))
    most = 0
    for spans in by_residue.values():
        events = sorted([(lo, 1) for lo, _ in spans] + [(hi + 1, -1) for _, hi in spans])
        depth = 0
        for _, step in events:  # at one index, ends (-1) sort before starts: a span ends before the next
            depth += step
            most = max(most, depth)
    return most, total


__all__ = ["CONVOLUTIONS", "Sharing", "SharingRow", "ratio", "sharing"]
