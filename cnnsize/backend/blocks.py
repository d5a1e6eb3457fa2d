"""cnnsize's own small torch modules: the network (a graph executor), the joins and splits, channel
pooling, a convolution padded explicitly (TensorFlow's `same` at stride > 1 pads more at the
bottom/right, which `nn.Conv2d`'s symmetric padding cannot say), ConvNeXt's channel layer norm,
layer scale and stochastic depth, a centre crop and a reshape.

Importing this module imports torch: only the backend does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from cnnsize.errors import SpecPath


def zero_pad2d(top: int, bottom: int, left: int, right: int) -> nn.ZeroPad2d:
    """`nn.ZeroPad2d` from cnnsize's order [top, bottom, left, right] (torch takes left, right, top,
    bottom)."""
    return nn.ZeroPad2d((left, right, top, bottom))


class PaddedConv2d(nn.Module):
    """`pad` (an `nn.ZeroPad2d`), then `conv` (an unpadded `nn.Conv2d`)."""

    def __init__(self, pad: nn.ZeroPad2d, conv: nn.Conv2d):
        super().__init__()
        self.pad = pad
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class Add(nn.Module):
    """The sum of its inputs: `((a + b) + c) + ...`."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0] + xs[1]
        for x in xs[2:]:
            out = out + x
        return out


