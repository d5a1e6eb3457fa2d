"""Layers that change the shape without a window: flatten, linear, zero padding, upsampling."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING, Literal, Optional

from pydantic import Field

from cnnsize import receptive
from cnnsize.errors import LayerRuleError
from cnnsize.fields import Flag, Pad4, Size, SizePair
from cnnsize.kinds.base import LayerKind, Shape, check_stated, register, shape_text, volume
from cnnsize.kinds.saving import NOTHING, WEIGHT_FOR_INPUT_GRAD, Saved
from cnnsize.receptive import Field as RField

if TYPE_CHECKING:
    from torch import nn

    from cnnsize.backend.builder import TorchKit


def _whole_input(field: RField, inp: Shape) -> RField:
    """After a layer that mixes every position, one output sees the whole input."""
    if len(inp) != 3:
        return field
    return (receptive.through_whole(field[0], inp[1]), receptive.through_whole(field[1], inp[2]))


@register
class Flatten(LayerKind):
    """(C, H, W) -> (C*H*W,) (`nn.Flatten`)."""

    type: Literal["flatten"] = "flatten"

    def output_shape(self, inp: Shape) -> Shape:
        return (prod(inp),)

    def receptive_field(self, field: RField, inp: Shape) -> RField:
        return _whole_input(field, inp)

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING

    def aliases_input(self, training: bool) -> bool:
        return True  # a view of a contiguous input

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.Flatten()


@register
class Linear(LayerKind):
    """Fully connected layer (`nn.Linear`) on a flat vector."""

    type: Literal["linear"] = "linear"
    out_features: Size
    bias: Flag = True
    in_features: Optional[Size] = Field(None, description="Inferred from the input; if stated, it must agree.")

    def output_shape(self, inp: Shape) -> Shape:
        if len(inp) != 1:
            raise LayerRuleError(
                f"needs a flat vector but its input is the volume {shape_text(inp)}; "
                f"add `flatten` before it (giving {prod(inp)} features)"
            )
        check_stated(self.in_features, inp[0], "in_features")
        return (self.out_features,)

    def weight_shapes(self, inp: Shape) -> dict[str, Shape]:
        weights: dict[str, Shape] = {"weight": (self.out_features, inp[0])}
        if self.bias:
            weights["bias"] = (self.out_features,)
        return weights

    def macs(self, inp: Shape, out: Shape) -> int:
        # in_features * out_features
        return inp[0] * out[0]

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        # addmm (mm without bias) keeps the input for the weight's gradient, and the weight only
        # for the input's gradient
        return Saved(input=True, weight=WEIGHT_FOR_INPUT_GRAD)

    def autocast_op(self) -> str:
        return "linear"

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.Linear(inp[0], self.out_features, self.bias)


@register
class ZeroPad2d(LayerKind):
    """Zero padding: an int, [h, w] or [top, bottom, left, right] (note: `nn.ZeroPad2d` itself takes
    (left, right, top, bottom); cnnsize uses one order everywhere)."""

    type: Literal["zeropad2d"] = "zeropad2d"
    padding: Pad4

    def output_shape(self, inp: Shape) -> Shape:
        c, h, w = volume(inp, self)
        top, bottom, left, right = self.padding
        return (c, h + top + bottom, w + left + right)

    def receptive_field(self, field: RField, inp: Shape) -> RField:
        return (receptive.through_shift(field[0], self.padding[0]), receptive.through_shift(field[1], self.padding[2]))

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING  # its backward slices the gradient

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.blocks.zero_pad2d(*self.padding)


@register
class Upsample(LayerKind):
    """Nearest-neighbour upsampling by an integer `scale_factor` (`nn.Upsample`)."""

    type: Literal["upsample"] = "upsample"
    scale_factor: SizePair
    mode: Literal["nearest"] = "nearest"

    def output_shape(self, inp: Shape) -> Shape:
        c, h, w = volume(inp, self)
        return (c, h * self.scale_factor[0], w * self.scale_factor[1])

    def receptive_field(self, field: RField, inp: Shape) -> RField:
        return (
            receptive.through_upsample(field[0], self.scale_factor[0]),
            receptive.through_upsample(field[1], self.scale_factor[1]),
        )

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING  # nearest: its backward sums gradients by position

    def autocast_op(self) -> str:
        return "upsample_nearest2d"

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.Upsample(scale_factor=self.scale_factor, mode=self.mode)
