"""Building a spec as a torch `nn.Module`.

Each layer kind constructs its own module (`LayerKind.node_module`) from the input shapes the graph
resolved for it, so the engine and the builder read one declaration of the kind. This module only
walks the resolved graph, names the submodules after the spec, and lays out the steps the network
runs.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Optional

from torch import nn

from cnnsize.backend import blocks
from cnnsize.errors import PathKey, SpecPath
from cnnsize.graph import Graph, Group, Member, resolve
from cnnsize.kinds import LayerKind
from cnnsize.report import Report
from cnnsize.schema import Spec

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TorchKit:
    """What a kind needs to build its module: `torch.nn`, and cnnsize's own `blocks`
    (`cnnsize.kinds.torchkit.TorchKit` is the contract)."""

    nn: ModuleType
    blocks: ModuleType


KIT = TorchKit(nn=nn, blocks=blocks)


def build_network(spec: Spec, report: Optional[Report] = None) -> blocks.Network:
    """An `nn.Module` for `spec` (float32, on the CPU, in training mode, as torch creates modules).

    A spec the engine rejects raises the engine's `SpecError`. (`report`, an analysis of `spec`, is
    accepted for compatibility: the graph it was computed from is the spec's own.)
    """
    graph = report.graph if report is not None and report.graph is not None else resolve(spec)
    names = qualified_names(graph)
    root = blocks.Layers()
    steps: list[blocks.Step] = []
    frees = graph.frees()
    for node, free in zip(graph.nodes, frees):
        if node.shares is not None:  # the shared layer's module, called again
            module = steps[node.shares].module
        else:
            module = node.layer.node_module(node.in_shapes, KIT)
            _insert(root, names[node.path], module)
        steps.append(blocks.Step(module, node.inputs, node.outputs, tuple(free)))
    return blocks.Network(
        root,
        steps,
        [graph.values[v].shape for _, v in graph.inputs],
        tuple(v for _, v in graph.outputs),
        len(graph.values),
        names,
    )


def module_keys(layers: list[LayerKind]) -> list[str]:
    """The submodule name of each layer in a list: its `name` where that is a Python identifier used
    once in the list and free on `nn.Sequential`, else its index."""
    named = [layer.name for layer in layers if layer.name]
    keys = []
    for i, layer in enumerate(layers):
        name = layer.name
        usable = (
            name is not None
            and _IDENTIFIER.match(name) is not None
            and not keyword.iskeyword(name)
            and named.count(name) == 1
            and not hasattr(nn.Sequential(), name)
        )
        keys.append(name if usable and name is not None else str(i))
    return keys


def qualified_names(graph: Graph) -> dict[SpecPath, str]:
    """The qualified module name of every node and composite, by spec path: list entries are named
    by `module_keys`, a composite's lists and join by their spec keys (`body`, `branches.0`, `add`)."""
    entries: dict[SpecPath, dict[int, LayerKind]] = {}
    paths: list[SpecPath] = []
    stack: list[Member] = list(graph.tree)
    while stack:
        member = stack.pop()
        path, layer = (member.path, member.layer) if isinstance(member, Group) else _node(graph, member)
        paths.append(path)
        if isinstance(path[-1], int):
            entries.setdefault(path[:-1], {})[path[-1]] = layer
        if isinstance(member, Group):
            stack.extend(member.members)
    keys: dict[SpecPath, dict[int, str]] = {}
    for where, found in entries.items():
        positions = sorted(found)
        keys[where] = dict(zip(positions, module_keys([found[p] for p in positions])))
    names: dict[SpecPath, str] = {}
    for path in paths:
        parts: list[str] = [str(path[0])]
        for end in range(2, len(path) + 1):
            key: PathKey = path[end - 1]
            listed = keys.get(path[: end - 1])
            parts.append(listed[key] if isinstance(key, int) and listed and key in listed else str(key))
        names[path] = ".".join(parts)
    _name_shared(graph, names)
    return names


def _name_shared(graph: Graph, names: dict[SpecPath, str]) -> None:
    """A layer that shares another's weights is that layer's module, called again: its path (and a
    shared composite's, and the paths inside it) maps to that module's name."""
    for index, node in enumerate(graph.nodes):
        if node.shares is not None:
            names[node.path] = names[graph.nodes[node.shares].path]
    stack: list[Member] = list(graph.tree)
    while stack:
        member = stack.pop()
        if not isinstance(member, Group):
            continue
        stack.extend(member.members)
        first = next((m for m in _walk(member) if isinstance(m, int)), None)
        if member.layer.shares is None or first is None or graph.nodes[first].shares is None:
            continue
        inner = graph.nodes[first].path[len(member.path) :]  # the same place inside the shared composite
        owner = graph.nodes[graph.nodes[first].shares].path  # type: ignore[index]
        names[member.path] = names.get(owner[: len(owner) - len(inner)], names[member.path])


def _walk(group: Group) -> list[Member]:
    """The members of `group` and below, in execution order."""
    found: list[Member] = []
    for member in group.members:
        found.append(member)
        if isinstance(member, Group):
            found += _walk(member)
    return found


def _node(graph: Graph, index: int) -> tuple[SpecPath, LayerKind]:
    node = graph.nodes[index]
    return node.path, node.layer


def _insert(root: nn.Module, qualname: str, module: nn.Module) -> None:
    """Place `module` at `qualname` below the `layers` container, making the lists on the way."""
    parent = root
    parts = qualname.split(".")[1:]
    for part in parts[:-1]:
        child = parent._modules.get(part)
        if child is None:
            child = blocks.Layers()
            parent.add_module(part, child)
        parent = child
    parent.add_module(parts[-1], module)
