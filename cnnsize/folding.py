"""Folding repeated structures of a flat graph spec (as data: what `cnnsize import` writes) into
`blocks:`, as a person writes ResNet's bottleneck once and uses it sixteen times.

The layers' names are module paths (`layer1.0.conv1`), so every path prefix (`layer1.0`) names a
candidate group: the layers under it. A group can become one use of a block (one `sequential`) when
its layers stand together in the list, only its first layer reads what comes before it (the entry
just before it, or the network's input), and nothing after it reads any of its layers but the last
(which the use's name then stands for). Two groups match when their layers have the same local
names (the path after the prefix), kinds and wiring, and the same fields up to values: a field whose
value differs between them (channel counts, strides, kernel sizes, drop rates...) becomes a
parameter of the block, given by each use; fields always equal in lockstep share one parameter.

Groups are chosen from the outside in: the shortest prefix whose structure occurs at least twice
(in groups that do not overlap ones chosen before) is folded wherever it occurs, and what is left
is searched deeper. One level of blocks: a block's layers are written out flat, never uses of other
blocks. A folded spec must report exactly what the flat one does (`folded` checks it and keeps the
flat spec, saying why, when it would not).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

from cnnsize.engine import analyze
from cnnsize.errors import CnnsizeError
from cnnsize.kinds import KINDS, Split
from cnnsize.loader import load

INPUT = "input"
SPLITS = tuple(name for name, kind in KINDS.items() if issubclass(kind, Split))  # chunk, split
_NONE = object()  # no default
_RESERVED = {"block", "repeat", "name", "if", "and", "or", "not", "else", "true", "false", "True", "False", "in"}

Layer = dict[str, Any]


@dataclass(frozen=True)
class Source:
    """A value a layer reads: the output of the layer at `at` (-1: the network's input), `port` of a
    split's outputs."""

    at: int
    port: Optional[str] = None


@dataclass(frozen=True)
class _Flat:
    """The flat spec's layers, what each reads, and who reads each (a reader's position, `len(layers)`
    for the network's outputs; the source it reads)."""

    layers: list[Layer]
    reads: list[list[Source]]
    readers: dict[int, list[tuple[int, Source]]]
    shares: dict[int, int] = field(default_factory=dict)  # a layer `{shares: name}` -> where that layer is


@dataclass
class _Group:
    prefix: str
    start: int
    stop: int  # one past the last layer
    signature: tuple[Any, ...] = ()
    fields: list[dict[str, Any]] = field(default_factory=list)  # each layer's fields, defaults filled


def fold(data: dict[str, Any], classes: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """`data` with repeated groups of layers written as uses of blocks (a new dict; `data` is kept).
    A spec with nothing to fold comes back equal to `data`. `classes` (a module path -> the class
    of the module there) names each block after the class of its groups where they share one
    (`Bottleneck`: `bottleneck`), else `block1`, `block2`..."""
    layers: list[Layer] = data["layers"]
    names = [layer.get("name") for layer in layers]
    if "blocks" in data or any(not isinstance(n, str) for n in names) or len(set(names)) != len(names):
        return dict(data)  # every layer named once: what the importer writes
    position = {str(name): i for i, name in enumerate(names)}
    try:
        reads = [_reads(layer, i, position) for i, layer in enumerate(layers)]
        outputs = [_source(ref, len(layers), position) for ref in data.get("outputs", [])]
        shares = {i: _source(layer["shares"], i, position).at for i, layer in enumerate(layers) if "shares" in layer}
    except ValueError:  # a reference the importer does not write: left as it is
        return dict(data)
    flat = _Flat(layers, reads, _readers(reads, outputs, len(layers)), shares)
    chosen = _choose(_groups(flat))
    if not chosen:
        return dict(data)
    return _write(data, layers, chosen, classes or {})


def folded(data: dict[str, Any], classes: Optional[Mapping[str, str]] = None) -> tuple[dict[str, Any], Optional[str]]:
    """`fold(data)` where its report equals the flat spec's (parameters, running statistics, MACs,
    activation bytes, output shapes), else `data` itself and why it was kept flat."""
    result = fold(data, classes)
    if "blocks" not in result:
        return data, None
    try:
        flat, blocks = (analyze(load(json.dumps(d))) for d in (data, result))
    except CnnsizeError as error:  # a folding bug; the flat spec stands
        return data, f"the folded spec is refused: {error}"
    figures = [(r.totals.to_dict(), [shape for _, shape in r.outputs]) for r in (flat, blocks)]  # names differ
    if figures[0] != figures[1]:  # a folding bug; the flat spec stands
        return data, "the folded spec would report otherwise than the flat one"
    return result, None


def _source(ref: Union[str, int], at: int, position: dict[str, int]) -> Source:
    """What `ref` (a `from:` entry of the layer at `at`) names."""
    if isinstance(ref, int):
        return Source(at + ref)
    if ref in position:
        return Source(position[ref])
    if ref == INPUT:
        return Source(-1)
    name, _, port = ref.rpartition(".")
    if name in position and port.isdigit():
        return Source(position[name], port)
    raise ValueError(f"unresolved reference {ref!r}")


def _reads(layer: Layer, at: int, position: dict[str, int]) -> list[Source]:
    refs = layer.get("from")
    if refs is None:
        return [Source(at - 1)]
    return [_source(ref, at, position) for ref in (refs if isinstance(refs, list) else [refs])]


def _readers(reads: list[list[Source]], outputs: list[Source], count: int) -> dict[int, list[tuple[int, Source]]]:
    """For each layer, who reads it: (the reader's position, or `count` for the outputs; the source)."""
    found: dict[int, list[tuple[int, Source]]] = {}
    for at, sources in enumerate(reads):
        for source in sources:
            found.setdefault(source.at, []).append((at, source))
    for source in outputs:
        found.setdefault(source.at, []).append((count, source))
    if not outputs and count:
        found.setdefault(count - 1, []).append((count, Source(count - 1)))
    return found


def _groups(flat: _Flat) -> list[_Group]:
    """Every prefix whose layers can stand as one use of a block, with its structure."""
    spans: dict[str, list[int]] = {}
    for at, layer in enumerate(flat.layers):
        parts = layer["name"].split(".")
        for depth in range(1, len(parts)):
            spans.setdefault(".".join(parts[:depth]), []).append(at)
    by_range: dict[tuple[int, int], str] = {}
    for prefix, positions in spans.items():
        start, stop = positions[0], positions[-1] + 1
        if stop - start != len(positions) or len(positions) < 2:
            continue
        if (start, stop) not in by_range or len(prefix) < len(by_range[(start, stop)]):
            by_range[(start, stop)] = prefix
    found = []
    for (start, stop), prefix in by_range.items():
        group = _Group(prefix, start, stop)
        if _foldable(group, flat):
            group.signature, group.fields = _structure(group, flat)
            found.append(group)
    return found


def _foldable(group: _Group, flat: _Flat) -> bool:
    inside = range(group.start, group.stop)
    before = Source(group.start - 1)
    for at in inside:
        if any(s.at not in inside and s != before for s in flat.reads[at]):
            return False  # it reads something other than what comes just before it
        outside = [s for reader, s in flat.readers.get(at, []) if reader not in inside]
        if outside and (at != group.stop - 1 or any(s.port is not None for s in outside)):
            return False  # a layer inside is read from outside, besides the last one's output
    if any((at in inside) != (target in inside) for at, target in flat.shares.items()):
        return False  # weights shared across the group's border: each use would have its own
    return flat.layers[group.stop - 1].get("type") not in SPLITS


def _structure(group: _Group, flat: _Flat) -> tuple[tuple[Any, ...], list[dict[str, Any]]]:
    """The group's signature (local names, kinds, wiring, fields that must match), and each layer's
    fields with defaults filled where the kind has one (so `stride: 2` and no stride compare)."""
    signature = []
    fields = []
    for at in range(group.start, group.stop):
        layer = flat.layers[at]
        wiring: tuple[Any, ...] = tuple(
            ("in",) if s.at < group.start else (s.at - group.start, s.port) for s in flat.reads[at]
        )
        if at in flat.shares:  # `{shares: <a layer of the group>}`: the same layer of every use
            wiring += (("shares", flat.shares[at] - group.start),)
        values = {k: v for k, v in layer.items() if k not in _WRITTEN}
        filled = {k: v for k, v in values.items()}
        for key, default in _defaults(layer.get("type")).items():
            filled.setdefault(key, default)
        fixed = frozenset(k for k in values if k not in _defaults(layer.get("type")))  # no default: must match
        listed = isinstance(layer.get("from"), list)
        signature.append((_local(layer["name"], group.prefix), layer.get("type"), wiring, listed, fixed))
        fields.append(filled)
    return tuple(signature), fields


_WRITTEN = ("type", "name", "from", "shares")
"""A layer's keys that are not its kind's fields: written by the fold itself, never parameters."""

_DEFAULTS: dict[Optional[str], dict[str, Any]] = {}


def _defaults(kind: Optional[str]) -> dict[str, Any]:
    """The fields of `kind` with a plain default (a number, a truth value, a string); none for a
    layer that shares another's (it has no kind of its own)."""
    if kind not in _DEFAULTS:
        cls = KINDS.get(kind) if kind is not None else None
        model_fields = getattr(cls, "model_fields", {}) if cls is not None else {}
        _DEFAULTS[kind] = {
            key: info.default
            for key, info in model_fields.items()
            if key not in ("type", "name", "from_") and isinstance(info.default, (int, float, str))
        }
    return _DEFAULTS[kind]


def _local(name: str, prefix: str) -> str:
    return name[len(prefix) + 1 :]


def _choose(groups: list[_Group]) -> list[list[_Group]]:
    """Classes of matching groups to fold, each class's groups in order. Greedy: the class whose
    groups (those still free) save the most entries, then the next... Greedy alone folds ResNet-18's
    stages 2 to 4 first (3 uses of 16 layers: 29 entries saved), leaving stage 1's two blocks (5);
    starting from the plain block (5 uses of 7 layers: 23), then the strided one (3 uses of 9: 15)
    saves more. So the greedy choice is also tried starting from each of the classes that save
    most, and the choice that saves most is taken."""
    classes: dict[tuple[Any, ...], list[_Group]] = {}
    for group in sorted(groups, key=lambda g: g.start):
        classes.setdefault(group.signature, []).append(group)
    candidates = [members for members in classes.values() if len(members) > 1 and _compatible(members)]
    size = max((g.stop for g in groups), default=0)
    seeds = sorted(candidates, key=_saved, reverse=True)[:SEEDS]
    choices = [_greedy(candidates, size, first) for first in [None, *seeds]]
    return max(choices, key=lambda chosen: sum(_saved(members) for members in chosen))  # the first best


SEEDS = 12
"""How many classes the greedy choice is tried starting from (those that save most alone)."""


def _greedy(candidates: list[list[_Group]], size: int, first: Optional[list[_Group]]) -> list[list[_Group]]:
    used = [0] * (size + 1)  # used[i]: how many of the first i layers are folded already
    chosen: list[list[_Group]] = []
    while True:
        best, most = None, 0
        for members in [first] if first is not None and not chosen else candidates:
            free = [g for g in members if used[g.stop] == used[g.start]]
            saved = _saved(free) if len(free) > 1 else 0
            if saved > most:
                best, most = free, saved
        if best is None:
            return sorted(chosen, key=lambda members: members[0].start)
        chosen.append(best)
        taken = [False] * size
        for members in chosen:
            for g in members:
                taken[g.start : g.stop] = [True] * (g.stop - g.start)
        for i in range(size):
            used[i + 1] = used[i] + taken[i]


def _saved(members: list[_Group]) -> int:
    """How many entries folding `members` saves writing: their layers are written once, in the
    block, and each is one use."""
    size = members[0].stop - members[0].start
    return len(members) * (size - 1) - size


def _compatible(members: list[_Group]) -> bool:
    """Whether each layer has the same fields in every group (after defaults)."""
    return all(len({frozenset(m.fields[k]) for m in members}) == 1 for k in range(len(members[0].fields)))


def _write(
    data: dict[str, Any], layers: list[Layer], chosen: list[list[_Group]], classes: Mapping[str, str]
) -> dict[str, Any]:
    blocks: dict[str, Any] = {}
    uses: dict[int, tuple[_Group, dict[str, Any]]] = {}
    renamed: dict[str, str] = {}
    for number, members in enumerate(chosen, 1):
        name = _block_name(members, classes, number, blocks)
        blocks[name], arguments = _definition(members, layers)
        for member, args in zip(members, arguments):
            uses[member.start] = (member, {"block": name, "name": member.prefix, **args})
            renamed[layers[member.stop - 1]["name"]] = member.prefix
    written: list[Layer] = []
    at = 0
    while at < len(layers):
        if at in uses:
            member, use = uses[at]
            written.append(use)
            at = member.stop
            continue
        layer = dict(layers[at])
        if "from" in layer:
            refs = layer["from"]
            layer["from"] = [renamed.get(r, r) for r in refs] if isinstance(refs, list) else renamed.get(refs, refs)
        written.append(layer)
        at += 1
    result: dict[str, Any] = {}
    for key, value in data.items():
        if key == "layers":
            result["blocks"] = blocks
            result["layers"] = written
        elif key == "outputs":
            result["outputs"] = [renamed.get(r, r) for r in value]
        else:
            result[key] = value
    return result


def _definition(members: list[_Group], layers: list[Layer]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A block's definition from its matching groups, and each group's arguments."""
    first = members[0]
    params: dict[str, str] = {}  # the values of a parameter in every use (as JSON) -> its name
    defaults: dict[str, list[Any]] = {}  # a parameter's name -> the kind's defaults of the fields it sets
    arguments: list[dict[str, Any]] = [{} for _ in members]
    template: list[Layer] = []
    for k, at in enumerate(range(first.start, first.stop)):
        original = layers[at]
        if "shares" in original:
            layer: Layer = {"shares": _local(original["shares"], first.prefix)}  # inside the group (_foldable)
        else:
            layer = {"type": original["type"]}
        keys = [key for key in original if key not in _WRITTEN]
        keys += [key for key in first.fields[k] if key not in keys and any(key in layers[m.start + k] for m in members)]
        order = list(getattr(KINDS.get(original.get("type", "")), "model_fields", {}))
        keys.sort(key=lambda key: order.index(key) if key in order else len(order))  # the kind's own order
        for key in keys:
            values = [m.fields[k][key] for m in members]
            if len({json.dumps(v) for v in values}) == 1:  # (1 == True in Python: compared as written)
                if key in original:
                    layer[key] = values[0]
                continue
            vector = json.dumps(values)
            if vector not in params:
                local = _local(original["name"], first.prefix)
                params[vector] = _param_name(key, local, set(params.values()))
                for args, value in zip(arguments, values):
                    args[params[vector]] = value
            defaults.setdefault(params[vector], []).append(_defaults(original.get("type")).get(key, _NONE))
            layer[key] = f"${{{params[vector]}}}"
        layer["name"] = _local(original["name"], first.prefix)
        if "from" in original:
            layer["from"] = _local_refs(original["from"], first.prefix)
        template.append(layer)
    kinds = Counter(layer.get("type", "shared") for layer in template)
    definition: dict[str, Any] = {
        "description": f"{len(template)} layers ("
        + ", ".join(f"{kind} x{n}" if n > 1 else kind for kind, n in kinds.items())
        + f"), used {len(members)} times",
    }
    # a parameter whose fields share a default takes it as its own: uses that give it say nothing
    given = {p: d[0] for p, d in defaults.items() if d[0] is not _NONE and all(_same(x, d[0]) for x in d)}
    required = [p for p in params.values() if p not in given]
    if required:
        definition["params"] = required
    if given:
        definition["defaults"] = given
        for args in arguments:
            for p, default in given.items():
                if _same(args[p], default):
                    del args[p]
    definition["layers"] = template
    return definition, arguments


def _block_name(members: list[_Group], classes: Mapping[str, str], number: int, taken: Mapping[str, Any]) -> str:
    """The class its groups' modules share, in snake case (`BasicBlock`: `basic_block`, numbered from
    the second block of that class: `basic_block_2`), where it is a usable block name; else `block<number>`."""
    found = {classes.get(m.prefix) for m in members}
    cls = found.pop() if len(found) == 1 else None
    words = cls.replace("ReLU", "Relu") if cls else ""  # ConvBNReLU: conv_bn_relu
    base = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", words).lower()
    if not re.fullmatch(r"[a-z][a-z0-9_]*", base) or base in KINDS or base in _RESERVED or base in _GENERIC:
        return f"block{number}"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name


_GENERIC = {"sequential", "layers", "module_list", "module", "network", "graph_module"}
"""Container classes whose name says nothing of what a block holds (`nn.Sequential`, the `Layers`
of a built network)."""


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a) == json.dumps(b)


def _param_name(key: str, layer: str, taken: set[str]) -> str:
    """`key` (`out_channels`); where that is taken, the layer's name before it when short
    (`conv3_out_channels`), else numbered (`out_channels_2`)."""
    prefixed = f"{re.sub(r'[^A-Za-z0-9_]', '_', layer)}_{key}"
    for name in (key, prefixed if len(layer) <= 12 else None):
        if name is not None and name.isidentifier() and name not in _RESERVED and name not in taken:
            return name
    n = 2
    while f"{key}_{n}" in taken:
        n += 1
    return f"{key}_{n}"


def _local_refs(refs: Union[str, list[Any]], prefix: str) -> Union[str, list[Any]]:
    def one(ref: Any) -> Any:
        if isinstance(ref, str) and ref.startswith(prefix + "."):
            return _local(ref, prefix)
        return INPUT if isinstance(ref, str) else ref  # what comes before the group: the block's input

    return [one(r) for r in refs] if isinstance(refs, list) else one(refs)
