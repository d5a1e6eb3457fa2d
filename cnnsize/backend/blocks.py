"""cnnsize's own small torch modules: the network, the two composites, channel pooling, and a
convolution padded explicitly (TensorFlow's `same` at stride > 1 pads more at the bottom/right,
which `nn.Conv2d`'s symmetric padding cannot say).

Importing this module imports torch: only the backend does.
"""

from __future__ import annotations

from typing import Literal

import torch
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


class Residual(nn.Module):
    """`body(x) + shortcut(x)`; an empty `shortcut` is the identity."""

    def __init__(self, body: nn.Sequential, shortcut: nn.Sequential):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class Concat(nn.Module):
    """Every branch on the same input, outputs joined on dim 1 (channels, or features when flat)."""

    def __init__(self, branches: list[nn.Sequential]):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


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


class Network(nn.Module):
    """A built spec: `layers` is an `nn.Sequential` whose submodules follow the spec's layers.

    `module_names` maps each spec path (`('layers', 3, 'body', 0)`) to the qualified name of the
    module built for it (`'layers.3.body.0'`, or `'layers.block1.body.0'` where the layer is named).
    """

    def __init__(self, layers: nn.Sequential, input_shape: tuple[int, ...], module_names: dict[SpecPath, str]):
        super().__init__()
        self.layers = layers
        self.input_shape = input_shape
        self.module_names = module_names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def module_at(self, path: SpecPath) -> nn.Module:
        """The module built for the layer at `path`."""
        return self.get_submodule(self.module_names[path])

    def example_input(
        self, batch_size: int = 1, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
    ) -> torch.Tensor:
        """A random input batch of the spec's input shape."""
        return torch.randn(batch_size, *self.input_shape, dtype=dtype, device=device)
