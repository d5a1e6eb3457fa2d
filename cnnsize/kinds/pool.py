"""Pooling: windowed (max, average, Lp), adaptive, global, and over the channel axis."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING, Literal, Optional

from pydantic import Field

from cnnsize import receptive, shapes
from cnnsize.errors import LayerRuleError
from cnnsize.fields import Flag, NonNegativePair, PositiveOrInfinite, Size, SizePair
from cnnsize.kinds.base import LayerKind, register, volume
from cnnsize.kinds.saving import INDICES, NOTHING, Saved, Tensor
from cnnsize.receptive import Field as RField
from cnnsize.receptive import Spatial
from cnnsize.shapes import Shape

if TYPE_CHECKING:
    from torch import nn

    from cnnsize.kinds.torchkit import TorchKit


def _max_saves(out: Shape) -> Saved:
    """Max pooling (windowed, adaptive, global) saves its input and the int64 argmax of each output."""
    return Saved(input=True, tensors=(Tensor(out, INDICES),))


def _max_workspace(out: Shape) -> tuple[Tensor, ...]:
    """Without autograd too, PyTorch computes max pooling with its indices, then drops them."""
    return (Tensor(out, INDICES),)


class _WindowPool(LayerKind):
    """Shared rule of max, average and Lp pooling; `stride` defaults to the kernel size."""

    kernel_size: SizePair
    stride: Optional[SizePair] = Field(None, description="Defaults to kernel_size.")
    ceil_mode: Flag = False

    @property
    def strides(self) -> tuple[int, int]:
        return self.stride or self.kernel_size

    @property
    def pads(self) -> tuple[int, int]:
        return (0, 0)

    @property
    def dilations(self) -> tuple[int, int]:
        return (1, 1)

    def output_shape(self, inp: Shape) -> Shape:
        c, h, w = volume(inp, self)
        out = []
        for axis, i in (0, h), (1, w):
            k, s, p, d = self.kernel_size[axis], self.strides[axis], self.pads[axis], self.dilations[axis]
            if p > k // 2:
                raise LayerRuleError(
                    f"padding must be at most half the kernel size (PyTorch's rule): got padding={p}, kernel_size={k}",
                    field="padding",
                )
            size = shapes.pool_out(i, k, s, p, d, self.ceil_mode)
            if size < 1:
                raise LayerRuleError(
                    f"the window does not fit the padded input along the {('height', 'width')[axis]}: input {i}, "
                    f"kernel {k}, padding {p}: {shapes.pool_formula(i, k, s, p, d, self.ceil_mode)}",
                    field="kernel_size",
                )
            out.append(size)
        return (c, out[0], out[1])

    def receptive_field(self, field: Spatial, inp: Shape) -> RField:
        return receptive.each_axis(
            field,
            lambda axis, a: receptive.window(
                axis, self.kernel_size[a], self.strides[a], self.pads[a], self.dilations[a]
            ),
        )


@register
class MaxPool2d(_WindowPool):
    """Max pooling (PyTorch `nn.MaxPool2d`)."""

    type: Literal["maxpool2d"] = "maxpool2d"
    padding: NonNegativePair = Field(0, validate_default=True)
    dilation: SizePair = Field(1, validate_default=True)

    @property
    def pads(self) -> tuple[int, int]:
        return self.padding

    @property
    def dilations(self) -> tuple[int, int]:
        return self.dilation

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return _max_saves(out)

    def workspace(self, inp: Shape, out: Shape) -> tuple[Tensor, ...]:
        return _max_workspace(out)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.MaxPool2d(
            self.kernel_size,
            stride=self.strides,
            padding=self.padding,
            dilation=self.dilation,
            ceil_mode=self.ceil_mode,
        )


@register
class AvgPool2d(_WindowPool):
    """Average pooling (PyTorch `nn.AvgPool2d`)."""

    type: Literal["avgpool2d"] = "avgpool2d"
    padding: NonNegativePair = Field(0, validate_default=True)
    count_include_pad: Flag = True

    @property
    def pads(self) -> tuple[int, int]:
        return self.padding

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return Saved(input=True)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.AvgPool2d(
            self.kernel_size,
            stride=self.strides,
            padding=self.padding,
            ceil_mode=self.ceil_mode,
            count_include_pad=self.count_include_pad,
        )


@register
class LPPool2d(_WindowPool):
    """Power-average pooling (PyTorch `nn.LPPool2d`); `norm_type: 2` is L2-norm pooling."""

    type: Literal["lppool2d"] = "lppool2d"
    norm_type: PositiveOrInfinite

    # `F.lp_pool2d`: `avg_pool2d(x.pow(p))`, then `(sign(out) * relu(abs(out))).mul(k).pow(1/p)`;
    # for p = inf, `max_pool2d(x.abs())`.
    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        if self.norm_type == float("inf"):  # abs keeps x; max pooling keeps |x| and its indices
            return Saved(input=True, tensors=(Tensor(inp), Tensor(out, INDICES)))
        # pow keeps x; avg_pool2d keeps x^p; abs keeps out; the product keeps sign(out) and
        # relu(|out|) (which relu keeps too); the last pow keeps the scaled product
        return Saved(input=True, tensors=(Tensor(inp), Tensor(out), Tensor(out), Tensor(out), Tensor(out)))

    def workspace(self, inp: Shape, out: Shape) -> tuple[Tensor, ...]:
        if self.norm_type == float("inf"):
            return (Tensor(inp), Tensor(out, INDICES))
        # the most at once: x^p and the pooled average, or later four pooled-sized intermediates
        if prod(inp) + prod(out) >= 4 * prod(out):
            return (Tensor(inp),)
        return (Tensor(out), Tensor(out), Tensor(out))

    def autocast_op(self) -> str:
        return "" if self.norm_type == float("inf") else "pow"

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.LPPool2d(self.norm_type, self.kernel_size, stride=self.strides, ceil_mode=self.ceil_mode)


class _AdaptivePool(LayerKind):
    output_size: SizePair

    def output_shape(self, inp: Shape) -> Shape:
        c, _, _ = volume(inp, self)
        return (c, *self.output_size)

    def receptive_field(self, field: Spatial, inp: Shape) -> RField:
        return receptive.each_axis(field, lambda axis, a: receptive.adaptive(axis, inp[1 + a], self.output_size[a]))


@register
class AdaptiveAvgPool2d(_AdaptivePool):
    """Adaptive average pooling to `output_size` (PyTorch `nn.AdaptiveAvgPool2d`)."""

    type: Literal["adaptive_avgpool2d"] = "adaptive_avgpool2d"

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        # to 1x1, PyTorch takes the mean over H and W instead, which saves nothing
        return NOTHING if self.output_size == (1, 1) else Saved(input=True)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.AdaptiveAvgPool2d(self.output_size)


@register
class AdaptiveMaxPool2d(_AdaptivePool):
    """Adaptive max pooling to `output_size` (PyTorch `nn.AdaptiveMaxPool2d`)."""

    type: Literal["adaptive_maxpool2d"] = "adaptive_maxpool2d"

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return _max_saves(out)

    def workspace(self, inp: Shape, out: Shape) -> tuple[Tensor, ...]:
        return _max_workspace(out)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.AdaptiveMaxPool2d(self.output_size)


class _GlobalPool(LayerKind):
    def output_shape(self, inp: Shape) -> Shape:
        c, _, _ = volume(inp, self)
        return (c, 1, 1)

    def receptive_field(self, field: Spatial, inp: Shape) -> RField:
        return (receptive.spread(field[0], inp[1]), receptive.spread(field[1], inp[2]))


@register
class GlobalAvgPool2d(_GlobalPool):
    """Average over all of H x W, giving (C, 1, 1) (`nn.AdaptiveAvgPool2d(1)`)."""

    type: Literal["global_avgpool2d"] = "global_avgpool2d"

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING  # a mean over H and W: its backward needs only the shape

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.AdaptiveAvgPool2d(1)


@register
class GlobalMaxPool2d(_GlobalPool):
    """Maximum over all of H x W, giving (C, 1, 1) (`nn.AdaptiveMaxPool2d(1)`)."""

    type: Literal["global_maxpool2d"] = "global_maxpool2d"

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return _max_saves(out)

    def workspace(self, inp: Shape, out: Shape) -> tuple[Tensor, ...]:
        return _max_workspace(out)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.AdaptiveMaxPool2d(1)


class _ChannelPool(LayerKind):
    kernel_size: Size = Field(description="How many neighbouring channels pool into one; must divide C.")

    def output_shape(self, inp: Shape) -> Shape:
        c, h, w = volume(inp, self)
        if c % self.kernel_size:
            raise LayerRuleError(
                f"kernel_size must divide the channels: {c} channels do not split into groups of {self.kernel_size}",
                field="kernel_size",
            )
        return (c // self.kernel_size, h, w)

    def mixing_groups(self, inp: Shape, out: Shape) -> Optional[int]:
        return out[0]  # output channel j reads input channels j*k .. j*k + k - 1


@register
class ChannelMaxPool(_ChannelPool):
    """Max over groups of `kernel_size` neighbouring channels ("depth" pooling, maxout); H, W kept."""

    type: Literal["channel_maxpool"] = "channel_maxpool"

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return Saved(input=True, output=True)  # amax's backward compares the input with the result

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.blocks.ChannelPool(self.kernel_size, "max")


@register
class ChannelAvgPool(_ChannelPool):
    """Average over groups of `kernel_size` neighbouring channels ("depth" pooling); H, W kept."""

    type: Literal["channel_avgpool"] = "channel_avgpool"

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING  # a mean over each group of channels

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.blocks.ChannelPool(self.kernel_size, "avg")
