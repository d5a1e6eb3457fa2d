"""Layers that change the shape without a window: flatten, linear, zero padding, upsampling."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING, Literal, Optional, Sequence

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from cnnsize import receptive
from cnnsize.errors import LayerRuleError
from cnnsize.fields import Flag, Pad4, Size, SizePair
from cnnsize.kinds.base import LayerKind, Shapes, check_stated, positions, register, volume
from cnnsize.kinds.saving import NOTHING, WEIGHT_FOR_INPUT_GRAD, Saved
from cnnsize.receptive import Field as RField
from cnnsize.receptive import Fields, Spatial
from cnnsize.shapes import Shape, shape_text
from cnnsize.values import show

if TYPE_CHECKING:
    from torch import nn

    from cnnsize.kinds.torchkit import TorchKit


@register
class Flatten(LayerKind):
    """(C, H, W) -> (C*H*W,) (`nn.Flatten`)."""

    type: Literal["flatten"] = "flatten"

    def output_shape(self, inp: Shape) -> Shape:
        return (prod(inp),)

    def node_fields(self, fields: Sequence[Fields], ins: Shapes, outs: Shapes) -> tuple[Fields, ...]:
        return (receptive.flattened(fields[0], positions(ins[0]), outs[0][0]),)

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING

    def node_grad_views(self, inputs: int) -> tuple[bool, ...]:
        return (True,)  # the gradient is reshaped back: a view

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

    def mixing_groups(self, inp: Shape, out: Shape) -> Optional[int]:
        return 1  # every output feature reads every input feature

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

    def receptive_field(self, field: Spatial, inp: Shape) -> RField:
        return (receptive.shift(field[0], self.padding[0]), receptive.shift(field[1], self.padding[2]))

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING  # its backward slices the gradient

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.blocks.zero_pad2d(*self.padding)


@register
class Upsample(LayerKind):
    """Upsampling by an integer `scale_factor` (`nn.Upsample`): `nearest`, or interpolating with
    `bilinear` or `bicubic`, where `align_corners` (default false) says whether the corner pixels of
    input and output are aligned. PyTorch refuses `align_corners` with `nearest`, and so does cnnsize.

    Saves nothing in any mode (measured, torch 2.13, CPU; the same on CUDA: each backward needs only
    the sizes). Autocast: CUDA runs every mode in float32 (`aten/src/ATen/autocast_mode.h`), the
    CPU leaves them in half precision."""

    type: Literal["upsample"] = "upsample"
    scale_factor: SizePair
    mode: Literal["nearest", "bilinear", "bicubic"] = "nearest"
    align_corners: Optional[Flag] = Field(None, description="Only for bilinear and bicubic (default false).")

    @field_validator("align_corners")
    @classmethod
    def _interpolating_only(cls, value: Optional[bool], info: ValidationInfo) -> Optional[bool]:
        mode = info.data.get("mode")
        if value is not None and mode == "nearest":
            raise PydanticCustomError(
                "align_corners",
                "align_corners applies only to the interpolating modes bilinear and bicubic; "
                "leave it out with mode nearest. Received: mode='nearest', align_corners={value}",
                {"value": show(value)},
            )
        return value

    def output_shape(self, inp: Shape) -> Shape:
        c, h, w = volume(inp, self)
        return (c, h * self.scale_factor[0], w * self.scale_factor[1])

    def receptive_field(self, field: Spatial, inp: Shape) -> RField:
        return receptive.each_axis(
            field,
            lambda axis, a: receptive.copies(axis, inp[1 + a], f"{self.mode} upsampling by {self.scale_factor[a]}"),
        )

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING  # its backward spreads the gradient back by position, needing only the sizes

    def autocast_op(self) -> str:
        return f"upsample_{self.mode}2d"

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.Upsample(scale_factor=self.scale_factor, mode=self.mode, align_corners=self.align_corners)
