"""What ConvNeXt applies to the residual branch of each block before adding it back: a learnable
scale per channel (`layer_scale`) and stochastic depth, which drops the branch for a random
subset of samples in training.

What each saves for backward was measured with `saved_tensors_hooks` (torch 2.13, CPU); both are
a multiplication, the same on CUDA.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from cnnsize.fields import Number, Probability
from cnnsize.kinds.base import LayerKind, register
from cnnsize.kinds.saving import NOTHING, Saved, Tensor
from cnnsize.shapes import Shape

if TYPE_CHECKING:
    from torch import nn

    from cnnsize.kinds.torchkit import TorchKit


def _scale_shape(inp: Shape) -> Shape:
    """One value per channel, broadcast over the positions: (C, 1, 1) for volumes, (C,) for vectors."""
    return (inp[0],) + (1,) * (len(inp) - 1)


@register
class LayerScale(LayerKind):
    """A learnable multiplier per channel, `gamma * x` (ConvNeXt's layer scale): `C` parameters,
    initialised to `init_value` (ConvNeXt uses 1e-6).

    Saves (measured): its input, for gamma's gradient (gamma itself is saved for the input's, a
    parameter: no new memory). Under autocast the product of a half input with the float32 gamma
    is float32 (type promotion, on CPU and CUDA alike), and so is what follows it until the next
    convolution or linear layer."""

    type: Literal["layer_scale"] = "layer_scale"
    promotes_with_parameters = True
    init_value: Number = 1e-6

    def weight_shapes(self, inp: Shape) -> dict[str, Shape]:
        return {"gamma": _scale_shape(inp)}

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return Saved(input=True)

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.blocks.LayerScale(_scale_shape(inp), self.init_value)


@register
class StochasticDepth(LayerKind):
    """Stochastic depth (`torchvision.ops.stochastic_depth`): in training, each sample (`row`) or the
    whole batch (`batch`) is zeroed with probability `p` and the rest scaled by 1/(1 - p); outside
    training, or at `p: 0`, the input passes through. No parameters.

    Saves (measured): its noise tensor, one value per sample (`row`) or one in all (`batch`), in
    the input's dtype; nothing at `p: 0`. Not counted: the noise of a layer that records nothing
    in training (no gradient flows into it), alive while it runs."""

    type: Literal["stochastic_depth"] = "stochastic_depth"
    p: Probability
    mode: Literal["row", "batch"] = "row"

    def _noise(self, inp: Shape) -> Tensor:
        if self.mode == "row":
            return Tensor((1,) * len(inp))
        return Tensor((1,) * (len(inp) + 1), per_sample=False)

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING if self.p == 0 else Saved(tensors=(self._noise(inp),))

    def aliases_input(self, training: bool) -> bool:
        return not training or self.p == 0

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        return tk.blocks.StochasticDepth(self.p, self.mode)
