"""The importer's second tracer: `torch.export.export`, for a module torch.fx cannot trace (Python
control flow on shapes, `if x.shape[-1] > 32:`, which export resolves for the example input).

Export gives ATen operators with the parameters lifted to inputs. Each operator carries the module
calls it ran inside (`nn_module_stack`): the operators of one call of a `torch.nn` module (the
modules torch.fx would not trace into) are one module call, mapped by the module's own attributes
as torch.fx's `call_module` nodes are, and named by its path; every other operator is a call of the
`forward`, mapped by `import_functions.ATEN`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import operator
from typing import Any, Optional

import torch
from torch import fx, nn

from cnnsize.backend.import_functions import gives_tensors
from cnnsize.backend.import_trace import Call, Traced


def _leaf(model: nn.Module, stack: dict[str, Any], tracer: fx.Tracer) -> Optional[tuple[str, str, nn.Module]]:
    """The outermost module call in `stack` that `tracer` (the importer's torch.fx tracer) would not
    trace into (a `torch.nn` module or one of cnnsize's executor modules, not a container), as (the
    call's key, its path, the module); None for the forward's own."""
    for key, (path, _) in stack.items():
        if not path:
            continue
        try:
            module = model.get_submodule(path)
        except AttributeError:
            continue
        if tracer.is_leaf_module(module, path):
            return key, path, module
    return None


def _pieces(leaving: list[fx.Node], inside: set[fx.Node]) -> Optional[fx.Node]:
    """The one operator of a module call whose outputs leave it only as `result[i]` (a chunk or
    split), or None."""
    sources = {n.args[0] for n in leaving if n.target is operator.getitem}
    if len(leaving) < 2 or len(sources) != 1 or any(n.target is not operator.getitem for n in leaving):
        return None
    source = sources.pop()
    return source if isinstance(source, fx.Node) and source in inside else None


def exported(model: nn.Module, example: torch.Tensor, tracer: fx.Tracer) -> Traced:
    """`model` exported with `example` (in eval mode, so that batch norm reads its running
    statistics), its operators grouped into calls of the modules `tracer` keeps whole (as torch.fx
    would have: the same layers, whichever tracer made them)."""
    was = model.training
    model.eval()
    logging.disable(logging.CRITICAL)  # export logs its failed guards and prints graph dumps; its error says enough
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            program = torch.export.export(model, (example,))
    finally:
        logging.disable(logging.NOTSET)
        model.train(was)
    signature = program.graph_signature
    named = {**signature.inputs_to_parameters, **signature.inputs_to_buffers}
    named.update(getattr(signature, "inputs_to_lifted_tensor_constants", {}))
    graph = program.graph
    traced = Traced(graph, "torch.export", {})
    groups: dict[str, tuple[str, nn.Module, list[fx.Node]]] = {}
    for node in graph.nodes:
        if node.op == "placeholder":
            if node.name in named:
                traced.weights[node] = named[node.name]
            elif node.name in signature.user_inputs:
                traced.inputs.append(node)
            continue
        stack = node.meta.get("nn_module_stack") or {}
        found = _leaf(model, stack, tracer) if node.op == "call_function" else None
        if found is not None:
            key, path, module = found
            groups.setdefault(key, (path, module, []))[2].append(node)
    for path, module, members in groups.values():
        inside = set(members)
        leaving = [n for n in members if any(user not in inside for user in n.users)]
        reads: list[fx.Node] = []
        for member in members:
            for read in member.all_input_nodes:
                if read not in inside and read not in traced.weights and read not in reads and gives_tensors(read):
                    reads.append(read)
        pieces = _pieces(leaving, inside)
        if pieces is not None:  # a module giving several tensors (cnnsize's Chunk, Split): one call, its ports read
            traced.calls[pieces] = Call(path, module, reads)
            traced.inside |= inside - {pieces, *leaving}
            continue
        if len(leaving) != 1:
            last = members[-1]
            traced.problems[last] = f"{type(module).__name__} {path} gives {len(leaving)} tensors"
            traced.inside |= inside - {last}
            continue
        traced.calls[leaving[0]] = Call(path, module, reads)
        traced.inside |= inside - {leaving[0]}
    return traced


__all__ = ["exported"]
