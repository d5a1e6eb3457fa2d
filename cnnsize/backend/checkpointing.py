"""A built network with some of its blocks run under `torch.utils.checkpoint` (non-reentrant, as
PyTorch recommends): the torch side of `cnnsize.checkpointing`, so the planner's figures can be
measured against what PyTorch really holds."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from cnnsize.backend.blocks import Network, Step
from cnnsize.checkpointing import Block


class Checkpointed(nn.Module):
    """The steps of one block, run as one function under `torch.utils.checkpoint.checkpoint`: it
    keeps the values the block reads from outside (`inputs`) and runs the steps again in backward.
    The steps' modules stay registered where the network has them (this module holds none)."""

    def __init__(self, steps: Sequence[Step], inputs: tuple[int, ...], output: int):
        super().__init__()
        self._steps = list(steps)  # a plain list: not submodules of this one
        self._inputs = inputs
        self._output = output

    def run(self, *xs: torch.Tensor) -> torch.Tensor:
        values: dict[int, Any] = dict(zip(self._inputs, xs))
        del xs
        for step in self._steps:
            result = step.module(*[values[v] for v in step.inputs])
            if len(step.outputs) == 1:
                values[step.outputs[0]] = result
            else:
                for v, tensor in zip(step.outputs, result):
                    values[v] = tensor
            del result
            for v in step.frees:
                if v not in self._inputs and v != self._output:
                    values.pop(v, None)
        return values[self._output]

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return checkpoint(self.run, *xs, use_reentrant=False)  # type: ignore[no-any-return]


def checkpoint_blocks(network: Network, blocks: Sequence[Block]) -> Network:
    """`network` (modified in place, and returned) with each of `blocks` run under checkpointing."""
    by_first = {block.first: block for block in blocks}
    steps: list[Step] = []
    index = 0
    while index < len(network.steps):
        block = by_first.get(index)
        if block is None:
            steps.append(network.steps[index])
            index += 1
            continue
        inner = network.steps[block.first : block.last + 1]
        output = block.output
        frees = tuple(v for step in inner for v in step.frees if v in block.inputs)
        steps.append(Step(Checkpointed(inner, block.inputs, output), block.inputs, (output,), frees))
        index = block.last + 1
    network.steps = steps
    return network


__all__ = ["Checkpointed", "checkpoint_blocks"]
