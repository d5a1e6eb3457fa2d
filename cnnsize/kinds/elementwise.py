"""Layers that keep the shape: activations, dropout, batch norm, identity.

What each saves for backward was measured with `saved_tensors_hooks` (torch 2.13, CPU): ReLU,
sigmoid, tanh and softmax keep their output; ReLU6, leaky ReLU, ELU, GELU, SiLU, hardswish and
hardsigmoid keep their input. In place, ReLU, leaky ReLU and ELU keep the result (the input's own
storage), while ReLU6, SiLU, hardswish and hardsigmoid keep a copy of the input made before it is
overwritten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Optional

from pydantic import Field

from cnnsize import receptive
from cnnsize.errors import LayerRuleError
from cnnsize.fields import Flag, Number, PositiveNumber, Probability, Size
from cnnsize.kinds.base import LayerKind, check_stated, register, volume
from cnnsize.kinds.saving import (
    ACTIVATION,
    BATCH_STATISTICS,
    DROPOUT_MASK,
    NOTHING,
    Saved,
    Tensor,
)
from cnnsize.receptive import Field as RField
from cnnsize.receptive import Spatial
from cnnsize.shapes import Shape

if TYPE_CHECKING:
    from torch import nn

    from cnnsize.kinds.torchkit import TorchKit


class _InPlace(LayerKind):
    inplace: Flag = False

    def aliases_input(self, training: bool) -> bool:
        return self.inplace


KEEPS_INPUT = Saved(input=True)
KEEPS_OUTPUT = Saved(output=True)


def _input_or_its_copy(inplace: bool, inp: Shape) -> Saved:
    """The input, or, in place, a copy of it taken before the operation overwrites it."""
    return Saved(tensors=(Tensor(inp),)) if inplace else KEEPS_INPUT


@register
class Identity(LayerKind):
    """Passes its input through (`nn.Identity`)."""

    type: Literal["identity"] = "identity"

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING

    def aliases_input(self, training: bool) -> bool:
        return True

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.Identity()


@register
class ReLU(_InPlace):
    """`max(0, x)` (`nn.ReLU`)."""

    type: Literal["relu"] = "relu"

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return KEEPS_OUTPUT

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.ReLU(inplace=self.inplace)


@register
class ReLU6(_InPlace):
    """`min(max(0, x), 6)` (`nn.ReLU6`)."""

    type: Literal["relu6"] = "relu6"

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return _input_or_its_copy(self.inplace, inp)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.ReLU6(inplace=self.inplace)


@register
class LeakyReLU(_InPlace):
    """`x if x > 0 else negative_slope*x` (`nn.LeakyReLU`)."""

    type: Literal["leaky_relu"] = "leaky_relu"
    negative_slope: Number = 0.01

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return KEEPS_OUTPUT if self.inplace else KEEPS_INPUT  # in place: the result, the same storage

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.LeakyReLU(self.negative_slope, inplace=self.inplace)


@register
class ELU(_InPlace):
    """Exponential linear unit (`nn.ELU`)."""

    type: Literal["elu"] = "elu"
    alpha: Number = 1.0

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return KEEPS_OUTPUT if self.inplace else KEEPS_INPUT  # in place: the result, the same storage

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.ELU(self.alpha, inplace=self.inplace)


@register
class GELU(LayerKind):
    """Gaussian error linear unit (`nn.GELU`)."""

    type: Literal["gelu"] = "gelu"
    approximate: Literal["none", "tanh"] = "none"

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return KEEPS_INPUT

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.GELU(approximate=self.approximate)


@register
class SiLU(_InPlace):
    """`x * sigmoid(x)`, also called swish (`nn.SiLU`)."""

    type: Literal["silu"] = "silu"

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return _input_or_its_copy(self.inplace, inp)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.SiLU(inplace=self.inplace)


@register
class Sigmoid(LayerKind):
    """Logistic sigmoid (`nn.Sigmoid`)."""

    type: Literal["sigmoid"] = "sigmoid"

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return KEEPS_OUTPUT

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.Sigmoid()


@register
class Tanh(LayerKind):
    """Hyperbolic tangent (`nn.Tanh`)."""

    type: Literal["tanh"] = "tanh"

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return KEEPS_OUTPUT

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.Tanh()


@register
class Hardswish(_InPlace):
    """`x * relu6(x + 3)/6` (`nn.Hardswish`)."""

    type: Literal["hardswish"] = "hardswish"

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return _input_or_its_copy(self.inplace, inp)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.Hardswish(inplace=self.inplace)


@register
class Hardsigmoid(_InPlace):
    """`relu6(x + 3)/6` (`nn.Hardsigmoid`). Saves (measured) its input; in place, a copy of it taken
    before it is overwritten (`hardsigmoid_backward` reads the input), as on CUDA."""

    type: Literal["hardsigmoid"] = "hardsigmoid"

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return _input_or_its_copy(self.inplace, inp)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.Hardsigmoid(inplace=self.inplace)


@register
class Softmax(LayerKind):
    """Softmax along `dim`, numbered as in PyTorch with the batch as dim 0 (default 1: channels or
    features)."""

    type: Literal["softmax"] = "softmax"
    dim: int = Field(1, strict=True)

    def output_shape(self, inp: Shape) -> Shape:
        rank = len(inp) + 1
        if not -rank <= self.dim < rank:
            raise LayerRuleError(
                f"dim must be in [{-rank}, {rank - 1}] for a batched input of {rank} dimensions, got {self.dim}",
                field="dim",
            )
        return inp

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.Softmax(dim=self.dim)

    def receptive_field(self, field: Spatial, inp: Shape) -> RField:
        # along H or W, every position reads all positions of that axis
        axis = self.dim % (len(inp) + 1) - 2
        if len(inp) != 3 or axis < 0:
            return field
        spread = receptive.spread(field[axis], inp[1 + axis])
        return (spread, field[1]) if axis == 0 else (field[0], spread)

    def mixing_groups(self, inp: Shape, out: Shape) -> Optional[int]:
        return 1 if self.dim % (len(inp) + 1) == 1 else None  # along the channels: each reads them all

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return KEEPS_OUTPUT

    def autocast_op(self) -> str:
        return "softmax"


def _dropout_saves(p: float, mask: Tensor) -> Saved:
    """PyTorch's `_dropout_impl`: p = 0 returns the input untouched; p = 1 multiplies it by a
    zero-dimensional zero (which is saved); otherwise the input is multiplied by a random mask."""
    if p == 0:
        return NOTHING
    if p == 1:
        return Saved(tensors=(Tensor((), per_sample=False),))
    return Saved(tensors=(mask,))


def _dropout_aliases(p: float, inplace: bool, training: bool) -> bool:
    """Outside training, and at p = 0, dropout returns its input itself."""
    return inplace or not training or p == 0


@register
class Dropout(_InPlace):
    """Zeroes elements with probability `p` in training (`nn.Dropout`)."""

    type: Literal["dropout"] = "dropout"
    p: Probability = 0.5

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        # out of place, CUDA runs the fused `native_dropout`, whose mask is bool; in place (and on
        # the CPU) the mask is a tensor of the input's dtype
        return _dropout_saves(self.p, Tensor(inp, ACTIVATION if self.inplace else DROPOUT_MASK))

    def aliases_input(self, training: bool) -> bool:
        return _dropout_aliases(self.p, self.inplace, training)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.Dropout(self.p, inplace=self.inplace)


@register
class Dropout2d(_InPlace):
    """Zeroes whole channels with probability `p` in training (`nn.Dropout2d`)."""

    type: Literal["dropout2d"] = "dropout2d"
    p: Probability = 0.5

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return _dropout_saves(self.p, Tensor((inp[0], 1, 1)))  # one mask value per sample and channel

    def aliases_input(self, training: bool) -> bool:
        return _dropout_aliases(self.p, self.inplace, training)

    def output_shape(self, inp: Shape) -> Shape:
        volume(inp, self)
        return inp

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.Dropout2d(self.p, inplace=self.inplace)


@register
class BatchNorm2d(LayerKind):
    """Batch normalisation over channels (`nn.BatchNorm2d`): `2*C` trainable (weight, bias) when
    affine, `2*C` running statistics when tracked."""

    type: Literal["batchnorm2d"] = "batchnorm2d"
    eps: PositiveNumber = 1e-5
    momentum: Probability = 0.1
    affine: Flag = True
    track_running_stats: Flag = True
    num_features: Optional[Size] = Field(None, description="Inferred from the input; if stated, it must agree.")

    def output_shape(self, inp: Shape) -> Shape:
        c, _, _ = volume(inp, self)
        check_stated(self.num_features, c, "num_features")
        return inp

    def weight_shapes(self, inp: Shape) -> dict[str, Shape]:
        return {"weight": (inp[0],), "bias": (inp[0],)} if self.affine else {}

    def buffer_shapes(self, inp: Shape) -> dict[str, Shape]:
        return {"running_mean": (inp[0],), "running_var": (inp[0],)} if self.track_running_stats else {}

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        # the input, and the batch's mean and inverse standard deviation per channel (its weight
        # and running statistics are saved too: parameters and buffers, no new memory)
        stats = Tensor((inp[0],), BATCH_STATISTICS, per_sample=False)
        return Saved(input=True, tensors=(stats, stats))

    def workspace(self, inp: Shape, out: Shape) -> tuple[Tensor, ...]:
        # without running statistics, evaluation normalises by the batch's own, computed per channel
        stats = Tensor((inp[0],), BATCH_STATISTICS, per_sample=False)
        return () if self.track_running_stats else (stats, stats)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.BatchNorm2d(
            inp[0], self.eps, self.momentum, affine=self.affine, track_running_stats=self.track_running_stats
        )
