"""Composite layers: `residual` (body + shortcut) and `concat` (branches joined on channels)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from cnnsize.errors import LayerRuleError, SpecPath
from cnnsize.kinds.base import Composite, LayerKind, LayerList, Shape, register, shape_text

if TYPE_CHECKING:
    from torch import nn

    from cnnsize.backend.builder import TorchKit


@register
class Residual(Composite):
    """`body(x) + shortcut(x)`; the shortcut is the identity unless given, and both paths must
    give the same shape."""

    type: Literal["residual"] = "residual"
    merge_op = "add"
    layer_fields = {"body": 1, "shortcut": 1}
    body: LayerList = Field(min_length=1)
    shortcut: LayerList = Field(default_factory=list, description="Empty (the default) is the identity.")

    def sequences(self) -> list[tuple[SpecPath, list[LayerKind]]]:
        return [(("body",), self.body), (("shortcut",), self.shortcut)]

    def merge(self, shapes: list[Shape]) -> Shape:
        body, shortcut = shapes
        if body != shortcut:
            hint = "" if self.shortcut else "; give a `shortcut` (for example a 1x1 conv2d with the right stride)"
            raise LayerRuleError(
                f"its two paths must give the same shape to be added: the body gives "
                f"{shape_text(body)}, the shortcut gives {shape_text(shortcut)}{hint}"
            )
        return body

    def torch_join(self, tk: "TorchKit", sequences: list["nn.Sequential"]) -> "nn.Module":
        body, shortcut = sequences
        return tk.blocks.Residual(body, shortcut)


@register
class Concat(Composite):
    """Runs each branch on the input and joins the outputs along the channels (features for flat
    vectors); an empty branch passes the input through. Spatial sizes must be equal."""

    type: Literal["concat"] = "concat"
    merge_op = "cat"
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

    def torch_join(self, tk: "TorchKit", sequences: list["nn.Sequential"]) -> "nn.Module":
        return tk.blocks.Concat(sequences)
