"""Layers whose output is a view of their input: a centre crop, and reshaping (`reshape`,
`unflatten`). They save nothing for backward (measured with `saved_tensors_hooks`, torch 2.13,
CPU; the same on CUDA) and make no new tensor.

cnnsize's shapes are `[features]` or `[C, H, W]`, so a reshape must give one of those.

A view of a view is not always possible: PyTorch's `reshape` (and `flatten`) copies an input whose
strides do not allow it, such as a `center_crop`'s slice or a `layernorm2d`'s channels-last
output (when more than one channel and position are merged); the memory model counts a view.
`unflatten` splits one axis, which is a view of any input.
"""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING, Annotated, Any, Literal, Sequence

from pydantic import Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from cnnsize import receptive
from cnnsize.errors import LayerRuleError
from cnnsize.fields import SizePair
from cnnsize.kinds.base import LayerKind, Shapes, register, sample_axis, volume
from cnnsize.kinds.saving import NOTHING, Saved
from cnnsize.receptive import Field as RField
from cnnsize.receptive import Fields, Spatial
from cnnsize.shapes import Shape, shape_text
from cnnsize.values import is_int, show

if TYPE_CHECKING:
    from torch import nn

    from cnnsize.kinds.torchkit import TorchKit

SHAPES = "[features] or [C, H, W]"


def _sizes(value: Any) -> tuple[int, ...]:
    """A non-empty list of positive integers, at most one of them -1 (to infer)."""
    if (
        isinstance(value, (list, tuple))
        and value
        and all(is_int(v) and (v >= 1 or v == -1) for v in value)
        and list(value).count(-1) <= 1
    ):
        return tuple(value)
    raise PydanticCustomError(
        "sizes",
        "must be a non-empty list of positive integers, at most one of them -1, got {got}",
        {"got": show(value)},
    )


_SIZES_SCHEMA = {"type": "array", "minItems": 1, "items": {"type": "integer", "anyOf": [{"minimum": 1}, {"const": -1}]}}

Sizes = Annotated[tuple[int, ...], PlainValidator(_sizes), WithJsonSchema(_SIZES_SCHEMA)]


def _target(value: Any) -> tuple[int, ...]:
    sizes = _sizes(value)
    if len(sizes) not in (1, 3):
        raise PydanticCustomError("shape", f"must be {SHAPES} (one entry may be -1), got {{got}}", {"got": show(value)})
    return sizes


Target = Annotated[
    tuple[int, ...],
    PlainValidator(_target),
    WithJsonSchema({**_SIZES_SCHEMA, "anyOf": [{"minItems": 1, "maxItems": 1}, {"minItems": 3, "maxItems": 3}]}),
]


def _fill(sizes: tuple[int, ...], count: int, what: str, field: str) -> tuple[int, ...]:
    """`sizes` with its -1 inferred so that they hold `count` values; an error names both counts."""
    known = prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if count % known:
            raise LayerRuleError(
                f"{field} {shape_text(sizes)} cannot hold the {count} values of {what}: "
                f"{count} is not divisible by the product of the others, {known}",
                field=field,
            )
        return tuple(count // known if s == -1 else s for s in sizes)
    if known != count:
        raise LayerRuleError(f"{field} {shape_text(sizes)} holds {known} values, but {what} holds {count}", field=field)
    return sizes


@register
class CenterCrop(LayerKind):
    """The centre `size` (int or [h, w]) of each map (the original U-Net's crop of a skip
    connection): a view, `x[..., top:top + h, left:left + w]` with `top = floor((H - h)/2)` and
    `left = floor((W - w)/2)`, so an odd surplus leaves the extra row at the bottom and the extra
    column at the right (torchvision's `center_crop` rounds half to even instead)."""

    type: Literal["center_crop"] = "center_crop"
    size: SizePair

    def output_shape(self, inp: Shape) -> Shape:
        c, h, w = volume(inp, self)
        if self.size[0] > h or self.size[1] > w:
            raise LayerRuleError(
                f"the crop must fit the input. Received: size={shape_text(self.size)}, input height x width={h}x{w}",
                field="size",
            )
        return (c, *self.size)

    def offsets(self, inp: Shape) -> tuple[int, int]:
        """(top, left): where the crop starts."""
        return (inp[1] - self.size[0]) // 2, (inp[2] - self.size[1]) // 2

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING  # slicing's backward needs only the shapes

    def aliases_input(self, training: bool) -> bool:
        return True

    def receptive_field(self, field: Spatial, inp: Shape) -> RField:
        top, left = self.offsets(inp)
        return (receptive.shift(field[0], -top), receptive.shift(field[1], -left))

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.blocks.CenterCrop(self.size)


@register
class Reshape(LayerKind):
    """Each sample reshaped to `shape` ([features] or [C, H, W], one entry may be -1), in row-major
    order (`x.reshape(N, *shape)`): a view of a contiguous input."""

    type: Literal["reshape"] = "reshape"
    shape: Target

    def output_shape(self, inp: Shape) -> Shape:
        return _fill(self.shape, prod(inp), f"the input {shape_text(inp)}", "shape")

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING

    def node_grad_views(self, inputs: int) -> tuple[bool, ...]:
        return (True,)  # the gradient is reshaped back: a view

    def aliases_input(self, training: bool) -> bool:
        return True

    def node_fields(self, fields: Sequence[Fields], ins: Shapes, outs: Shapes) -> tuple[Fields, ...]:
        return (receptive.reshaped(fields[0], ins[0], outs[0], f"reshape to {shape_text(outs[0])}"),)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.blocks.Reshape(self.output_shape(inp))


@register
class Unflatten(LayerKind):
    """Splits dimension `dim` of the batch into `sizes` (`nn.Unflatten(dim, sizes)`; `dim` numbered as
    in PyTorch, 0 being the batch, so 1, the default, is the channels or features; one size may be
    -1): `[8192]` with `sizes: [512, 4, 4]` gives `[512, 4, 4]` (a DCGAN generator after its
    `linear`). A view."""

    type: Literal["unflatten"] = "unflatten"
    dim: int = Field(1, strict=True)
    sizes: Sizes

    def output_shape(self, inp: Shape) -> Shape:
        dim = sample_axis(self.dim, len(inp))
        sizes = _fill(self.sizes, inp[dim], f"axis {dim} of the input {shape_text(inp)}", "sizes")
        out = inp[:dim] + sizes + inp[dim + 1 :]
        if len(out) not in (1, 3):
            raise LayerRuleError(
                f"unflattening axis {dim} of {shape_text(inp)} into {shape_text(sizes)} gives {shape_text(out)}, "
                f"but cnnsize's shapes are {SHAPES}",
                field="sizes",
            )
        return out

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING

    def node_grad_views(self, inputs: int) -> tuple[bool, ...]:
        return (True,)  # the gradient is reshaped back: a view

    def aliases_input(self, training: bool) -> bool:
        return True

    def node_fields(self, fields: Sequence[Fields], ins: Shapes, outs: Shapes) -> tuple[Fields, ...]:
        return (receptive.reshaped(fields[0], ins[0], outs[0], f"unflatten to {shape_text(outs[0])}"),)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.Unflatten(sample_axis(self.dim, len(inp)) + 1, self.sizes)
