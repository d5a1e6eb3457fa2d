"""The graph a spec stands for, resolved once: every analysis (engine, memory model, planner, depth)
and the PyTorch builder walk it instead of the spec's tree.

A spec is written as a list of layers, each taking the previous layer's output unless it says
`from:`; composites (`residual`, `concat`, `sequential`, and every block use) are sugar for small
graphs. Resolving turns that into:

- **values**: tensors, each with its shape (one sample), made by a node or given as an input;
- **nodes**: one per leaf, join or split layer, in execution order, with the values they read and
  make; a composite becomes its sequences' nodes followed by its join node (`add` at the
  residual's path + `add`, `cat` at the concat's path + `cat`);
- **groups**: the composites as written, holding their members in order, for reports' nested rows.

Names are looked up the way variables are in a program: a layer sees the names of the layers before
it in its own list, then those before its composite in the enclosing list, and so on; `input` is the
input of the innermost list (the spec's input at the top). A name used by two earlier layers of one
list is ambiguous; a later layer (or the layer itself) cannot be an input. Layers whose output
reaches no output of the network are left out, with a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Optional, Union

from cnnsize.errors import LayerRuleError, Location, Problem, SpecError, SpecPath, format_path
from cnnsize.kinds import Composite, Join, LayerKind, Split
from cnnsize.kinds.base import Reference, Shapes
from cnnsize.kinds.joins import join_of
from cnnsize.kinds.shared import SharedLayer, differences
from cnnsize.shapes import Shape, shape_text
from cnnsize.spelling import suggest
from cnnsize.values import lookup

if TYPE_CHECKING:
    from cnnsize.schema import Spec

INPUT = "input"

LEFT_OUT = -2
"""The producer of a value kept only as a composite's input, its layers left out (see `Value`)."""

MAX_NESTING = 128
# PyTorch sizes a tensor in 64-bit integers: no tensor holds more elements than this. Refusing
# larger ones keeps every figure the tool prints (bytes at any batch size, sums over 200,000
# layers) a number every format can write exactly.
MAX_ELEMENTS = 2**63 - 1
"""Most composites inside one another (blocks nest through `sequential` layers)."""


@dataclass(frozen=True)
class Value:
    """A tensor of the network: its shape for one sample, who makes it (`producer`, a node's index,
    and which of its outputs, `port`; -1 for an input of the network; `LEFT_OUT` for the input of a
    composite whose layers do not read it, made by layers left out), and how messages name it."""

    shape: Shape
    producer: int
    port: int
    label: str


@dataclass(frozen=True)
class Node:
    """One leaf, join or split layer: where it is written, the kind, and the values it reads and makes.
    `shares`: the node whose weights it uses (the same module called again: its parameters are that
    node's, counted there once), or None for a node with weights of its own."""

    path: SpecPath
    layer: LayerKind
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    in_shapes: Shapes
    out_shapes: Shapes
    shares: Optional[int] = None


@dataclass(frozen=True)
class Group:
    """A composite as written: its members (node indices and groups) in execution order, its join
    node last; `output` is the value it gives."""

    path: SpecPath
    layer: Composite
    members: tuple["Member", ...]
    input: int
    output: int


Member = Union[int, Group]


@dataclass(frozen=True)
class Graph:
    """A resolved spec. `inputs` and `outputs` are (name, value) pairs; `tree` the top-level entries
    in spec order; `consumers[v]` the nodes that read value v, in order; `warnings` what looks like a
    mistake without being one (a layer whose output nothing uses)."""

    inputs: tuple[tuple[str, int], ...]
    outputs: tuple[tuple[str, int], ...]
    values: tuple[Value, ...]
    nodes: tuple[Node, ...]
    tree: tuple[Member, ...]
    consumers: tuple[tuple[int, ...], ...]
    warnings: tuple[Problem, ...] = ()

    def last_use(self, value: int) -> int:
        """The index of the last node that reads `value` (-1 when none does)."""
        readers = self.consumers[value]
        return readers[-1] if readers else -1

    def frees(self) -> list[list[int]]:
        """For each node, the values it is the last reader of (outputs of the network excepted)."""
        kept = {v for _, v in self.outputs}
        after: list[list[int]] = [[] for _ in self.nodes]
        for v in range(len(self.values)):
            last = self.last_use(v)
            if last >= 0 and v not in kept:
                after[last].append(v)
        return after


