"""Importing what `cnnsize.build` makes: cnnsize's own executor modules (`cnnsize.backend.blocks`)
mapped back to the kinds that built them, a tracer that keeps every mapped module whole (fx would
otherwise trace into `Add.forward` or `LayerNorm2d.forward` and meet permutes and loops), and the
entry point that lets torch.fx trace a `Network` (its `forward(*inputs)` takes any number of inputs,
which fx cannot make placeholders for: a one-input wrapper calls it, and the wrapper's prefix is
dropped from the layer names, so they are the spec's module paths).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Optional

from torch import fx, nn

from cnnsize.backend import blocks
from cnnsize.backend.import_functions import cnnsize_padding, layernorm2d

Rule = Callable[[Any], dict[str, Any]]


def _dim(m: Any, default: int = 1) -> dict[str, Any]:
    return {} if m.dim == default else {"dim": m.dim}


def _layer_scale(m: blocks.LayerScale) -> dict[str, Any]:
    # the value `gamma` was filled with, which the module keeps (training changes gamma itself)
    return {"type": "layer_scale", "init_value": m.init_value}


def _stochastic_depth(m: blocks.StochasticDepth) -> dict[str, Any]:
    return {"type": "stochastic_depth", "p": m.p, **({} if m.mode == "row" else {"mode": m.mode})}


def _channel_pool(m: blocks.ChannelPool) -> dict[str, Any]:
    return {"type": f"channel_{m.mode}pool", "kernel_size": m.kernel_size}


def _reshape(m: blocks.Reshape) -> dict[str, Any]:
    return {"type": "reshape", "shape": list(m.shape)}


def _center_crop(m: blocks.CenterCrop) -> dict[str, Any]:
    h, w = m.size
    return {"type": "center_crop", "size": h if h == w else [h, w]}


def _split(m: blocks.Split) -> dict[str, Any]:
    sections = m.split_size_or_sections
    listed = list(sections) if isinstance(sections, (list, tuple)) else sections
    return {"type": "split", "split_size_or_sections": listed, **_dim(m)}


def _padded(convolution: Rule) -> Rule:
    """`PaddedConv2d` (an explicit `nn.ZeroPad2d`, then an unpadded `nn.Conv2d`) as one `conv2d`
    with its four paddings: how the builder writes padding that differs before and after."""

    def layer(m: blocks.PaddedConv2d) -> dict[str, Any]:
        found = convolution(m.conv)
        if "padding" in found:
            raise ValueError("PaddedConv2d whose convolution pads too")
        found["padding"] = cnnsize_padding(m.pad.padding)
        return found

    return layer


def executor_modules(convolution: Rule) -> dict[type, Rule]:
    """The rule of each of cnnsize's executor modules, given the importer's rule for `nn.Conv2d`
    (which `PaddedConv2d` holds)."""
    return {
        blocks.Add: lambda m: {"type": "add"},
        blocks.Mul: lambda m: {"type": "mul"},
        blocks.Cat: lambda m: {"type": "cat", **_dim(m)},
        blocks.Chunk: lambda m: {"type": "chunk", "chunks": m.chunks, **_dim(m)},
        blocks.Split: _split,
        blocks.ChannelPool: _channel_pool,
        blocks.LayerNorm2d: layernorm2d,
        blocks.LayerScale: _layer_scale,
        blocks.StochasticDepth: _stochastic_depth,
        blocks.CenterCrop: _center_crop,
        blocks.Reshape: _reshape,
        blocks.PaddedConv2d: _padded(convolution),
    }


class MappedTracer(fx.Tracer):
    """`fx.Tracer` that keeps every module the importer maps whole (a call_module node), besides
    torch.nn's own; the rest (a user's container, cnnsize's `Network`) is traced through."""

    def __init__(self, mapped: Mapping[type, Any]):
        super().__init__()
        self.mapped = mapped
        self.record_stack_traces = True  # so that an unmapped node can name its source line

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return type(m) in self.mapped or super().is_leaf_module(m, module_qualified_name)


class _NetworkEntry(nn.Module):
    """One input for fx to make a placeholder of, handed to the `Network`."""

    def __init__(self, network: blocks.Network):
        super().__init__()
        self.network = network

    def forward(self, input: Any) -> Any:
        return self.network(input)


PREFIX = "network.layers."
"""What the entry adds before a built network's module paths: dropped from the layer names."""


def traceable(model: nn.Module) -> tuple[nn.Module, str]:
    """What fx traces for `model`, and the prefix its module paths carry there (dropped from names)."""
    if not isinstance(model, blocks.Network):
        return model, ""
    if len(model.input_shapes) != 1:
        raise ValueError(f"the network has {len(model.input_shapes)} inputs; import takes one (--input C,H,W)")
    return _NetworkEntry(model), PREFIX


def layer_name(target: str, prefix: str) -> str:
    """A module's path as a layer name: the spec's own path for a built network."""
    return target[len(prefix) :] if prefix and target.startswith(prefix) else target


class FunctionLabels:
    """Layer names for function and method calls (`F.relu`, `+`, `torch.cat`): the path of the module
    whose `forward` made the call, then the function's name, numbered within that module from the
    second on (`layer1.0.add`, `layer1.0.relu`, `layer1.0.relu_1`; at the top, `add`, `relu_1`), so
    that the calls of every `layer1.N` have the same names below it (what folding compares) and
    never a module's (a container's either: its path is the name of a folded block's use)."""

    def __init__(self, root: nn.Module, prefix: str):
        self.taken = {"input", *(layer_name(name, prefix) for name, _ in root.named_modules() if name)}
        self.prefix = prefix

    def __call__(self, node: fx.Node, name: Optional[str] = None) -> str:
        """The label of the call `node`, named `name` (else as fx named the node), numbering off."""
        stack = node.meta.get("nn_module_stack") or {}
        where = str(list(stack.values())[-1][0]) if stack else ""
        where = "" if self.prefix.startswith(where + ".") else layer_name(where, self.prefix)
        name = name or node.name
        base = re.sub(r"_\d+$", "", name) or name
        return self.fresh(f"{where}.{base}" if where else base)

    def fresh(self, label: str) -> str:
        """`label`, or where it is taken `label_1`, `label_2`...: the first not taken, then taken."""
        name, number = label, 0
        while name in self.taken:
            number += 1
            name = f"{label}_{number}"
        self.taken.add(name)
        return name


def module_classes(model: nn.Module) -> dict[str, str]:
    """The class of each module of `model` by its path as the importer names layers (what folding
    names a block after: `layer1.0` -> `Bottleneck`)."""
    root, prefix = traceable(model)
    return {layer_name(name, prefix): type(m).__name__ for name, m in root.named_modules() if name}
