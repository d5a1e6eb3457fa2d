"""Composite layers: `residual` (body + shortcut), `concat` (branches joined on channels) and
`sequential` (a named group of layers, which is what a block use becomes). Each is sugar for a small
graph: the graph (`cnnsize.graph`) resolves its sequences into plain nodes joined by an `add` or a
`cat` node at the composite's path + `add`/`cat`."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from cnnsize import shapes
from cnnsize.errors import LayerRuleError, SpecPath
from cnnsize.kinds.base import Composite, LayerKind, LayerList, register
from cnnsize.shapes import Shape, shape_text
from cnnsize.values import show


def _shortcut(value: Any) -> Union[list[Any], Literal["auto"]]:
    if value == "auto" or isinstance(value, list):
        return value
    raise PydanticCustomError("shortcut", "must be a list of layers or 'auto', got {got}", {"got": show(value)})


Shortcut = Annotated[
    Union[list[Any], Literal["auto"]],
    PlainValidator(_shortcut),
    WithJsonSchema({"anyOf": [{"type": "array", "items": {"$ref": "#/$defs/Layer"}}, {"const": "auto"}]}),
]


@register
class Residual(Composite):
    """`body(x) + shortcut(x)`; the shortcut is the identity unless given, and both paths must
    give the same shape. `shortcut: auto` follows torchvision's ResNet: the identity when the body
    keeps the shape, else a 1x1 convolution (no bias) with the stride that matches, then batch norm."""

    type: Literal["residual"] = "residual"
    join_kind = "add"
    layer_fields = {"body": 1, "shortcut": 1}
    body: LayerList = Field(min_length=1)
    shortcut: Shortcut = Field(
        default_factory=list,
        description="Empty (the default) is the identity; `auto` projects only where the shapes differ.",
    )

    def sequences(self) -> list[tuple[SpecPath, list[LayerKind]]]:
        if self.shortcut == "auto":
            return [(("body",), self.body)]
        return [(("body",), self.body), (("shortcut",), self.shortcut)]

    def derived_sequences(self, inp: Shape, outputs: list[Shape]) -> list[tuple[SpecPath, list[LayerKind]]]:
        if self.shortcut != "auto":
            return []
        return [(("shortcut",), projection(inp, outputs[0]))]

    def merge(self, shapes: list[Shape]) -> Shape:
        body, shortcut = shapes
        if body != shortcut:
            hint = "" if self.shortcut else _shortcut_hint(body, shortcut)
            raise LayerRuleError(
                f"its two paths must give the same shape to be added: the body gives "
                f"{shape_text(body)}, the shortcut gives {shape_text(shortcut)}{hint}"
            )
        return body


def _projection_stride(size: int, wanted: int) -> Optional[int]:
    """The smallest stride s for which a 1x1 convolution maps `size` to `wanted`
    (floor((size - 1)/s) + 1 == wanted), or None when none does."""
    if wanted == 1:
        return size
    low = (size - 1) // wanted + 1  # the least s with (size - 1) // s <= wanted - 1
    return low if (size - 1) // low == wanted - 1 else None


def _shortcut_hint(body: Shape, identity: Shape) -> str:
    """What to do when the body's output cannot be added to the input: a 1x1 projection where one
    stride makes the body's size, else padding in the body (a projection cannot help)."""
    if len(body) != 3 or len(identity) != 3:
        return "; give a `shortcut` that makes the input the body's shape"
    (_, h, w), (_, ih, iw) = body, identity
    stride = _projection_stride(ih, h)
    if stride is not None and _projection_stride(iw, w) == stride:
        return f"; give a `shortcut`: a 1x1 conv2d with {body[0]} out_channels and stride {stride}, or `shortcut: auto`"
    return (
        f"; the body shrinks the map from {ih}x{iw} to {h}x{w}, which no 1x1 shortcut can match: "
        "pad the body's convolutions (a 3x3 convolution keeps the size with `padding: 1`)"
    )


@register
class Concat(Composite):
    """Runs each branch on the input and joins the outputs along the channels (features for flat
    vectors); an empty branch passes the input through. Spatial sizes must be equal."""

    type: Literal["concat"] = "concat"
    join_kind = "cat"
    layer_fields = {"branches": 2}
    branches: list[LayerList] = Field(min_length=1)

    def sequences(self) -> list[tuple[SpecPath, list[LayerKind]]]:
        return [(("branches", i), branch) for i, branch in enumerate(self.branches)]

    def merge(self, shapes: list[Shape]) -> Shape:
        first = shapes[0]
        for i, shape in enumerate(shapes[1:], start=1):
            if len(shape) != len(first) or shape[1:] != first[1:]:
                listing = ", ".join(f"branch {j}: {shape_text(s)}" for j, s in enumerate(shapes))
                raise LayerRuleError(
                    f"branches are joined on channels, so every branch must give the same spatial size; got {listing}"
                )
        return (sum(shape[0] for shape in shapes), *first[1:])


def projection(inp: Shape, out: Shape) -> list[LayerKind]:
    """The layers of `shortcut: auto` from `inp` to `out`: none when the shapes agree, else a 1x1
    convolution without bias at the stride that gives `out`'s height and width, then batch norm
    (torchvision's `downsample`)."""
    if inp == out:
        return []
    if len(inp) != 3 or len(out) != 3:
        raise LayerRuleError(
            f"`shortcut: auto` projects volumes with a 1x1 convolution, but the body takes "
            f"{shape_text(inp)} to {shape_text(out)}; write the shortcut out"
        )
    stride = tuple(_stride(inp[axis], out[axis]) for axis in (1, 2))
    if None in stride:
        raise LayerRuleError(
            f"`shortcut: auto` finds no stride for a 1x1 convolution that takes {shape_text(inp)} to the body's "
            f"{shape_text(out)}; write the shortcut out"
        )
    from cnnsize.kinds.conv import Conv2d
    from cnnsize.kinds.elementwise import BatchNorm2d

    return [
        Conv2d.model_validate(
            {"type": "conv2d", "out_channels": out[0], "kernel_size": 1, "stride": stride, "bias": False}
        ),
        BatchNorm2d.model_validate({"type": "batchnorm2d"}),
    ]


def _stride(size: int, target: int) -> int | None:
    """The smallest stride at which a 1x1 window takes `size` to `target` (None if none does):
    `floor((size - 1)/s) + 1 = target` first holds at `s = floor((size - 1)/target) + 1`."""
    stride = (size - 1) // max(target, 1) + 1
    return stride if shapes.conv_out(size, 1, stride) == target else None


@register
class Sequential(Composite):
    """Its layers one after another, shown as one named group (`nn.Sequential`); every use of a block
    becomes one, so `report --depth` can sum a block's layers into one row."""

    type: Literal["sequential"] = "sequential"
    join_kind = ""
    layer_fields = {"layers": 1}
    layers: LayerList = Field(min_length=1)

    def sequences(self) -> list[tuple[SpecPath, list[LayerKind]]]:
        return [(("layers",), self.layers)]

    def merge(self, shapes: list[Shape]) -> Shape:
        return shapes[0]
