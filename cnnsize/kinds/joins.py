"""Joins and splits: layers with several inputs (`add`, `mul`, `cat`) or several outputs (`chunk`,
`split`). A join names its inputs in order with `from:`; a split's outputs are `name.0`, `name.1`...

What each saves for backward (measured with `saved_tensors_hooks`, torch 2.13, CPU; the same rules
in PyTorch's `tools/autograd/derivatives.yaml` on every device): `add` and `cat` nothing (their
backward needs only shapes), `mul` each operand that the other's gradient needs (`a * b` keeps `b`
when `a` needs a gradient and `a` when `b` does), `chunk` and `split` nothing (their outputs are views).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional, Sequence, Union

from pydantic import Field, PlainValidator, StrictInt, WithJsonSchema
from pydantic_core import PydanticCustomError

from cnnsize import receptive
from cnnsize.errors import LayerRuleError
from cnnsize.fields import Size
from cnnsize.kinds.base import Join, Shapes, Split, positions, register, sample_axis
from cnnsize.kinds.saving import NOTHING, Saved, Tensor
from cnnsize.receptive import Fields, Unknown
from cnnsize.shapes import Shape, broadcast, shape_text
from cnnsize.values import is_int, show

if TYPE_CHECKING:
    from torch import nn

    from cnnsize.kinds.torchkit import TorchKit


MAX_OUTPUTS = 1024
"""Most outputs one split may give."""


def _sections(value: Any) -> Union[int, list[int]]:
    if is_int(value) and value >= 1:
        return int(value)
    if isinstance(value, list) and value and all(is_int(v) and v >= 1 for v in value):
        return [int(v) for v in value]
    raise PydanticCustomError(
        "sections", "must be a positive integer or a non-empty list of them, got {got}", {"got": show(value)}
    )


Sections = Annotated[
    Union[int, list[int]],
    PlainValidator(_sections),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1},
            ]
        }
    ),
]


def _pieces(size: int, piece: int, field: str) -> list[int]:
    """`size` cut into pieces of `piece`, the last one smaller; refused past `MAX_OUTPUTS` pieces."""
    count = -(-size // piece)
    if count > MAX_OUTPUTS:
        raise LayerRuleError(f"would give {count:,} outputs; a split may give at most {MAX_OUTPUTS:,}", field=field)
    return [min(piece, size - start) for start in range(0, size, piece)]


def _listing(shapes: Shapes) -> str:
    return ", ".join(shape_text(s) for s in shapes)


def _broadcast(shapes: Shapes, what: str) -> Shape:
    out = broadcast(list(shapes))
    if out is None:
        if len({len(s) for s in shapes}) > 1:
            rule = "they must have one rank (a volume and a flat vector do not broadcast)"
        else:
            rule = "each dimension must be equal, or 1 where it differs (broadcast)"
        raise LayerRuleError(f"cannot {what} shapes {_listing(shapes)}: {rule}", field="from")
    return out


def _elementwise_fields(fields: Sequence[Fields], ins: Shapes, out: Shape) -> Fields:
    """Channel c at each position sees what channel c of every input sees there; an input of one
    position (or one channel) along an axis is broadcast, so it sees the same at every position."""
    n = positions(out)
    spread = [receptive.broadcast_spatial(f, positions(shape), n) for f, shape in zip(fields, ins)]
    return receptive.channelwise(spread, out[0], n)


@register
class Add(Join):
    """The sum of its inputs (`a + b + ...`), broadcasting sizes of 1 as PyTorch does."""

    type: Literal["add"] = "add"

    def node_shapes(self, ins: Shapes) -> Shapes:
        return (_broadcast(ins, "add"),)

    def node_fields(self, fields: Sequence[Fields], ins: Shapes, outs: Shapes) -> tuple[Fields, ...]:
        return (_elementwise_fields(fields, ins, outs[0]),)

    def node_workspace(self, ins: Shapes, outs: Shapes, recorded: bool) -> tuple[Tensor, ...]:
        # `((a + b) + c) + ...`: while the last sum runs, the one before it is alive too
        return (Tensor(outs[0]),) if len(ins) > 2 else ()

    def node_grad_views(self, inputs: int) -> tuple[bool, ...]:
        return (True,) * inputs  # AddBackward returns the incoming gradient itself for every input

    def node_module(self, ins: Shapes, tk: "TorchKit") -> "nn.Module":
        return tk.blocks.Add()


@register
class Mul(Join):
    """The element-wise product of two inputs (`a * b`), broadcasting sizes of 1 as PyTorch does:
    squeeze-and-excitation multiplies [C, H, W] by a gate of [C, 1, 1]."""

    type: Literal["mul"] = "mul"
    inputs_range = (2, 2)

    def node_shapes(self, ins: Shapes) -> Shapes:
        return (_broadcast(ins, "multiply"),)

    def node_fields(self, fields: Sequence[Fields], ins: Shapes, outs: Shapes) -> tuple[Fields, ...]:
        return (_elementwise_fields(fields, ins, outs[0]),)

    def node_saved(self, ins: Shapes, outs: Shapes, grads: tuple[bool, ...]) -> Saved:
        # a's gradient is grad * b, b's is grad * a: each operand is kept for the other's gradient
        return Saved(operands=tuple(i for i, other in ((1, 0), (0, 1)) if grads[other]))

    def node_backward_workspace(self, ins: Shapes, outs: Shapes, grads: tuple[bool, ...]) -> tuple[Tensor, ...]:
        # a broadcast operand's gradient is `grad * other` at the output's size, then summed down to
        # its own (`sum_to_size`); the product is alive until the sum is made (measured on the CPU)
        return tuple(Tensor(outs[0]) for shape, needs in zip(ins, grads) if needs and shape != outs[0])

    def node_module(self, ins: Shapes, tk: "TorchKit") -> "nn.Module":
        return tk.blocks.Mul()


@register
class Cat(Join):
    """Its inputs joined along `dim` (PyTorch's numbering: 0 is the batch, 1 the channels or
    features, the default); every other dimension must agree."""

    type: Literal["cat"] = "cat"
    inputs_range = (1, None)
    dim: StrictInt = Field(1, description="The dimension to join along, with the batch as 0 (1: channels).")

    def node_shapes(self, ins: Shapes) -> Shapes:
        ranks = {len(s) for s in ins}
        if len(ranks) > 1:
            raise LayerRuleError(f"cannot join shapes of different ranks: {_listing(ins)}", field="from")
        axis = sample_axis(self.dim, len(ins[0]))
        first = ins[0]
        if any(s[:axis] + s[axis + 1 :] != first[:axis] + first[axis + 1 :] for s in ins):
            raise LayerRuleError(
                f"joined along dim {self.dim}, every other dimension must agree; got {_listing(ins)}", field="from"
            )
        return (first[:axis] + (sum(s[axis] for s in ins),) + first[axis + 1 :],)

    def node_fields(self, fields: Sequence[Fields], ins: Shapes, outs: Shapes) -> tuple[Fields, ...]:
        if sample_axis(self.dim, len(ins[0])) == 0:
            return (receptive.concatenated(fields),)
        whole = receptive.union_of((f.union(positions(s)) for f, s in zip(fields, ins)), positions(outs[0]))
        if not isinstance(whole, Unknown) and all(axis.jump == 0 for axis in whole):
            return (Fields.uniform(whole, outs[0][0]),)
        reason = Unknown(f"cat along dim {self.dim} puts positions of different inputs side by side")
        return (Fields.uniform(reason, outs[0][0]),)

    def autocast_op(self) -> str:
        return "cat"

    def node_grad_views(self, inputs: int) -> tuple[bool, ...]:
        return (True,) * inputs  # CatBackward narrows the incoming gradient: views of its storage

    def node_module(self, ins: Shapes, tk: "TorchKit") -> "nn.Module":
        return tk.blocks.Cat(self.dim)


class _Split(Split):
    dim: StrictInt = Field(1, description="The dimension to split, with the batch as 0 (1: channels).")

    def sizes(self, size: int) -> list[int]:
        """The sizes of the outputs along `dim`, for an input of `size` there."""
        raise NotImplementedError

    def node_shapes(self, ins: Shapes) -> Shapes:
        inp = ins[0]
        axis = sample_axis(self.dim, len(inp))
        sizes = self.sizes(inp[axis])
        if self.names is not None and len(self.names) != len(sizes):
            raise LayerRuleError(
                f"`names` gives {len(self.names)} names, but the layer has {len(sizes)} outputs here", field="names"
            )
        return tuple(inp[:axis] + (size,) + inp[axis + 1 :] for size in sizes)

    def node_fields(self, fields: Sequence[Fields], ins: Shapes, outs: Shapes) -> tuple[Fields, ...]:
        inp = ins[0]
        axis = sample_axis(self.dim, len(inp))
        source = fields[0]
        out, at = [], 0
        for shape in outs:
            size = shape[axis]
            if axis == 0:
                out.append(source.slice(at, at + size))
            else:  # positions from `at` on: shift the first position's field by `at` jumps
                offset = at

                def step(field: receptive.Spatial, a: int = axis - 1, k: int = offset) -> receptive.Field:
                    moved = list(field)
                    moved[a] = receptive.shift(field[a], -k)
                    return (moved[0], moved[1])

                out.append(source.map(step))
            at += size
        return tuple(out)

    def node_saved(self, ins: Shapes, outs: Shapes, grads: tuple[bool, ...]) -> Saved:
        return NOTHING  # views; the backward stitches the gradients together by size


@register
class Chunk(_Split):
    """`torch.chunk`: `chunks` pieces of `ceil(size / chunks)` along `dim`, the last one smaller when
    the size does not divide (so there may be fewer than `chunks` pieces, as in PyTorch)."""

    type: Literal["chunk"] = "chunk"
    chunks: Size

    def sizes(self, size: int) -> list[int]:
        return _pieces(size, -(-size // self.chunks), "chunks")

    def node_module(self, ins: Shapes, tk: "TorchKit") -> "nn.Module":
        return tk.blocks.Chunk(self.chunks, self.dim)


@register
class SplitSizes(_Split):
    """`torch.split`: pieces of `split_size_or_sections` along `dim` (the last one smaller when the
    size does not divide), or of each listed size (which must add up to the size)."""

    type: Literal["split"] = "split"
    split_size_or_sections: Sections

    def sizes(self, size: int) -> list[int]:
        sections = self.split_size_or_sections
        if isinstance(sections, list):
            if sum(sections) != size:
                raise LayerRuleError(
                    f"the sections add up to {' + '.join(map(str, sections))} = {sum(sections)}, "
                    f"but the input has {size} along dim {self.dim}",
                    field="split_size_or_sections",
                )
            if len(sections) > MAX_OUTPUTS:
                raise LayerRuleError(
                    f"a split may give at most {MAX_OUTPUTS:,} outputs", field="split_size_or_sections"
                )
            return list(sections)
        return _pieces(size, sections, "split_size_or_sections")

    def node_module(self, ins: Shapes, tk: "TorchKit") -> "nn.Module":
        sections = self.split_size_or_sections
        return tk.blocks.Split(list(sections) if isinstance(sections, list) else sections, self.dim)


def join_of(kind: str) -> Optional[Join]:
    """The join node a composite ends with (`add`, `cat` along channels), or None for `sequential`."""
    if kind == "add":
        return Add.model_validate({"type": "add"})
    if kind == "cat":
        return Cat.model_validate({"type": "cat"})
    return None