def resolve(spec: "Spec") -> Graph:
    """The graph of `spec` (resolved once and kept on the spec); `SpecError` at the first problem."""
    graph = spec._graph
    if graph is None:
        graph = _Resolver(spec).run()
        spec._graph = graph
    return graph


# -- scopes: the names a layer can see -----------------------------------------------------------


@dataclass
class _Entry:
    """A layer of a list, once resolved: its position, the values it gives, the layer it is (a
    `{shares: ...}` entry resolved to the layer it repeats) and the nodes it made, in order."""

    position: int
    outputs: tuple[int, ...]
    names: tuple[str, ...] = ()  # a split's `names`, one per output
    layer: Optional[LayerKind] = None
    nodes: range = range(0)  # a range: O(1) however many nodes a composite holds


@dataclass
class _Scope:
    """A list of layers being resolved: its input, the layers' names, and the scope it sits in."""

    path: SpecPath
    layers: list[LayerKind]
    input: Optional[int]
    parent: Optional["_Scope"] = None
    parent_position: int = 0
    extra: dict[str, int] = field(default_factory=dict)  # names given from outside (the spec's inputs)
    entries: list[_Entry] = field(default_factory=list)
    _index: Optional[dict[str, list[int]]] = None

    def named(self, name: str) -> list[int]:
        """Positions of the layers of this list named `name` (split outputs by their `names` too)."""
        if self._index is None:
            self._index = {}
            for i, layer in enumerate(self.layers):
                for n in dict.fromkeys(_names_of(layer)):
                    self._index.setdefault(n, []).append(i)
        return self._index.get(name, [])


# -- the resolver --------------------------------------------------------------------------------


