"""Layers that rearrange values between channels and positions: pixel shuffle (sub-pixel
upsampling), pixel unshuffle, and channel shuffle (ShuffleNet).

Each writes a new tensor and saves nothing for backward (measured with `saved_tensors_hooks`,
torch 2.13, CPU): its backward is the inverse rearrangement of the gradient. CUDA computes the
same rearrangement with views and one copy (`math_pixel_shuffle`, `math_channel_shuffle`): one new
tensor there too, nothing saved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Sequence

from cnnsize import receptive
from cnnsize.errors import LayerRuleError
from cnnsize.fields import Size
from cnnsize.kinds.base import LayerKind, Shapes, positions, register, volume
from cnnsize.kinds.saving import NOTHING, Saved
from cnnsize.receptive import Fields
from cnnsize.shapes import Shape

if TYPE_CHECKING:
    from torch import nn

    from cnnsize.kinds.torchkit import TorchKit


@register
class PixelShuffle(LayerKind):
    """(C*r*r, H, W) -> (C, H*r, W*r) with r = `upscale_factor` (`nn.PixelShuffle`): output channel c
    at (h*r + i, w*r + j) is input channel c*r*r + i*r + j at (h, w)."""

    type: Literal["pixel_shuffle"] = "pixel_shuffle"
    upscale_factor: Size

    def output_shape(self, inp: Shape) -> Shape:
        c, h, w = volume(inp, self)
        r = self.upscale_factor
        if c % (r * r):
            raise LayerRuleError(
                "the number of channels must be evenly divisible by upscale_factor squared. "
                f"Received: upscale_factor={r} (squared: {r * r}), channels={c}",
                field="upscale_factor",
            )
        return (c // (r * r), h * r, w * r)

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING

    def node_fields(self, fields: Sequence[Fields], ins: Shapes, outs: Shapes) -> tuple[Fields, ...]:
        return (receptive.depth_to_space(fields[0], self.upscale_factor, positions(ins[0])),)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.PixelShuffle(self.upscale_factor)


@register
class PixelUnshuffle(LayerKind):
    """(C, H*r, W*r) -> (C*r*r, H, W) with r = `downscale_factor` (`nn.PixelUnshuffle`), the inverse
    of `pixel_shuffle`."""

    type: Literal["pixel_unshuffle"] = "pixel_unshuffle"
    downscale_factor: Size

    def output_shape(self, inp: Shape) -> Shape:
        c, h, w = volume(inp, self)
        r = self.downscale_factor
        for axis, size in (("height", h), ("width", w)):
            if size % r:
                raise LayerRuleError(
                    f"the {axis} must be evenly divisible by downscale_factor. "
                    f"Received: downscale_factor={r}, {axis}={size}",
                    field="downscale_factor",
                )
        return (c * r * r, h // r, w // r)

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING

    def node_fields(self, fields: Sequence[Fields], ins: Shapes, outs: Shapes) -> tuple[Fields, ...]:
        return (receptive.space_to_depth(fields[0], self.downscale_factor),)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.PixelUnshuffle(self.downscale_factor)


@register
class ChannelShuffle(LayerKind):
    """ShuffleNet's channel shuffle (`nn.ChannelShuffle`): the channels, seen as `groups` rows of
    C/groups, are transposed, so output channel i*groups + g is input channel g*(C/groups) + i."""

    type: Literal["channel_shuffle"] = "channel_shuffle"
    groups: Size

    def output_shape(self, inp: Shape) -> Shape:
        c, _, _ = volume(inp, self)
        if c % self.groups:
            raise LayerRuleError(
                "the number of channels must be evenly divisible by groups. "
                f"Received: groups={self.groups}, channels={c}",
                field="groups",
            )
        return inp

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING

    def node_fields(self, fields: Sequence[Fields], ins: Shapes, outs: Shapes) -> tuple[Fields, ...]:
        rows = ins[0][0] // self.groups

        def order(laid: list[receptive.Field]) -> list[receptive.Field]:
            return [laid[(k % self.groups) * rows + k // self.groups] for k in range(len(laid))]

        return (receptive.rearranged(fields[0], order, "channel_shuffle"),)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.ChannelShuffle(self.groups)
