"""A module traced for the importer: torch.fx's `symbolic_trace` (with the shapes of an example
run recorded on every node, since sizes are often computed: `x.view(x.size(0), -1)`), and what the
importer's walk needs of either tracer (`import_export` is the other)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp


@dataclass
class Call:
    """One call of a module: its path, the module, and the tensors it reads."""

    path: str
    module: nn.Module
    reads: list[fx.Node]


@dataclass
class Traced:
    """A traced module as the importer walks it: the graph, which tracer made it, the module calls
    (by the node that gives each one's output), the nodes that make no layer of their own (inside a
    module call), the input placeholders, the parameters and buffers (by node, with their names),
    and module calls that cannot be one layer (by node, why)."""

    graph: fx.Graph
    tracer: str
    calls: dict[fx.Node, Call]
    inside: set[fx.Node] = field(default_factory=set)
    inputs: list[fx.Node] = field(default_factory=list)
    weights: dict[fx.Node, str] = field(default_factory=dict)
    problems: dict[fx.Node, str] = field(default_factory=dict)


def fx_traced(model: nn.Module, example: torch.Tensor, tracer: fx.Tracer) -> Traced:
    """`model` traced by `tracer` (which says the modules kept whole and records the stack traces
    an unmapped node names its source line from), then run on `example` (in eval mode, without
    gradients) to record every node's shape. Raises what fx raises on code it cannot trace."""
    graph = tracer.trace(model)
    module = fx.GraphModule(model, graph)
    was = model.training
    model.eval()
    try:
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):  # ShapeProp prints what it raises
            ShapeProp(module).propagate(example)
    finally:
        model.train(was)
    modules = dict(module.named_modules())
    traced = Traced(graph, "torch.fx", {})
    for node in graph.nodes:
        if node.op == "placeholder":
            traced.inputs.append(node)
        elif node.op == "get_attr":
            traced.weights[node] = str(node.target)
        elif node.op == "call_module":
            traced.calls[node] = Call(str(node.target), modules[str(node.target)], list(node.all_input_nodes))
    return traced


__all__ = ["Call", "Traced", "fx_traced"]