class _Resolver:
    def __init__(self, spec: "Spec"):
        self.spec = spec
        self.values: list[Value] = []
        self.nodes: list[Node] = []
        self.depth = 0

    def run(self) -> Graph:
        inputs: list[tuple[str, int]] = []
        for name, shape in self.spec.named_inputs:
            where: SpecPath = ("input",) if self.spec.inputs is None else ("inputs", name)
            self.refuse_too_large(tuple(shape), where, "the input" if self.spec.inputs is None else f"input '{name}'")
            self.values.append(Value(tuple(shape), -1, len(inputs), name))
            inputs.append((name, len(self.values) - 1))
        first = inputs[0][1] if len(inputs) == 1 else None
        scope = _Scope(("layers",), self.spec.layers, first, extra=dict(inputs))
        tree, last, multi = self.sequence(scope)
        if multi is not None and self.spec.outputs is None:
            raise self.fail(
                scope.path + (multi,),
                f"{self.who(scope, multi)} gives several outputs and ends the network: list them in `outputs:`",
            )
        outputs = self.outputs(scope, last)
        self.refuse_in_place_on_split_views()
        return _prune(self.spec, inputs, outputs, self.values, self.nodes, tree)

    # locations and errors

    def locate(self, path: SpecPath, *, key: bool = False) -> Location:
        return self.spec.locate(path, key=key)

    def fail(self, path: SpecPath, message: str) -> SpecError:
        return SpecError.at(message, self.locate(path))

    def rule_error(self, layer: LayerKind, exc: LayerRuleError, path: SpecPath, labels: str = "") -> SpecError:
        who = f"{layer.kind} '{layer.name}'" if layer.name else layer.kind
        target = path + (exc.field,) if exc.field else path
        extra = f" (from {labels})" if labels and exc.field == "from" else ""
        return self.fail(target, f"{who}: {exc.message}{extra}")

    def refuse_too_large(self, shape: Shape, path: SpecPath, who: str) -> None:
        if math.prod(shape) > MAX_ELEMENTS:  # dims are below 10**308 each: the product stays cheap
            dims = "x".join(str(d) if d < 10**12 else f"~1e{len(str(d)) - 1}" for d in shape)
            raise self.fail(
                path,
                f"{who} is {dims}: more than {MAX_ELEMENTS:,} (2**63 - 1) elements, "
                "the most a tensor holds (PyTorch's sizes are 64-bit integers)",
            )

    # lists of layers

    def sequence(self, scope: _Scope) -> tuple[list[Member], Optional[int], Optional[int]]:
        """Resolve a list of layers; returns its members, its output (its input when empty), and the
        position of its last layer when that gives several outputs (the output is then None)."""
        members: list[Member] = []
        previous: Optional[int] = scope.input
        multi: Optional[int] = None  # position of a previous layer with several outputs
        for i, layer in enumerate(scope.layers):
            path = scope.path + (i,)
            owner: Optional[_Entry] = None
            if layer.shares is not None:
                layer, owner = self.shared(layer, scope, i, path)
            first = len(self.nodes)
            inputs = self.inputs_of(layer, scope, i, previous, multi, path)
            if isinstance(layer, Composite):
                group = self.composite(layer, inputs[0], scope, i, path)
                members.append(group)
                outputs: tuple[int, ...] = (group.output,)
            else:
                index = self.node(layer, inputs, path)
                members.append(index)
                outputs = self.nodes[index].outputs
            made = range(first, len(self.nodes))
            if owner is not None:
                self.share(made, owner, path, str(layer.shares))
            names = tuple(layer.names or ()) if isinstance(layer, Split) else ()
            scope.entries.append(_Entry(i, outputs, names, layer, made))
            previous, multi = (outputs[0], None) if len(outputs) == 1 else (None, i)
        return members, previous, multi

    def inner(self, scope: _Scope) -> tuple[list[Member], int]:
        """A composite's list: its members and its output, which must be one value."""
        members, out, multi = self.sequence(scope)
        if multi is not None or out is None:
            raise self.fail(
                scope.path + (multi or 0,),
                f"{self.who(scope, multi or 0)} gives several outputs and ends the list of a composite, "
                "whose output must be one tensor",
            )
        return members, out

    def composite(self, layer: Composite, x: int, scope: _Scope, position: int, path: SpecPath) -> Group:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail(path, f"layers nest more than {MAX_NESTING} composites deep")
        members: list[Member] = []
        outputs: list[int] = []
        for sub, layers in layer.sequences():
            found, out = self.inner(_Scope(path + sub, layers, x, scope, position))
            members += found
            outputs.append(out)
        shape = self.values[x].shape
        try:
            for sub, layers in layer.derived_sequences(shape, [self.values[o].shape for o in outputs]):
                found, out = self.inner(_Scope(path + sub, layers, x, scope, position))
                members += found
                outputs.append(out)
            layer.merge([self.values[o].shape for o in outputs])
        except LayerRuleError as exc:
            raise self.rule_error(layer, exc, path) from None
        join = join_of(layer.join_kind)
        output = outputs[0]
        if join is not None:
            index = self.node(join, tuple(outputs), path + (join.kind,))
            members.append(index)
            output = self.nodes[index].outputs[0]
        if output != x:  # messages and tables name what the composite gives by the composite
            self.values[output] = replace(self.values[output], label=layer.name or format_path(path))
        self.depth -= 1
        return Group(path, layer, tuple(members), x, output)

    def node(self, layer: LayerKind, inputs: tuple[int, ...], path: SpecPath) -> int:
        shapes = tuple(self.values[v].shape for v in inputs)
        try:
            outs = layer.node_shapes(shapes)
        except LayerRuleError as exc:
            labels = ", ".join(self.values[v].label for v in inputs)
            raise self.rule_error(layer, exc, path, labels) from None
        for shape in outs:
            self.refuse_too_large(
                shape, path, f"the output of {layer.kind}" + (f" '{layer.name}'" if layer.name else "")
            )
        index = len(self.nodes)
        outputs = []
        for port, shape in enumerate(outs):
            label = self.label(layer, path, port, len(outs))
            self.values.append(Value(shape, index, port, label))
            outputs.append(len(self.values) - 1)
        self.nodes.append(Node(path, layer, inputs, tuple(outputs), shapes, outs))
        return index

    def label(self, layer: LayerKind, path: SpecPath, port: int, count: int) -> str:
        if isinstance(layer, Split) and layer.names:
            return layer.names[port]
        base = layer.name or format_path(path)
        return f"{base}.{port}" if count > 1 else base

    # shared weights

    def shared(self, layer: LayerKind, scope: _Scope, i: int, path: SpecPath) -> tuple[LayerKind, _Entry]:
        """The layer a `shares:` entry stands for, and the entry of the layer it shares: `{shares: x}`
        is x again (with its own `name` and `from`); a layer written out must be x's kind and fields."""
        ref = layer.shares
        assert ref is not None
        where = path + ("shares",)
        owner = self.sharing_owner(ref, scope, i, where)
        shared = owner.layer
        assert shared is not None
        if isinstance(layer, SharedLayer):
            return shared.model_copy(update={"name": layer.name, "from_": layer.from_, "shares": ref}), owner
        differ = differences(layer, shared)
        if differ:
            raise self.fail(
                where,
                f"shares the weights of '{ref}', so it is that module called again, but {'; '.join(differ)}: "
                f"write the same kind and fields, or `{{shares: {ref}}}` alone",
            )
        return layer, owner

    def sharing_owner(self, ref: str, scope: _Scope, i: int, where: SpecPath) -> _Entry:
        """The entry of the earlier layer named `ref`, looked up as `from:` looks up names."""
        chain = _outward(scope, i)
        for s, at in chain:
            earlier = [p for p in s.named(ref) if p < at]
            if len(earlier) > 1:
                places = " and ".join(format_path(s.path + (p,)) for p in earlier[-2:])
                raise self.fail(where, f"'{ref}' is ambiguous: {places} are both named so; rename one")
            if earlier:
                return s.entries[earlier[0]]
        for s, at in chain:
            later = [p for p in s.named(ref) if p >= at]
            if later:
                if s is scope and later[0] == i:
                    raise self.fail(where, f"a layer cannot share its own weights ('{ref}' is this layer)")
                place = format_path(s.path + (later[0],))
                if s is not scope and later[0] == at:
                    raise self.fail(where, f"'{ref}' is {place}, which holds this layer: a layer cannot share the "
                                           "weights of the composite it is in")  # fmt: skip
                raise self.fail(where, f"'{ref}' is {place}, which comes later: a layer can only share the weights "
                                       "of an earlier one")  # fmt: skip
        visible: list[str] = []
        for s, at in chain:
            visible += [n for layer in s.layers[:at] for n in _names_of(layer)]
        known = f"; names in reach: {', '.join(dict.fromkeys(visible))}" if visible else ""
        raise self.fail(where, f"no layer named '{ref}' before this one to share weights with"
                               f"{suggest(ref, visible)}{known}")  # fmt: skip

    def share(self, made: range, owner: _Entry, path: SpecPath, ref: str) -> None:
        """Mark the nodes a `shares:` entry made as using the weights of the shared layer's nodes,
        one for one; the weights must fit their inputs here (a convolution's input channels...)."""
        where = path + ("shares",)
        if len(made) != len(owner.nodes):
            raise self.fail(
                where,
                f"shares the weights of '{ref}', which is {len(owner.nodes)} layers there but {len(made)} here "
                "(`shortcut: auto` follows the input's shape): give it an input of the same shape",
            )
        for mine, theirs in zip(made, owner.nodes):
            node, other = self.nodes[mine], self.nodes[theirs]
            here = {**node.layer.node_weights(node.in_shapes), **node.layer.node_buffers(node.in_shapes)}
            there = {**other.layer.node_weights(other.in_shapes), **other.layer.node_buffers(other.in_shapes)}
            if here != there:
                tensor = next(k for k in dict.fromkeys([*there, *here]) if here.get(k) != there.get(k))
                inputs = ", ".join(shape_text(shape) for shape in node.in_shapes)
                theirs_in = ", ".join(shape_text(shape) for shape in other.in_shapes)
                which = "" if mine == made[0] and len(made) == 1 else f" (at {format_path(node.path)})"
                raise self.fail(
                    where,
                    f"shares the weights of '{ref}', but they do not fit the input here{which}: its {tensor} is "
                    f"{_tensor_text(there.get(tensor))} for an input of {theirs_in}; an input of {inputs} needs "
                    f"{_tensor_text(here.get(tensor))}",
                )
            root = other.shares if other.shares is not None else theirs
            self.nodes[mine] = replace(node, shares=root)

    # what a layer reads

    def inputs_of(
        self,
        layer: LayerKind,
        scope: _Scope,
        i: int,
        previous: Optional[int],
        multi: Optional[int],
        path: SpecPath,
    ) -> tuple[int, ...]:
        low, high = (1, 1) if isinstance(layer, Composite) else layer.inputs_range
        refs = layer.from_
        if refs is None:
            if isinstance(layer, Join):
                raise self.fail(
                    path,
                    f"{layer.kind} joins {low if low == high else f'{low} or more'} inputs: name them in order "
                    "with `from:` (for example `from: [stem, -1]`: the layer named stem, and the layer before)",
                )
            if multi is not None:
                name = self.who(scope, multi)
                raise self.fail(path, f"{name} gives several outputs: say which this layer takes with `from:` "
                                      f"(`{self.port_hint(scope, multi)}`)")  # fmt: skip
            if previous is None:
                names = ", ".join(scope.extra)
                raise self.fail(path, f"the spec has several inputs ({names}): say which this layer takes with `from:`")
            return (previous,)
        where = path + ("from",)
        if len(refs) < low or (high is not None and len(refs) > high):
            wants = f"{low}" if low == high else f"{low} or more" if high is None else f"{low} to {high}"
            raise self.fail(where, f"{layer.kind} takes {wants} input{'s' if wants != '1' else ''}, "
                                   f"but `from` names {len(refs)}")  # fmt: skip
        listed = isinstance(self.raw_from(path), list)
        return tuple(self.lookup(ref, scope, i, where + (j,) if listed else where) for j, ref in enumerate(refs))

    def raw_from(self, path: SpecPath) -> object:
        """How `from` is written at `path` (a list, or one reference), for pointing at list items."""
        document = self.spec._document
        return lookup(document.data, path + ("from",)) if document is not None else None

    def who(self, scope: _Scope, position: int) -> str:
        layer = scope.layers[position]
        where = format_path(scope.path + (position,))
        return f"{where} ({layer.name})" if layer.name else where

    def port_hint(self, scope: _Scope, position: int) -> str:
        layer = scope.layers[position]
        if isinstance(layer, Split) and layer.names:
            return f"from: {layer.names[0]}"
        if layer.name:
            return f"from: {layer.name}.0"
        return "give it a `name`, then take `<name>.0`"

    def lookup(self, ref: Reference, scope: _Scope, i: int, where: SpecPath) -> int:
        """The value `ref` names from position i of `scope`."""
        if isinstance(ref, int):
            return self.offset(ref, scope, i, where)
        chain = _outward(scope, i)
        for s, at in chain:
            found = self.find(ref, s, at, where)
            if found is not None:
                return found
        raise self.fail(where, self.not_found(ref, chain, i))

    def find(self, ref: str, scope: _Scope, before: int, where: SpecPath) -> Optional[int]:
        """The value `ref` names among the layers before `before` in `scope`, or its input."""
        for name, port in _splits(ref):
            earlier = [p for p in scope.named(name) if p < before]
            if len(earlier) > 1:
                places = " and ".join(format_path(scope.path + (p,)) for p in earlier[-2:])
                raise self.fail(where, f"'{name}' is ambiguous: {places} are both named so; rename one")
            if earlier:
                return self.output_of(scope, earlier[0], name, port, where)
            if port is None and name in scope.extra:
                return scope.extra[name]
            if port is None and name == INPUT and scope.input is not None and not scope.extra:
                return scope.input
        return None

    def output_of(self, scope: _Scope, position: int, name: str, port: Optional[str], where: SpecPath) -> int:
        entry = scope.entries[position]
        if name in entry.names:  # a split's output by its own name
            return entry.outputs[entry.names.index(name)]
        if port is None:
            if len(entry.outputs) == 1:
                return entry.outputs[0]
            raise self.fail(where, f"'{name}' gives {len(entry.outputs)} outputs: say which, "
                                   f"'{name}.0' to '{name}.{len(entry.outputs) - 1}'")  # fmt: skip
        index = int(port) if port.isdigit() else -1
        if not 0 <= index < len(entry.outputs):
            count = len(entry.outputs)
            what = f"its outputs are {name}.0 to {name}.{count - 1}" if count > 1 else "it has one output"
            raise self.fail(where, f"'{name}' has no output '{port}': {what}")
        return entry.outputs[index]

    def offset(self, ref: int, scope: _Scope, i: int, where: SpecPath) -> int:
        k = i + ref
        if k >= 0:
            entry = scope.entries[k]
            if len(entry.outputs) != 1:
                raise self.fail(where, f"{ref} is {self.who(scope, k)}, which gives several outputs: "
                                       f"say which with `{self.port_hint(scope, k)}`")  # fmt: skip
            return entry.outputs[0]
        if k == -1 and scope.input is not None:
            return scope.input
        furthest = f"{-(i + 1)}, the list's input" if scope.input is not None else f"{-i}, its first layer"
        raise self.fail(where, f"{ref} reaches before the beginning of this list: from layer {i} of it, "
                               f"the furthest back is {furthest}")  # fmt: skip

    def not_found(self, ref: str, chain: list[tuple[_Scope, int]], i: int) -> str:
        for s, at in chain:
            for name, _ in _splits(ref):
                later = [p for p in s.named(name) if p >= at]
                if later:
                    if s is chain[0][0] and later[0] == i:
                        return f"a layer cannot take its own output ('{name}' is this layer)"
                    place = format_path(s.path + (later[0],))
                    return f"'{name}' is {place}, which comes later: a layer can only take earlier outputs"
        visible: list[str] = []
        for s, at in chain:
            visible += [n for p, layer in enumerate(s.layers[:at]) for n in _names_of(layer)]
            visible += list(s.extra) or ([INPUT] if s.input is not None else [])
        known = f"; names in reach: {', '.join(dict.fromkeys(visible))}" if visible else ""
        where = "in `layers`" if i == len(chain[0][0].layers) else "before this one"
        return f"no layer named '{ref}' {where}{suggest(ref, visible)}{known}"

    def refuse_in_place_on_split_views(self) -> None:
        """A split's outputs are views PyTorch's autograd will not let be modified in place (nor views
        of them): an in-place layer there fails in training, so it is refused here."""
        split_of: dict[int, int] = {}  # value -> the split node it is a view of
        for index, node in enumerate(self.nodes):
            views = node.layer.node_views(True, len(node.outputs))
            for v, source in zip(node.outputs, views):
                if isinstance(node.layer, Split):
                    split_of[v] = index
                elif source is not None and node.inputs[source] in split_of:
                    if getattr(node.layer, "inplace", False):
                        split = self.nodes[split_of[node.inputs[source]]]
                        raise self.fail(
                            node.path + ("inplace",),
                            f"{node.layer.kind} is in place, but its input is a view made by the {split.layer.kind} "
                            f"at {format_path(split.path)}, which PyTorch's autograd does not let be modified in "
                            "place: set `inplace: false`",
                        )
                    split_of[v] = split_of[node.inputs[source]]

    # the network's outputs

    def outputs(self, scope: _Scope, last: Optional[int]) -> list[tuple[str, int]]:
        refs = self.spec.outputs
        if refs is None:
            if last is None:  # pragma: no cover - `sequence` refuses a list ending in a split
                raise self.fail(("layers",), "the last layer gives several outputs: list them in `outputs:`")
            return [(self.values[last].label, last)]
        found: list[tuple[str, int]] = []
        for j, ref in enumerate(refs):
            where = ("outputs", j)
            value = self.lookup(ref, scope, len(scope.layers), where)
            if any(v == value for _, v in found):
                raise self.fail(where, f"'{ref}' names an output already listed in `outputs`")
            found.append((ref if isinstance(ref, str) else self.values[value].label, value))
        return found