class Mul(nn.Module):
    """The element-wise product of two inputs, broadcasting as PyTorch does."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a * b


class Cat(nn.Module):
    """Its inputs joined along `dim` (1: channels, or features when flat)."""

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Chunk(nn.Module):
    """`torch.chunk(x, chunks, dim)`: views of the input."""

    def __init__(self, chunks: int, dim: int = 1):
        super().__init__()
        self.chunks = chunks
        self.dim = dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.chunk(x, self.chunks, dim=self.dim)

    def extra_repr(self) -> str:
        return f"chunks={self.chunks}, dim={self.dim}"


class Split(nn.Module):
    """`torch.split(x, split_size_or_sections, dim)`: views of the input."""

    def __init__(self, split_size_or_sections: int | list[int], dim: int = 1):
        super().__init__()
        self.split_size_or_sections = split_size_or_sections
        self.dim = dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.split(x, self.split_size_or_sections, dim=self.dim)

    def extra_repr(self) -> str:
        return f"split_size_or_sections={self.split_size_or_sections}, dim={self.dim}"


class ChannelPool(nn.Module):
    """Max or mean over groups of `kernel_size` neighbouring channels: (N, C, H, W) -> (N, C/k, H, W)."""

    def __init__(self, kernel_size: int, mode: Literal["max", "avg"]):
        super().__init__()
        self.kernel_size = kernel_size
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = x.unflatten(1, (x.shape[1] // self.kernel_size, self.kernel_size))
        return groups.amax(dim=2) if self.mode == "max" else groups.mean(dim=2)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, mode={self.mode!r}"


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels at each position of an (N, C, H, W) batch, the way torchvision's
    ConvNeXt computes it: the channels moved last by a permuted view, `F.layer_norm` over them, and
    the result permuted back, so the output is a view with channels-last strides."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels_last = x.permute(0, 2, 3, 1)
        normed = F.layer_norm(channels_last, self.normalized_shape, self.weight, self.bias, self.eps)
        return normed.permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """A learnable multiplier per channel (ConvNeXt's layer scale): `gamma * x`, with `gamma` of shape
    (C, 1, 1) for volumes or (C,) for flat vectors, filled with `init_value`."""

    def __init__(self, shape: tuple[int, ...], init_value: float):
        super().__init__()
        self.init_value = init_value  # kept for `cnnsize import`: training changes gamma itself
        self.gamma = nn.Parameter(torch.full(shape, float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gamma * x


class StochasticDepth(nn.Module):
    """Drops whole samples (`row`) or the whole batch (`batch`) with probability `p` in training,
    scaling what survives by 1/(1 - p), as `torchvision.ops.stochastic_depth` does: a Bernoulli
    noise tensor of shape (N, 1, ...) or (1, 1, ...) in the input's dtype, multiplied in. Outside
    training, or at p = 0, it returns its input itself."""

    def __init__(self, p: float, mode: Literal["row", "batch"]):
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = 1.0 - self.p
        shape = [1] * x.dim()
        if self.mode == "row":
            shape[0] = x.shape[0]
        noise = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        if keep > 0:
            noise.div_(keep)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"


class CenterCrop(nn.Module):
    """The centre `size` = (h, w) of each map, as a view: `x[..., top:top + h, left:left + w]` with
    `top = (H - h) // 2` and `left = (W - w) // 2` (an odd surplus is cut at the bottom/right)."""

    def __init__(self, size: tuple[int, int]):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.size
        top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
        return x[..., top : top + h, left : left + w]

    def extra_repr(self) -> str:
        return f"size={self.size}"


class Reshape(nn.Module):
    """Each sample reshaped to `shape` (one entry may be -1): `x.reshape(N, *shape)`, a view of a
    contiguous input."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Layers(nn.Sequential):
    """A list of the spec's layers (or a composite's), holding their modules under the spec's names
    and indices. The `Network` runs them in graph order; a list alone is not run."""

    def forward(self, *args: object) -> object:
        raise RuntimeError("this is one list of a cnnsize network's layers; run the whole Network instead")


@dataclass(frozen=True)
class Step:
    """One node of the graph: its module, the values it reads, those it makes, those it is the last
    reader of (released after it runs)."""

    module: nn.Module
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    frees: tuple[int, ...]


class Network(nn.Module):
    """A built spec: `layers` holds the modules, nested as the spec's layers are; `forward` runs the
    graph node by node, releasing each tensor once its last reader has run.

    `module_names` maps each spec path (`('layers', 3, 'body', 0)`, `('layers', 3, 'add')` for a
    residual's join) to the qualified name of the module built for it (`'layers.3.body.0'`, or
    `'layers.block1.body.0'` where the layer is named).
    """

    def __init__(
        self,
        layers: nn.Module,
        steps: list[Step],
        input_shapes: list[tuple[int, ...]],
        outputs: tuple[int, ...],
        values: int,
        module_names: dict[SpecPath, str],
    ):
        super().__init__()
        self.layers = layers
        self.steps = steps
        self.input_shapes = input_shapes
        self.output_values = outputs
        self.value_count = values
        self.module_names = module_names

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of the one input (one sample)."""
        if len(self.input_shapes) != 1:
            raise ValueError(f"the network has {len(self.input_shapes)} inputs; see input_shapes")
        return self.input_shapes[0]

    def forward(self, *inputs: torch.Tensor) -> Any:
        if len(inputs) != len(self.input_shapes):
            raise TypeError(f"the network takes {len(self.input_shapes)} input(s), got {len(inputs)}")
        values: list[Any] = [*inputs, *([None] * (self.value_count - len(inputs)))]
        del inputs  # the caller holds them; the list releases them after their last reader
        for step in self.steps:
            result = step.module(*[values[v] for v in step.inputs])
            if len(step.outputs) == 1:
                values[step.outputs[0]] = result
            else:  # indexed, not iterated, so that torch.fx can trace the network (`cnnsize import`)
                for i, v in enumerate(step.outputs):
                    values[v] = result[i]
            del result
            for v in step.frees:
                values[v] = None
        outputs = tuple(values[v] for v in self.output_values)
        return outputs[0] if len(outputs) == 1 else outputs

    def module_at(self, path: SpecPath) -> nn.Module:
        """The module built for the layer at `path`."""
        return self.get_submodule(self.module_names[path])

    def example_inputs(
        self, batch_size: int = 1, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
    ) -> tuple[torch.Tensor, ...]:
        """A random batch for each input, of the spec's input shapes."""
        return tuple(torch.randn(batch_size, *shape, dtype=dtype, device=device) for shape in self.input_shapes)

    def example_input(
        self, batch_size: int = 1, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
    ) -> torch.Tensor:
        """A random input batch of the spec's (one) input shape."""
        return torch.randn(batch_size, *self.input_shape, dtype=dtype, device=device)
