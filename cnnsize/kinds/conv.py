"""Convolutions: `conv2d` and `conv_transpose2d`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Optional

from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from cnnsize import receptive, shapes
from cnnsize.errors import LayerRuleError
from cnnsize.fields import DEPTHWISE, ConvPadding, Flag, Groups, NonNegativePair, Size, SizePair
from cnnsize.kinds.base import LayerKind, check_groups, check_stated, register, volume
from cnnsize.kinds.saving import WEIGHT_ALWAYS, Saved, Tensor
from cnnsize.receptive import Field as RField
from cnnsize.receptive import Spatial
from cnnsize.shapes import Shape

if TYPE_CHECKING:
    from torch import nn

    from cnnsize.kinds.torchkit import TorchKit


@register
class Conv2d(LayerKind):
    """2-D convolution (PyTorch `nn.Conv2d`); `padding` also takes `same` (TensorFlow's rule, any
    stride), `full` and `[top, bottom, left, right]`; `groups: depthwise` sets groups to the input
    channels, and then `out_channels` defaults to them too."""

    # For editors: `out_channels` is required unless the convolution is depthwise.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["out_channels"]},
                {"required": ["groups"], "properties": {"groups": {"const": "depthwise"}}},
            ]
        }
    )

    type: Literal["conv2d"] = "conv2d"
    out_channels: Optional[Size] = Field(
        None, description="Required, except with `groups: depthwise` (then it defaults to the input channels)."
    )
    kernel_size: SizePair
    stride: SizePair = Field(1, validate_default=True)
    padding: ConvPadding = Field(0, validate_default=True)
    dilation: SizePair = Field(1, validate_default=True)
    groups: Groups = 1
    bias: Flag = True
    in_channels: Optional[Size] = Field(None, description="Inferred from the input; if stated, it must agree.")

    @model_validator(mode="after")
    def _needs_out_channels(self) -> "Conv2d":
        if self.out_channels is None and self.groups != DEPTHWISE:
            raise PydanticCustomError(
                "out_channels",
                "missing required field 'out_channels' (only a `groups: depthwise` convolution may leave it out)",
            )
        return self

    def groups_for(self, in_channels: int) -> int:
        """The number of groups for an input of `in_channels` (all of them when depthwise)."""
        return in_channels if self.groups == DEPTHWISE else int(self.groups)

    def out_channels_for(self, in_channels: int) -> int:
        """The output channels for an input of `in_channels` (`out_channels`, else the input's)."""
        return in_channels if self.out_channels is None else self.out_channels

    def pads(self, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """((top, bottom), (left, right)) for an input of h x w."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        if self.padding == "valid":
            return (0, 0), (0, 0)
        if self.padding == "same":
            return shapes.same_padding(h, kh, sh, dh), shapes.same_padding(w, kw, sw, dw)
        if self.padding == "full":
            ph, pw = shapes.full_padding(kh, dh), shapes.full_padding(kw, dw)
            return (ph, ph), (pw, pw)
        top, bottom, left, right = self.padding
        return (top, bottom), (left, right)

    def output_shape(self, inp: Shape) -> Shape:
        c, h, w = volume(inp, self)
        check_stated(self.in_channels, c, "in_channels")
        check_groups(self.groups_for(c), c, self.out_channels_for(c))
        (top, bottom), (left, right) = self.pads(h, w)
        oh = _fitted("height", h, self.kernel_size[0], self.stride[0], top, bottom, self.dilation[0])
        ow = _fitted("width", w, self.kernel_size[1], self.stride[1], left, right, self.dilation[1])
        return (self.out_channels_for(c), oh, ow)

    def weight_shapes(self, inp: Shape) -> dict[str, Shape]:
        out_channels = self.out_channels_for(inp[0])
        weights: dict[str, Shape] = {"weight": (out_channels, inp[0] // self.groups_for(inp[0]), *self.kernel_size)}
        if self.bias:
            weights["bias"] = (out_channels,)
        return weights

    def macs(self, inp: Shape, out: Shape) -> int:
        # C_out * H_out * W_out * (C_in / groups) * kH * kW
        return (
            out[0] * out[1] * out[2] * (inp[0] // self.groups_for(inp[0])) * self.kernel_size[0] * self.kernel_size[1]
        )

    def padded_input(self, inp: Shape) -> Optional[Shape]:
        """The input after `nn.ZeroPad2d` where padding differs before and after (the module pads
        explicitly, then convolves without padding), else None."""
        (top, bottom), (left, right) = self.pads(inp[1], inp[2])
        if top == bottom and left == right:
            return None
        return (inp[0], inp[1] + top + bottom, inp[2] + left + right)

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        padded = self.padded_input(inp)
        if padded is None:
            return Saved(input=True, weight=WEIGHT_ALWAYS)
        return Saved(weight=WEIGHT_ALWAYS, tensors=(Tensor(padded),))  # it convolves the padded copy

    def workspace(self, inp: Shape, out: Shape) -> tuple[Tensor, ...]:
        padded = self.padded_input(inp)
        return () if padded is None else (Tensor(padded),)

    def autocast_op(self) -> str:
        return "conv2d"

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        """`nn.Conv2d`; padding that differs before and after (`same` at stride > 1, or stated so)
        is an explicit `nn.ZeroPad2d` before an unpadded `nn.Conv2d` (`blocks.PaddedConv2d`)."""
        (top, bottom), (left, right) = self.pads(inp[1], inp[2])
        symmetric = top == bottom and left == right

        def conv(padding: tuple[int, int]) -> "nn.Module":
            return tk.nn.Conv2d(
                inp[0],
                self.out_channels_for(inp[0]),
                self.kernel_size,
                stride=self.stride,
                padding=padding,
                dilation=self.dilation,
                groups=self.groups_for(inp[0]),
                bias=self.bias,
            )

        if symmetric:
            return conv((top, left))
        return tk.blocks.PaddedConv2d(tk.blocks.zero_pad2d(top, bottom, left, right), conv((0, 0)))

    def receptive_field(self, field: Spatial, inp: Shape) -> RField:
        pads = self.pads(inp[1], inp[2])
        return receptive.each_axis(
            field,
            lambda axis, a: receptive.window(axis, self.kernel_size[a], self.stride[a], pads[a][0], self.dilation[a]),
        )

    def mixing_groups(self, inp: Shape, out: Shape) -> Optional[int]:
        return self.groups_for(inp[0])


def _fitted(axis: str, i: int, k: int, s: int, p_before: int, p_after: int, d: int) -> int:
    out = shapes.conv_out(i, k, s, p_before, p_after, d)
    if out < 1:
        raise LayerRuleError(
            f"the kernel does not fit the padded input along the {axis}: input {i}, kernel {k}"
            + (f" dilated by {d}" if d > 1 else "")
            + f", padding {p_before}+{p_after}: {shapes.conv_formula(i, k, s, p_before, p_after, d)}",
            field="kernel_size",
        )
    return out


@register
class ConvTranspose2d(LayerKind):
    """2-D transposed convolution (PyTorch `nn.ConvTranspose2d`):
    `out = (i - 1)*s - 2*p + d*(k - 1) + output_padding + 1`."""

    type: Literal["conv_transpose2d"] = "conv_transpose2d"
    out_channels: Size
    kernel_size: SizePair
    stride: SizePair = Field(1, validate_default=True)
    padding: NonNegativePair = Field(0, validate_default=True)
    output_padding: NonNegativePair = Field(0, validate_default=True)
    dilation: SizePair = Field(1, validate_default=True)
    groups: Size = 1
    bias: Flag = True
    in_channels: Optional[Size] = Field(None, description="Inferred from the input; if stated, it must agree.")

    def output_shape(self, inp: Shape) -> Shape:
        c, h, w = volume(inp, self)
        check_stated(self.in_channels, c, "in_channels")
        check_groups(self.groups, c, self.out_channels)
        out = []
        for axis, i in (0, h), (1, w):
            k, s, p, op, d = (
                self.kernel_size[axis],
                self.stride[axis],
                self.padding[axis],
                self.output_padding[axis],
                self.dilation[axis],
            )
            if op >= max(s, d):
                raise LayerRuleError(
                    f"output_padding must be smaller than stride or dilation: got output_padding={op}, "
                    f"stride={s}, dilation={d}",
                    field="output_padding",
                )
            size = shapes.transposed_conv_out(i, k, s, p, op, d)
            if size < 1:
                raise LayerRuleError(
                    f"the padding removes the whole output: {shapes.transposed_conv_formula(i, k, s, p, op, d)}",
                    field="padding",
                )
            out.append(size)
        return (self.out_channels, out[0], out[1])

    def weight_shapes(self, inp: Shape) -> dict[str, Shape]:
        weights: dict[str, Shape] = {"weight": (inp[0], self.out_channels // self.groups, *self.kernel_size)}
        if self.bias:
            weights["bias"] = (self.out_channels,)
        return weights

    def macs(self, inp: Shape, out: Shape) -> int:
        # C_in * H_in * W_in * (C_out / groups) * kH * kW
        return inp[0] * inp[1] * inp[2] * (self.out_channels // self.groups) * self.kernel_size[0] * self.kernel_size[1]

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return Saved(input=True, weight=WEIGHT_ALWAYS)

    def autocast_op(self) -> str:
        return "conv_transpose2d"

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.ConvTranspose2d(
            inp[0],
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
            groups=self.groups,
            bias=self.bias,
            dilation=self.dilation,
        )

    def receptive_field(self, field: Spatial, inp: Shape) -> RField:
        return receptive.each_axis(
            field,
            lambda axis, a: receptive.transposed(
                axis, inp[1 + a], self.kernel_size[a], self.stride[a], self.padding[a], self.dilation[a]
            ),
        )

    def mixing_groups(self, inp: Shape, out: Shape) -> Optional[int]:
        return self.groups