def _tensor_text(shape: Optional[Shape]) -> str:
    return shape_text(shape) if shape is not None else "none"


def _splits(ref: str) -> list[tuple[str, Optional[str]]]:
    """How `ref` may read: a whole name, or `name.port`."""
    readings: list[tuple[str, Optional[str]]] = [(ref, None)]
    if "." in ref:
        name, port = ref.rsplit(".", 1)
        if name and port:
            readings.append((name, port))
    return readings


def _names_of(layer: LayerKind) -> list[str]:
    names = [layer.name] if layer.name else []
    if isinstance(layer, Split) and layer.names:
        names += layer.names
    return names


# -- what reaches an output ----------------------------------------------------------------------


def _prune(
    spec: "Spec",
    inputs: list[tuple[str, int]],
    outputs: list[tuple[str, int]],
    values: list[Value],
    nodes: list[Node],
    tree: list[Member],
) -> Graph:
    """The graph of the nodes that feed an output, renumbered; a warning for each layer (or whole
    composite) left out, and for each input nothing reads."""
    live = [False] * len(nodes)
    needed = [False] * len(values)
    stack = [v for _, v in outputs]
    while stack:
        v = stack.pop()
        if needed[v]:
            continue
        needed[v] = True
        producer = values[v].producer
        if producer >= 0 and not live[producer]:
            live[producer] = True
            stack.extend(nodes[producer].inputs)
    warnings: list[Problem] = []

    def warn(path: SpecPath, message: str) -> None:
        warnings.append(Problem(spec.locate(path), message, "warning"))

    for name, v in inputs:
        where: SpecPath = ("inputs", name) if spec.inputs is not None else ("input",)
        if not needed[v]:
            warn(where, f"input '{name}' reaches no output")
        shape = values[v].shape
        if len(shape) == 3 and shape[2] in (1, 3, 4) and shape[0] > 4 and shape[1] > 4:
            h, w, c = shape
            image = f"a {h}x{w} image of {c} channel{'s' if c > 1 else ''}"
            warn(where, f"{list(shape)} looks like height, width, channels; cnnsize reads channels, height, "
                 f"width (PyTorch's order): for {image}, write [{c}, {h}, {w}]")  # fmt: skip

    def keep(member: Member) -> Optional[Member]:
        if isinstance(member, int):
            if not live[member]:
                warn(nodes[member].path, "its output reaches no output of the network: left out of the totals")
                return None
            return member
        if not any(live[n] for n in _nodes_in(member)):
            warn(member.path, "its output reaches no output of the network: left out of the totals")
            return None
        kept = tuple(m for m in (keep(m) for m in member.members) if m is not None)
        return Group(member.path, member.layer, kept, member.input, member.output)

    if all(live):  # nothing to leave out: keep the numbering
        consumers: list[list[int]] = [[] for _ in values]
        for index, node in enumerate(nodes):
            for v in dict.fromkeys(node.inputs):
                consumers[v].append(index)
        graph = Graph(tuple(inputs), tuple(outputs), tuple(values), tuple(nodes), tuple(tree),
                      tuple(tuple(c) for c in consumers))  # fmt: skip
        return replace(graph, warnings=tuple(warnings + _overwritten(spec, graph)))
    kept_tree = [m for m in (keep(m) for m in tree) if m is not None]
    # a kept composite whose layers all read other values may take a value that reaches no
    # output: its producer is left out, but the value stays, for the composite's row
    group_inputs = {group.input for member in kept_tree for group in _groups_in(member)}
    node_index = {old: new for new, old in enumerate(i for i in range(len(nodes)) if live[i])}
    value_index: dict[int, int] = {}
    new_values: list[Value] = []
    for old, value in enumerate(values):
        if value.producer < 0 or live[value.producer]:
            value_index[old] = len(new_values)
            producer = node_index[value.producer] if value.producer >= 0 else -1
            new_values.append(Value(value.shape, producer, value.port, value.label))
        elif old in group_inputs:
            value_index[old] = len(new_values)
            new_values.append(Value(value.shape, LEFT_OUT, value.port, value.label))
    owners = _kept_owners(nodes, live, node_index)
    new_nodes = [
        Node(
            n.path,
            n.layer,
            tuple(value_index[v] for v in n.inputs),
            tuple(value_index[v] for v in n.outputs),
            n.in_shapes,
            n.out_shapes,
            owners.get(i),
        )
        for i, n in enumerate(nodes)
        if live[i]
    ]
    consumers = [[] for _ in new_values]
    for index, node in enumerate(new_nodes):
        for v in dict.fromkeys(node.inputs):
            consumers[v].append(index)
    graph = Graph(
        inputs=tuple((name, value_index[v]) for name, v in inputs),
        outputs=tuple((name, value_index[v]) for name, v in outputs),
        values=tuple(new_values),
        nodes=tuple(new_nodes),
        tree=tuple(_renumber(m, node_index, value_index) for m in kept_tree),
        consumers=tuple(tuple(c) for c in consumers),
    )
    return replace(graph, warnings=tuple(warnings + _overwritten(spec, graph)))


