"""Normalisation beyond batch norm over volumes: layer norm over the channels (ConvNeXt), group
norm, instance norm, and batch norm over flat features.

What each saves for backward was measured with `saved_tensors_hooks` (torch 2.13, CPU), in
float32, bfloat16, float64 and under bf16 autocast; `tests/test_memory_torch.py` checks it. The
CUDA figures follow PyTorch's source where it differs, as each kind's docstring says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Optional, Sequence

from pydantic import Field

from cnnsize import receptive
from cnnsize.errors import LayerRuleError
from cnnsize.fields import Flag, PositiveNumber, Probability, Size
from cnnsize.kinds.base import LayerKind, Shapes, check_stated, positions, register, volume
from cnnsize.kinds.elementwise import BatchNorm2d
from cnnsize.kinds.saving import ACTIVATION, BATCH_STATISTICS, Saved, Tensor
from cnnsize.receptive import Field as RField
from cnnsize.receptive import Fields, Spatial
from cnnsize.shapes import Shape, shape_text

if TYPE_CHECKING:
    from torch import nn

    from cnnsize.kinds.torchkit import TorchKit


def _mean_and_invstd(shape: Shape, dtype: str = BATCH_STATISTICS) -> tuple[Tensor, Tensor]:
    """A normalisation's statistics, per sample: a mean and an inverse standard deviation of `shape`."""
    return Tensor(shape, dtype), Tensor(shape, dtype)


@register
class LayerNorm2d(LayerKind):
    """Layer norm over the channels at each position, as torchvision's ConvNeXt `LayerNorm2d` does it
    (permute to (N, H, W, C), `F.layer_norm` over C, permute back: the output is a view with
    channels-last strides); `2*C` parameters when affine (`C` without bias).

    Saves (measured): its input (the permuted view, so the input's own storage), and a mean and
    an inverse standard deviation per sample and position (N*H*W values each), kept in the
    parameters' dtype when a half input meets float32 parameters (autocast), else the input's.
    CUDA: the statistics are float32 for half inputs (`layer_norm_cuda` keeps the accumulate
    type), and CUDA's autocast runs `layer_norm` in float32 (the CPU's leaves it alone). Both
    devices' kernels copy the permuted input into a contiguous temporary while they run (kernel
    scratch, not counted)."""

    type: Literal["layernorm2d"] = "layernorm2d"
    eps: PositiveNumber = 1e-5
    elementwise_affine: Flag = True
    bias: Flag = Field(True, description="Only with elementwise_affine.")

    def output_shape(self, inp: Shape) -> Shape:
        volume(inp, self)
        return inp

    def weight_shapes(self, inp: Shape) -> dict[str, Shape]:
        if not self.elementwise_affine:
            return {}
        return {"weight": (inp[0],), "bias": (inp[0],)} if self.bias else {"weight": (inp[0],)}

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return Saved(input=True, tensors=_mean_and_invstd(inp[1:]))

    def workspace(self, inp: Shape, out: Shape) -> tuple[Tensor, ...]:
        return _mean_and_invstd(inp[1:])  # computed without autograd too, then dropped

    def autocast_op(self) -> str:
        return "layer_norm"

    def mixing_groups(self, inp: Shape, out: Shape) -> Optional[int]:
        return 1  # each output reads every channel at its position

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.blocks.LayerNorm2d(inp[0], eps=self.eps, elementwise_affine=self.elementwise_affine, bias=self.bias)


@register
class GroupNorm(LayerKind):
    """Group normalisation (`nn.GroupNorm`): the channels split into `num_groups` groups, each
    normalised over its channels and all positions of a sample; `2*C` parameters when affine.
    Takes a volume or a flat vector (one position).

    Saves (measured): its input, and a mean and an inverse standard deviation per sample and group,
    in the parameters' dtype when a half input meets float32 parameters (autocast), else the
    input's. CUDA: the same function allocates them (`native_group_norm`), so they are in the
    input's dtype for a half model, where cnnsize's batch-statistics rule says float32 (a few bytes
    per sample); CUDA's autocast runs `group_norm` in float32 (the CPU's leaves it alone)."""

    type: Literal["groupnorm"] = "groupnorm"
    num_groups: Size
    eps: PositiveNumber = 1e-5
    affine: Flag = True
    num_channels: Optional[Size] = Field(None, description="Inferred from the input; if stated, it must agree.")

    def output_shape(self, inp: Shape) -> Shape:
        check_stated(self.num_channels, inp[0], "num_channels")
        if inp[0] % self.num_groups:
            raise LayerRuleError(
                "the number of channels must be evenly divisible by num_groups. "
                f"Received: num_groups={self.num_groups}, channels={inp[0]}",
                field="num_groups",
            )
        return inp

    def weight_shapes(self, inp: Shape) -> dict[str, Shape]:
        return {"weight": (inp[0],), "bias": (inp[0],)} if self.affine else {}

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return Saved(input=True, tensors=_mean_and_invstd((self.num_groups,)))

    def node_fields(self, fields: Sequence[Fields], ins: Shapes, outs: Shapes) -> tuple[Fields, ...]:
        # each group's statistics read all its channels at every position
        n = positions(ins[0])
        spread = fields[0].map(lambda f: (receptive.spread(f[0], n[0]), receptive.spread(f[1], n[1])))
        return (spread.grouped(self.num_groups, ins[0][0], n),)

    def workspace(self, inp: Shape, out: Shape) -> tuple[Tensor, ...]:
        return _mean_and_invstd((self.num_groups,))

    def autocast_op(self) -> str:
        return "group_norm"

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.GroupNorm(self.num_groups, inp[0], self.eps, self.affine)