def _kept_owners(nodes: list[Node], live: list[bool], node_index: dict[int, int]) -> dict[int, int]:
    """For each kept node that shares weights, the new index of the node that holds them: the shared
    node where it is kept, else the first kept node that shares them (which then counts them)."""
    owners: dict[int, int] = {}
    promoted: dict[int, int] = {}  # a left-out holder -> the first kept node sharing its weights
    for i, node in enumerate(nodes):
        if not live[i] or node.shares is None:
            continue
        if live[node.shares]:
            owners[i] = node_index[node.shares]
        elif node.shares in promoted:
            owners[i] = promoted[node.shares]
        else:
            promoted[node.shares] = node_index[i]
    return owners


def _members(member: Member) -> list[Member]:
    """`member` and every member nested in it."""
    found: list[Member] = []
    stack: list[Member] = [member]
    while stack:
        m = stack.pop()
        found.append(m)
        if isinstance(m, Group):
            stack.extend(m.members)
    return found


def _nodes_in(member: Member) -> list[int]:
    return [m for m in _members(member) if isinstance(m, int)]


def _groups_in(member: Member) -> list[Group]:
    return [m for m in _members(member) if isinstance(m, Group)]


def _renumber(member: Member, nodes: dict[int, int], values: dict[int, int]) -> Member:
    if isinstance(member, int):
        return nodes[member]
    members = tuple(_renumber(m, nodes, values) for m in member.members)
    return Group(member.path, member.layer, members, values[member.input], values[member.output])


def _overwritten(spec: "Spec", graph: Graph) -> list[Problem]:
    """A warning for each in-place layer whose input another layer reads too: it overwrites it."""
    found = []
    for index, node in enumerate(graph.nodes):
        if not getattr(node.layer, "inplace", False):
            continue
        readers = [n for n in graph.consumers[node.inputs[0]] if n != index]
        if readers:
            other = format_path(graph.nodes[readers[0]].path)
            found.append(
                Problem(
                    spec.locate(node.path + ("inplace",)),
                    f"{node.layer.kind} is in place: it overwrites its input, which {other} reads too",
                    "warning",
                )
            )
    return found


__all__ = ["Graph", "Group", "Member", "Node", "Value", "resolve"]


def _outward(scope: _Scope, i: int) -> list[tuple[_Scope, int]]:
    """`scope` at position `i`, then each enclosing scope at the position of the list that holds it:
    where a name is looked up, nearest first."""
    chain: list[tuple[_Scope, int]] = []
    s: Optional[_Scope] = scope
    at = i
    while s is not None:
        chain.append((s, at))
        at, s = s.parent_position, s.parent
    return chain