@register
class InstanceNorm2d(LayerKind):
    """Instance normalisation (`nn.InstanceNorm2d`): each channel of each sample normalised over its
    H x W positions; `2*C` trainable when affine, `2*C` running statistics when tracked. It needs
    more than one position (PyTorch refuses a 1x1 map in training).

    PyTorch computes it as batch norm over an (1, N*C, H, W) view, with the weight, bias and running
    statistics repeated N times. Saves (measured): its input, the batch norm's mean and inverse
    standard deviation (N*C values each), and the repeated weight and running statistics (N*C
    each, new tensors: not the parameters). Their dtype is the parameters' when a half input meets
    float32 parameters (autocast), except without affine parameters, where the running statistics
    are first cast to the input's dtype, and everything is in the input's dtype. CUDA: the same
    composite function runs, then batch norm (cuDNN's when affine), whose statistics are float32
    for half inputs.

    In training, beside what autograd saves, the repeated bias (affine) and the per-channel mean
    that updates the running statistics (tracked) are alive while the layer runs. Under autocast
    without affine parameters that mean is also made in the input's half dtype first (C values the
    memory model does not count)."""

    type: Literal["instancenorm2d"] = "instancenorm2d"
    eps: PositiveNumber = 1e-5
    momentum: Probability = 0.1
    affine: Flag = False
    track_running_stats: Flag = False
    num_features: Optional[Size] = Field(None, description="Inferred from the input; if stated, it must agree.")

    def output_shape(self, inp: Shape) -> Shape:
        c, h, w = volume(inp, self)
        check_stated(self.num_features, c, "num_features")
        if h * w == 1:
            raise LayerRuleError(
                "instance norm needs more than one position per channel: it normalises each channel of each "
                f"sample over its height x width. Received: input {shape_text(inp)}"
            )
        return inp

    def weight_shapes(self, inp: Shape) -> dict[str, Shape]:
        return {"weight": (inp[0],), "bias": (inp[0],)} if self.affine else {}

    def buffer_shapes(self, inp: Shape) -> dict[str, Shape]:
        return {"running_mean": (inp[0],), "running_var": (inp[0],)} if self.track_running_stats else {}

    @property
    def _dtype(self) -> str:
        # running statistics alone are cast to the input's dtype before they are repeated
        return ACTIVATION if self.track_running_stats and not self.affine else BATCH_STATISTICS

    def _repeated(self, inp: Shape, bias: bool) -> tuple[Tensor, ...]:
        """The weight (and bias), and the running statistics, each repeated for every sample."""
        count = (1 + bias if self.affine else 0) + (2 if self.track_running_stats else 0)
        return tuple(Tensor((inp[0],), self._dtype) for _ in range(count))

    def receptive_field(self, field: Spatial, inp: Shape) -> RField:
        # each channel's statistics read it at every position
        return (receptive.spread(field[0], inp[1]), receptive.spread(field[1], inp[2]))

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        # the repeated weight and running statistics, not the repeated bias
        stats = _mean_and_invstd((inp[0],), self._dtype)
        return Saved(input=True, tensors=(*stats, *self._repeated(inp, bias=False)))

    def autograd_workspace(self, inp: Shape, out: Shape) -> tuple[Tensor, ...]:
        # in training, beside what is saved: the bias repeated for every sample, and the per-channel
        # mean that updates each running statistic
        bias = (Tensor((inp[0],), self._dtype),) if self.affine else ()
        means = (Tensor((inp[0],), BATCH_STATISTICS, per_sample=False),) if self.track_running_stats else ()
        return (*bias, *means)

    def workspace(self, inp: Shape, out: Shape) -> tuple[Tensor, ...]:
        # in evaluation: the repeated tensors; with no running statistics, the batch's own as well
        stats = () if self.track_running_stats else _mean_and_invstd((inp[0],), self._dtype)
        return (*stats, *self._repeated(inp, bias=True))

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.InstanceNorm2d(
            inp[0], self.eps, self.momentum, affine=self.affine, track_running_stats=self.track_running_stats
        )


@register
class BatchNorm1d(BatchNorm2d):
    """Batch normalisation of flat features (`nn.BatchNorm1d` on (N, features)): `2*F` trainable
    when affine, `2*F` running statistics when tracked. Saves what `batchnorm2d` saves: its input
    and the batch's mean and inverse standard deviation per feature."""

    type: Literal["batchnorm1d"] = "batchnorm1d"  # type: ignore[assignment]  # its own kind, batchnorm2d's rules

    def output_shape(self, inp: Shape) -> Shape:
        if len(inp) != 1:
            raise LayerRuleError(
                f"needs a flat vector but its input is the volume {shape_text(inp)}; use batchnorm2d for volumes"
            )
        check_stated(self.num_features, inp[0], "num_features")
        return inp

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.nn.BatchNorm1d(
            inp[0], self.eps, self.momentum, affine=self.affine, track_running_stats=self.track_running_stats
        )
