"""Reusable blocks: a spec's `blocks:` section of named, parameterised layer lists, and the expansion
of every use of one into plain layers before the spec is parsed.

    blocks:
      conv_bn:
        params: [out]                  # arguments every use must give
        defaults: {stride: 1}          # arguments a use may give
        layers:
          - {type: conv2d, out_channels: ${out}, kernel_size: 3, stride: ${stride}, padding: 1, bias: false}
          - batchnorm2d
    layers:
      - {block: conv_bn, out: 64}
      - {block: conv_bn, out: 128, stride: 2, repeat: 2, name: stage2}

- A use is a layer entry with `block`, its arguments, an optional `name` and an optional
  `repeat: N`; a block that needs no arguments may also be used by its bare name (`- conv_bn`).
  Blocks may use other blocks, never themselves (directly or through others).
- A use becomes one `sequential` layer named after the block (or the use's `name`), so reports can
  sum a block's layers into one row. `repeat: N` is the same as writing the entry N times: N such
  layers side by side (none for `repeat: 0`).
- `${p}` as a whole value is replaced by the argument itself (a number stays a number, a list a
  list); written inside longer text it is put into the text.
- The spec's own parameters (a top-level `params:` mapping, `cnnsize.params`) are the outermost
  scope: every value outside `params` and `blocks` may read them, and so may every block's layers,
  where a block's parameter of the same name shadows the spec's. Values set from outside the spec
  (`--set`, `load(..., params=)`) replace the declared ones before anything reads them.
- `${...}` may hold an expression of the parameters (`${in * 6}`, `${make_divisible(c * 0.75, 8)}`,
  `cnnsize.expressions`): as a whole value it gives its result with its type, inside text it is
  written into the text. Every expression of a definition is parsed, and its names checked, once,
  when the definition is read; it is evaluated for each use.
- `if:` on any layer entry or use keeps the entry when true and drops it when false, before the
  entry is read (so nothing in a dropped entry is checked against the arguments); in a block's
  layers it may be an expression (`if: ${stride == 1 and cin == cout}`), elsewhere true or false.

Positions stay exact: the expanded document maps every value back to where it is written (the line
inside the block's definition, or for a substituted value the argument at the use site), and its
locations say which use of which block, and which repeat, a problem arose in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Mapping, Optional

from cnnsize.errors import Location, OverrideError, Problem, SpecError, SpecPath, format_path
from cnnsize.expressions import FUNCTIONS, Expression, ExpressionError
from cnnsize.expressions import parse as parse_expression
from cnnsize.params import IDENTIFIER, name_problem, value_problem
from cnnsize.spelling import suggest
from cnnsize.values import is_int, lookup, show
from cnnsize.yamlio import MAX_EXPANDED_NODES, Document

MAX_NESTING = 16
"""Most block uses inside one another (a chain deeper than this is refused)."""

MAX_EVALUATION_STEPS = 200_000
"""Most expression nodes evaluated while expanding one spec (each use evaluates its block's
expressions again, so a large `repeat` of a long expression is refused like an expansion bomb)."""

USE_KEYS = ("block", "repeat", "name", "if")
DEFINITION_KEYS = ("params", "defaults", "layers", "description")

_REFERENCE = re.compile(r"\$\{([^}]*)\}")


class _Failed:
    """The value of an expression whose evaluation failed: its problem is reported, and checks
    that would only repeat the failure skip it."""

    def __repr__(self) -> str:
        return "<failed expression>"


_FAILED = _Failed()


@dataclass(frozen=True)
class Use:
    """One use of a block: which block, the source path of the entry that uses it, which repeat."""

    block: str
    at: SpecPath
    copy: int = 1
    copies: int = 1


@dataclass(frozen=True)
class Origin:
    """Where an expanded value is written in the source document.

    `trail` lists the uses whose expansion produced the value, innermost first; `via` is, for a
    substituted argument, the parameter and the place in the block's layers it was substituted at;
    `given` says, for a spec parameter's value set from outside the spec, what it was set to.
    """

    path: SpecPath
    trail: tuple[Use, ...] = ()
    via: Optional[tuple[str, SpecPath]] = None
    given: Optional[str] = None


@dataclass
class Node:
    """A value during expansion: a scalar, a `list[Node]` or a `dict[str, Node]`, with its origin."""

    value: Any
    origin: Origin


@dataclass(frozen=True)
class Block:
    name: str
    params: tuple[str, ...]
    defaults: dict[str, Node]
    layers: Node

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(p for p in self.params if p not in self.defaults)


@dataclass
class ExpandedDocument(Document):
    """A document whose blocks are expanded; `locate` answers with the source document's positions."""

    source: Document = field(default_factory=lambda: Document(None))
    origins: dict[SpecPath, Origin] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)  # the spec's parameters, with the values used

    def locate(self, path: SpecPath, *, key: bool = False) -> Location:
        if key and path and path[:-1] in self.origins:
            parent = self.origins[path[:-1]]
            return self.source_location(replace(parent, path=parent.path + (path[-1],)), key=True)
        for cut in range(len(path), -1, -1):
            origin = self.origins.get(path[:cut])
            if origin is not None:
                return self.source_location(replace(origin, path=origin.path + path[cut:]))
        return self.source.locate(path, key=key)  # pragma: no cover - the root always has an origin

    def source_location(self, origin: Origin, *, key: bool = False) -> Location:
        return locate(self.source, origin, key=key)


def more_uses(location: Location, more: int) -> Location:
    """`location` whose context also counts the `more` other uses its problem was found in: uses of
    the block, or where the place is a spec parameter's value, uses of the parameter."""
    what = "the parameter" if location.path[:1] == ("params",) else "the block"
    text = f"and {more} more use{'s' if more > 1 else ''} of {what}"
    return replace(location, context=f"{location.context}; {text}" if location.context else text)


def locate(source: Document, origin: Origin, *, key: bool = False) -> Location:
    """The position of `origin` in `source`, with the uses it came through as the context."""
    location = source.locate(origin.path, key=key)
    parts = []
    if origin.via is not None:
        name, at = origin.via
        parts.append(f"passed as ${{{name}}} to {format_path(at)}")
    if origin.given is not None:
        parts.append(origin.given)
    for use in origin.trail:
        line = source.locate(use.at).line
        repeat = f", repeat {use.copy} of {use.copies}," if use.copies > 1 else ""
        parts.append(f"in block '{use.block}'{repeat} used at {format_path(use.at)}, line {line}")
    return replace(location, context="; ".join(parts) or None)


LayerLists = Mapping[str, Mapping[str, int]]
"""Every layer kind's name, with the fields of those that hold layer lists (`residual`: `{body: 1,
shortcut: 1}`; 2 for a list of lists): what the spec layer tells the expander about kinds."""


def expand(document: Document, kinds: LayerLists, overrides: Optional[Mapping[str, Any]] = None) -> Document:
    """`document` with its blocks expanded and its parameters substituted, or `document` itself when
    it has neither; `kinds` says which names are layer kinds and where composites hold layers;
    `overrides` replace the values of the spec's parameters (an `OverrideError` for a name the spec
    does not declare, or a value no parameter takes)."""
    data = document.data
    if not isinstance(data, dict):
        return document
    if not overrides and "blocks" not in data and "params" not in data and not _mentions_blocks(data):
        return document
    return _Expander(document, kinds, overrides or {}).run()


def _mentions_blocks(value: Any) -> bool:
    """Whether layers use a block, a parameter or `if` (and so need expanding, or an error)."""
    if isinstance(value, dict):
        return "block" in value or "if" in value or any(_mentions_blocks(v) for v in value.values())
    if isinstance(value, list):
        return any(_mentions_blocks(v) for v in value)
    return isinstance(value, str) and "${" in value


def _wrap(value: Any, path: SpecPath) -> Node:
    """Plain data as nodes whose origins are their own paths."""
    if isinstance(value, dict):
        return Node({k: _wrap(v, path + (k,)) for k, v in value.items()}, Origin(path))
    if isinstance(value, list):
        return Node([_wrap(v, path + (i,)) for i, v in enumerate(value)], Origin(path))
    return Node(value, Origin(path))


class _Expander:
    def __init__(self, document: Document, kinds: LayerLists, overrides: Mapping[str, Any]):
        self.kinds = kinds
        self.source = document
        self.overrides = overrides
        self.root = _wrap(document.data, ())
        self.blocks: dict[str, Block] = {}
        self.spec_params: dict[str, Node] = {}  # the outermost scope: the spec's `params`, overridden
        self.broken: set[str] = set()  # blocks whose definition has a problem (reported once, there)
        # each problem by place and message, with the uses (contexts) it was found in
        self.problems: dict[tuple[Location, str], tuple[Problem, set[Optional[str]]]] = {}
        self.expressions: dict[str, Expression] = {}  # each distinct text parsed once
        self.size = 0
        self.steps = 0
        self.least: dict[str, int] = {}  # the fewest values each block's expansion counts

    # -- problems ---------------------------------------------------------------------------------

    def problem(self, node: Node, message: str, key: Optional[str] = None) -> None:
        """Record a problem at `node` (at its key `key`); one found again in another use of the same
        block is counted, not repeated."""
        origin = node.origin if key is None else replace(node.origin, path=node.origin.path + (key,))
        location = locate(self.source, origin, key=key is not None)
        _, contexts = self.problems.setdefault(
            (replace(location, context=None), message), (Problem(location, message), set())
        )
        contexts.add(location.context)

    def fail_now(self, node: Node, message: str) -> SpecError:
        return SpecError([Problem(locate(self.source, node.origin), message)])

    def raise_problems(self) -> None:
        if not self.problems:
            return
        problems = []
        for problem, contexts in self.problems.values():
            if len(contexts) > 1:  # as `schema._distinct` words it for problems found after expansion
                problem = Problem(more_uses(problem.location, len(contexts) - 1), problem.message)
            problems.append(problem)
        raise SpecError(sorted(problems, key=lambda p: (p.location.line or 0, p.location.column or 0)))

    # -- the whole document -----------------------------------------------------------------------

    def run(self) -> ExpandedDocument:
        fields = dict(self.root.value)
        definitions = fields.pop("blocks", None)
        declared = fields.pop("params", None)
        self.spec_params = self.read_spec_params(declared)
        if definitions is not None:
            self.read_definitions(definitions)
        for block in self.blocks.values():
            self.check_block_references(block)
            self.walk(block.layers, self.check_use)
        self.check_cycles()
        referring = self.check_spec_references(Node(fields, self.root.origin))
        layers = fields.get("layers")
        if layers is not None and isinstance(layers.value, list):
            self.walk(layers, self.check_use)
        self.raise_problems()
        if referring:  # the spec's parameters in every value outside `params` and `blocks`
            fields = {key: self.instantiate(value, (), _Scope(self, self.spec_params)) for key, value in fields.items()}
            self.raise_problems()
        layers = fields.get("layers")
        if layers is not None and isinstance(layers.value, list):
            fields["layers"] = self.walk(layers, lambda use: self.expand_use(use, 0))
        self.raise_problems()
        origins: dict[SpecPath, Origin] = {}
        data = _unwrap(Node(fields, self.root.origin), (), origins)
        params = {name: _unwrap(node, (), {}) for name, node in self.spec_params.items()}
        return ExpandedDocument(data, self.source.file, source=self.source, origins=origins, params=params)

    # -- the spec's parameters --------------------------------------------------------------------

    def read_spec_params(self, declared: Optional[Node]) -> dict[str, Node]:
        """The spec's parameters by name, each replaced by its override where one is given; an
        override of a name the spec does not declare is refused at once (`OverrideError`)."""
        if declared is not None and not isinstance(declared.value, dict):
            self.problem(
                declared,
                f"`params` maps parameter names to values, like {{num_classes: 1000, width: 64}}, not "
                f"{show_node(declared)}",
            )
            return {}
        params = self.read_declared_params(declared) if declared is not None else {}
        for name, value in self.overrides.items():
            params[name] = self.override(declared, params, name, value)
        return params

    def read_declared_params(self, declared: Node) -> dict[str, Node]:
        """The parameters `params:` declares, each name and value checked (problems reported)."""
        params = {}
        for name, value in declared.value.items():
            problem = name_problem(name)
            if problem is not None:
                self.problem(declared, problem, key=name)
                continue
            problem = value_problem(_unwrap(value, (), {}))
            if problem is not None:
                self.problem(value, f"parameter '{name}': {problem}")
            params[name] = value
        return params

    def override(self, declared: Optional[Node], params: dict[str, Node], name: str, value: Any) -> Node:
        """The node of `value` set for the spec's parameter `name`, placed where the spec declares
        it; an `OverrideError` when the spec declares no such parameter, or no parameter takes it."""
        where = locate(self.source, declared.origin) if declared is not None else self.source.locate(())
        if name not in params:
            if not params:
                why = "the spec declares no `params`" if declared is None else "the spec's `params` is empty"
            else:
                why = f"the spec declares no such parameter{suggest(str(name), params)}; it has {', '.join(params)}"
            raise OverrideError([Problem(replace(where, path=("params",)), f"cannot set '{name}': {why}")])
        problem = value_problem(value)
        if problem is not None:
            raise OverrideError([Problem(replace(where, path=("params", name)), f"cannot set '{name}': {problem}")])
        origin = Origin(("params", name), given=f"{name} = {show(value)}, set from outside the spec")
        return self.constant(value, origin)

    # -- definitions ------------------------------------------------------------------------------

    def read_definitions(self, definitions: Node) -> None:
        if not isinstance(definitions.value, dict):
            self.problem(
                definitions, f"`blocks` is a mapping of block names to definitions, not {show_node(definitions)}"
            )
            return
        for name, definition in definitions.value.items():
            block = self.read_definition(definitions, name, definition)
            if block is not None:
                self.blocks[name] = block
            else:
                self.broken.add(name)

    def read_definition(self, definitions: Node, name: str, definition: Node) -> Optional[Block]:
        if not IDENTIFIER.fullmatch(name):
            self.problem(
                definitions, f"block name '{name}' must be letters, digits and _ (not first a digit)", key=name
            )
            return None
        if name in self.kinds:
            self.problem(definitions, f"block '{name}' has the name of a layer kind; give it another name", key=name)
            return None
        if not isinstance(definition.value, dict):
            self.problem(definition, f"block '{name}' is a mapping with `layers` (and `params`, `defaults`)")
            return None
        fields = definition.value
        for key in fields:
            if key not in DEFINITION_KEYS:
                hint = suggest(key, DEFINITION_KEYS) or f" (a block has {', '.join(DEFINITION_KEYS)})"
                self.problem(definition, f"unknown key '{key}' in block '{name}'{hint}", key=key)
        params = self.read_params(name, fields.get("params"))
        defaults = self.read_defaults(name, fields.get("defaults"), params)
        layers = fields.get("layers")
        if layers is None:
            self.problem(definition, f"block '{name}' needs `layers`: the layers it stands for")
            return None
        if not isinstance(layers.value, list) or not layers.value:
            self.problem(layers, f"`layers` of block '{name}' must be a non-empty list of layers")
            return None
        return Block(name, params + tuple(d for d in defaults if d not in params), defaults, layers)

    def read_params(self, block: str, params: Optional[Node]) -> tuple[str, ...]:
        if params is None:
            return ()
        if not isinstance(params.value, list):
            self.problem(params, f"`params` of block '{block}' is a list of names, like [width, stride]")
            return ()
        names: list[str] = []
        for item in params.value:
            if self.valid_param(block, item.value, item):
                if item.value in names:
                    self.problem(item, f"parameter '{item.value}' is listed twice")
                names.append(item.value)
        return tuple(names)

    def read_defaults(self, block: str, defaults: Optional[Node], params: tuple[str, ...]) -> dict[str, Node]:
        if defaults is None:
            return {}
        if not isinstance(defaults.value, dict):
            self.problem(defaults, f"`defaults` of block '{block}' maps parameters to values, like {{stride: 1}}")
            return {}
        for name, value in defaults.value.items():
            self.valid_param(block, name, defaults, key=name)
            for text in _strings(value):
                if _references(text.value):
                    self.problem(text, "a default is a plain value: `${...}` has a meaning only in a block's `layers`")
            if name in params:
                self.problem(
                    defaults, f"parameter '{name}' is in `params` (needed) and in `defaults`: keep one", key=name
                )
        return dict(defaults.value)

    def valid_param(self, block: str, name: Any, node: Node, key: Optional[str] = None) -> bool:
        if name in USE_KEYS:  # (`if` is also a word of the expressions: this is the reason that matters)
            problem: Optional[str] = f"'{name}' cannot be a parameter: a use of a block gives `{name}` itself"
        else:
            problem = name_problem(name)
        if problem is not None:
            self.problem(node, problem, key=key)
            return False
        return True

    def check_block_references(self, block: Block) -> None:
        """Every `${...}` in the block's layers is a well-formed expression that reads only the
        block's parameters and the spec's: checked once here, whatever the uses (and whatever an
        `if` decides)."""
        known = {*block.params, *self.spec_params}
        self.check_references(block.layers, known, lambda name, source: self.unknown_parameter(block, name, source))

    def check_spec_references(self, fields: Node) -> bool:
        """Every `${...}` outside `params` and `blocks` is a well-formed expression that reads only
        the spec's parameters; whether there is any."""
        return self.check_references(fields, set(self.spec_params), self.unknown_spec_parameter)

    def check_references(self, node: Node, known: set[str], unknown: Callable[[str, str], str]) -> bool:
        """Every `${...}` in the strings of `node` parses and reads only `known` names; `unknown`
        words the problem for a name that is not (from the name and the expression's text).
        Whether `node` holds any `${...}`."""
        found = False
        for text in _strings(node):
            sources = _references(text.value)
            found = found or bool(sources)
            if "${" in sources:
                self.problem(text, f"{show(text.value)} holds a malformed parameter reference: write ${{name}}")
                continue
            for source in sources:
                try:
                    expression = self.parse(source)
                except ExpressionError as error:
                    self.problem(text, f"${{{source}}}: {error}")
                    continue
                for name in sorted(expression.names - known):
                    self.problem(text, unknown(name, source))
        return found

    def unknown_parameter(self, block: Block, name: str, source: str) -> str:
        known = f"; its parameters: {', '.join(block.params)}" if block.params else "; it has none"
        if self.spec_params:
            known += f"; the spec's: {', '.join(self.spec_params)}"
        hint = suggest(name, [*block.params, *self.spec_params])
        return f"{_where(name, source)}block '{block.name}' has no parameter '{name}'{hint}{known}{_call(name)}"

    def unknown_spec_parameter(self, name: str, source: str) -> str:
        if not self.spec_params:
            known = ": the spec declares no `params` (outside a block's layers, `${...}` reads the spec's `params`)"
        else:
            known = f"{suggest(name, self.spec_params)}; the spec's parameters: {', '.join(self.spec_params)}"
        return f"{_where(name, source)}unknown parameter '{name}'{known}{_call(name)}"

    def parse(self, source: str) -> Expression:
        """The parsed expression of `source` (the text inside `${...}`), parsed once per spec."""
        expression = self.expressions.get(source)
        if expression is None:
            expression = self.expressions[source] = parse_expression(source)
        return expression

    def check_cycles(self) -> None:
        """Blocks that use each other in a circle would expand for ever: refuse each circle once."""
        edges: dict[str, list[tuple[str, Node]]] = {name: [] for name in self.blocks}

        def record(use: Node) -> list[Node]:
            target = _use_fields(use)["block"].value
            if isinstance(target, str) and target in self.blocks:
                edges[owner].append((target, use))
            return [use]

        for owner, block in self.blocks.items():
            self.walk(block.layers, record)
        done: set[str] = set()
        for start in self.blocks:
            self.find_cycle(start, edges, done)

    def find_cycle(self, start: str, edges: dict[str, list[tuple[str, Node]]], done: set[str]) -> None:
        """Depth-first from `start`, without recursion (a chain of thousands of blocks is an input
        to refuse, not to crash on): a use that reaches a block on the current path closes a cycle."""
        if start in done:
            return
        path: list[str] = [start]  # the blocks being visited, outermost first
        leaving: list[Optional[Node]] = [None]  # the use by which each block of `path` goes on
        where = {start: 0}
        pending = [iter(edges[start])]
        while pending:
            step = next(pending[-1], None)
            if step is None:
                finished = path.pop()
                leaving.pop()
                pending.pop()
                del where[finished]
                done.add(finished)
                continue
            target, use = step
            leaving[-1] = use
            if target in where:
                cycle = path[where[target] :] + [target]
                text = f"block '{target}' uses itself" if len(cycle) == 2 else "blocks use each other in a cycle"
                first = leaving[where[target]]
                assert first is not None
                self.problem(first, f"{text}: {' -> '.join(cycle)}; a block cannot contain itself")
            elif target not in done:
                where[target] = len(path)
                path.append(target)
                leaving.append(None)
                pending.append(iter(edges[target]))

    # -- uses -------------------------------------------------------------------------------------

    def walk(self, layers: Node, visit: Callable[[Node], list[Node]]) -> Node:
        """`layers` with every use of a block replaced by the layers `visit(use)` gives, looking
        into the layer lists of composite layers."""
        out = []
        for entry in layers.value:
            kept = self.condition(entry)
            if kept is None:
                continue
            entry = kept
            if self.is_use(entry):
                out.extend(visit(entry))
            else:
                out.append(self.walk_composite(entry, visit))
        return Node(out, layers.origin)

    def walk_composite(self, entry: Node, visit: Callable[[Node], list[Node]]) -> Node:
        fields = entry.value if isinstance(entry.value, dict) else None
        kind = fields.get("type") if fields else None
        lists = self.kinds.get(kind.value) if kind is not None and isinstance(kind.value, str) else None
        if fields is None or not lists:
            return entry
        new = dict(fields)
        for name, depth in lists.items():
            value = fields.get(name)
            if value is None or not isinstance(value.value, list):
                continue
            if depth == 1:
                new[name] = self.walk(value, visit)
            else:
                branches = [self.walk(b, visit) if isinstance(b.value, list) else b for b in value.value]
                new[name] = Node(branches, value.origin)
        return Node(new, entry.origin)

    def condition(self, entry: Node) -> Optional[Node]:
        """`entry` without its `if`, or None when its `if` is false (the entry is dropped before
        anything in it is read). An `if` that still holds `${...}` (in a block's definition, read
        before any use) keeps the entry: it is decided for each use."""
        if not isinstance(entry.value, dict) or "if" not in entry.value:
            return entry
        test = entry.value["if"]
        if test.value is True or _is_open(test):
            return Node({k: v for k, v in entry.value.items() if k != "if"}, entry.origin)
        if test.value is not False and test.value is not _FAILED:
            written = lookup(self.source.data, test.origin.path)
            gives = f", but {written} gives" if _references(written) else ", got"
            self.problem(test, f"`if` takes true or false{gives} {show_node(test)}")
        return None

    def is_use(self, entry: Node) -> bool:
        if isinstance(entry.value, dict):
            return "block" in entry.value
        return isinstance(entry.value, str) and entry.value in self.blocks

    def check_use(self, use: Node) -> list[Node]:
        self.valid_use(use)
        return [use]

    def valid_use(self, use: Node) -> bool:
        """Report what is wrong with a use: the block, its arguments, `repeat`, a `type` beside it.
        Values that still hold `${...}` (inside a definition) are checked once substituted."""
        fields = _use_fields(use)
        target = fields["block"]
        if any(value.value is _FAILED for value in fields.values()):
            return False  # an expression of the use failed, and is reported
        valid = True
        if "type" in fields:
            self.problem(use, "a layer has either `type` (a layer kind) or `block` (a block of layers), not both")
            valid = False
        if _is_open(target):
            return False
        if isinstance(target.value, str) and target.value in self.broken:
            return False  # a block whose definition is wrong, and is reported
        if not isinstance(target.value, str) or target.value not in self.blocks:
            self.problem(target, self.unknown_block(target))
            return False
        block = self.blocks[target.value]
        for key in fields:
            if key not in USE_KEYS and key != "type" and key not in block.params:
                known = f"; its parameters: {', '.join(block.params)}" if block.params else "; it takes none"
                self.problem(
                    use, f"block '{block.name}' has no parameter '{key}'{suggest(key, block.params)}{known}", key=key
                )
                valid = False
        missing = [p for p in block.required if p not in fields]
        if missing:
            names = ", ".join(f"'{p}'" for p in missing)
            self.problem(use, f"block '{block.name}' needs {'arguments' if len(missing) > 1 else 'argument'} {names}")
            valid = False
        repeat = fields.get("repeat")
        if repeat is not None and not (is_int(repeat.value) and repeat.value >= 0):
            if not _is_open(repeat):
                self.problem(repeat, f"must be a non-negative integer (how many times), got {show_node(repeat)}")
            valid = False
        return valid

    def unknown_block(self, target: Node) -> str:
        name = target.value
        if not isinstance(name, str):
            return f"`block` names a block, not {show_node(target)}"
        if not self.blocks:
            return f"unknown block '{name}': the spec defines no `blocks`"
        return f"unknown block '{name}'{suggest(name, self.blocks)}; defined: {', '.join(self.blocks)}"

    def expand_use(self, use: Node, depth: int) -> list[Node]:
        """A use as `repeat` (default 1) `sequential` layers of the block's layers."""
        if not self.valid_use(use):
            if not self.problems:  # pragma: no cover - every refusal above reports why
                raise self.fail_now(use, "this use of a block cannot be expanded")
            return []
        if depth >= MAX_NESTING:
            raise self.fail_now(use, f"blocks nest deeper than {MAX_NESTING} uses inside one another")
        fields = _use_fields(use)
        target = fields["block"]
        block = self.blocks[target.value]
        copies = fields["repeat"].value if "repeat" in fields else 1
        least = copies * self.least_size(block)
        if self.size + least > MAX_EXPANDED_NODES:  # refused before anything is expanded
            raise self.fail_now(
                use,
                f"expanding this use of block '{block.name}' gives at least {least:,} values, more than "
                f"{MAX_EXPANDED_NODES:,} (is a `repeat` too large?)",
            )
        arguments = {k: v for k, v in fields.items() if k not in USE_KEYS}
        instances = []
        for copy in range(1, copies + 1):
            trail = (Use(block.name, use.origin.path, copy, copies),) + use.origin.trail
            values = {name: self.instantiate(node, trail, _Scope(self, {})) for name, node in block.defaults.items()}
            values.update(arguments)
            body = self.instantiate(block.layers, trail, _Scope(self, {**self.spec_params, **values}))
            body = self.walk(body, lambda inner: self.expand_use(inner, depth + 1))
            name = fields.get("name", Node(block.name, target.origin))
            instances.append(_sequential(name, body, target, use.origin))
        return instances

    def least_size(self, block: Block, depth: int = 0) -> int:
        """The fewest values one use of `block` counts (`count`): its definition's values, and for
        each use inside with a literal `repeat`, that many times the used block's; entries under an
        `if` and repeats written as expressions count nothing. The blocks form no cycle (checked
        before expansion) and uses nest at most `MAX_NESTING` deep (deeper ones count nothing, and
        are refused when expanded), so this ends; each block is sized once."""
        if block.name in self.least:
            return self.least[block.name]
        if depth > MAX_NESTING:
            return 0
        total = 0
        stack = [(block.layers, True)]
        while stack:
            node, in_layers = stack.pop()
            total += 1
            value = node.value
            if isinstance(value, dict):
                if "if" in value:
                    continue
                target, repeat = value.get("block"), value.get("repeat")
                copies = 1 if repeat is None else repeat.value if is_int(repeat.value) else 0
                if target is not None and isinstance(target.value, str) and target.value in self.blocks:
                    total += max(copies, 0) * self.least_size(self.blocks[target.value], depth + 1)
                stack.extend((v, False) for v in value.values())
            elif isinstance(value, list):
                for item in value:
                    if in_layers and isinstance(item.value, str) and item.value in self.blocks:
                        total += self.least_size(self.blocks[item.value], depth + 1)  # a use by its bare name
                    stack.append((item, False))
        self.least[block.name] = total
        return total

    def instantiate(self, node: Node, trail: tuple[Use, ...], scope: "_Scope") -> Node:
        """A copy of a definition's `node` for one use: `${...}` replaced, origins carrying `trail`."""
        self.count(node)
        origin = replace(node.origin, trail=trail)
        if isinstance(node.value, dict):
            test = node.value.get("if")
            decided = self.instantiate(test, trail, scope) if test is not None else None
            if decided is not None and decided.value is not True:
                return Node({"if": decided}, origin)  # to be dropped (`condition`): nothing else is read
            fields = {k: decided if k == "if" else self.instantiate(v, trail, scope) for k, v in node.value.items()}
            return Node(fields, origin)
        if isinstance(node.value, list):
            return Node([self.instantiate(v, trail, scope) for v in node.value], origin)
        if isinstance(node.value, str) and _references(node.value):
            return self.substitute(node.value, origin, scope)
        return Node(node.value, origin)

    def substitute(self, text: str, origin: Origin, scope: "_Scope") -> Node:
        """`text` with its `${...}` replaced: a whole-value bare `${p}` by the argument itself, any
        other whole-value expression by its result, each one inside longer text written into it."""
        whole = _REFERENCE.fullmatch(text)
        if whole:
            source = whole.group(1)
            if source.strip() in scope.arguments:  # a bare parameter: the argument, where it is written
                return self.passed(scope.arguments[source.strip()], (source.strip(), origin.path))
            return self.constant(self.evaluate(source, origin, scope), origin)
        failed = False

        def put(match: re.Match[str]) -> str:
            nonlocal failed
            source = match.group(1)
            value = self.evaluate(source, origin, scope)
            if value is _FAILED:
                failed = True
            elif isinstance(value, bool):
                return "true" if value else "false"
            elif isinstance(value, (str, int, float)):
                return str(value)
            else:
                what = "argument" if source.strip() in scope.arguments else "value"
                self.problem(
                    Node(text, origin),
                    f"${{{source}}} stands inside text, so its {what} must be a number or a string, got {show(value)}",
                )
                failed = True
            return ""

        result = _REFERENCE.sub(put, text)
        return Node(_FAILED if failed else result, origin)

    def evaluate(self, source: str, origin: Origin, scope: "_Scope") -> Any:
        """The value of the expression `source` for one use, or `_FAILED` with its problem
        reported at the expression (with the values it read, since they depend on the use)."""
        expression = self.parse(source)
        self.steps += expression.size
        if self.steps > MAX_EVALUATION_STEPS:
            raise self.fail_now(
                Node(source, origin),
                f"expanding the blocks evaluates more than {MAX_EVALUATION_STEPS:,} steps of expressions "
                "(is a `repeat` too large?)",
            )
        try:
            return expression.evaluate(scope)
        except ExpressionError as error:
            names = sorted(n for n in expression.names if n in scope.arguments)
            here = "; here " + ", ".join(f"{n} = {show(scope[n])}" for n in names) if names else ""
            self.problem(Node(source, origin), f"${{{source}}}: {error}{here}")
            return _FAILED

    def constant(self, value: Any, origin: Origin) -> Node:
        """A computed value as nodes, all at the place of the expression that computed it."""
        self.count(Node(value, origin))
        if isinstance(value, dict):
            return Node({k: self.constant(v, origin) for k, v in value.items()}, origin)
        if isinstance(value, list):
            return Node([self.constant(v, origin) for v in value], origin)
        return Node(value, origin)

    def plain(self, node: Node) -> Any:
        """An argument as plain data, for an expression to read (counted like an expansion)."""
        self.count(node)
        if isinstance(node.value, dict):
            return {k: self.plain(v) for k, v in node.value.items()}
        if isinstance(node.value, list):
            return [self.plain(v) for v in node.value]
        return node.value

    def passed(self, argument: Node, via: tuple[str, SpecPath]) -> Node:
        """A copy of an argument, each value remembering the parameter it was passed as."""
        self.count(argument)
        origin = replace(argument.origin, via=via)
        if isinstance(argument.value, dict):
            return Node({k: self.passed(v, via) for k, v in argument.value.items()}, origin)
        if isinstance(argument.value, list):
            return Node([self.passed(v, via) for v in argument.value], origin)
        return Node(argument.value, origin)

    def count(self, node: Node) -> None:
        self.size += 1
        if self.size > MAX_EXPANDED_NODES:
            raise self.fail_now(
                node,
                f"expanding the blocks and parameters gives more than {MAX_EXPANDED_NODES:,} values (is a `repeat` "
                "too large, or a long list passed to many places?)",
            )


class _Scope(Mapping[str, Any]):
    """The arguments of one use as an expression reads them: plain values, each unwrapped the first
    time an expression reads it (an argument no expression reads costs nothing)."""

    def __init__(self, expander: _Expander, arguments: dict[str, Node]):
        self.expander = expander
        self.arguments = arguments
        self.read: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self.read:
            self.read[name] = self.expander.plain(self.arguments[name])
        return self.read[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.arguments)

    def __len__(self) -> int:
        return len(self.arguments)


def _where(name: str, source: str) -> str:
    """How a message about `name` starts: with the expression that reads it, unless it is the name."""
    return "" if source.strip() == name else f"${{{source}}}: "


def _call(name: str) -> str:
    """A hint for a function's name read as a parameter (`max` without its call)."""
    return f"; {name} is a function: call it, like {name}(...)" if name in FUNCTIONS else ""


def _sequential(name: Node, layers: Node, target: Node, origin: Origin) -> Node:
    return Node({"type": Node("sequential", target.origin), "name": name, "layers": layers}, origin)


def _use_fields(use: Node) -> dict[str, Node]:
    """A use's fields; a bare block name stands for `{block: name}`."""
    if isinstance(use.value, dict):
        return use.value
    return {"block": use}


def _is_open(node: Node) -> bool:
    """Whether a value still holds a `${...}` reference (a use inside a block's definition)."""
    return isinstance(node.value, str) and bool(_references(node.value))


def _references(text: Any) -> list[str]:
    if not isinstance(text, str) or "${" not in text:
        return []
    names = _REFERENCE.findall(text)
    return names if text.count("${") == len(names) else names + ["${"]  # an unclosed `${` is malformed


def _strings(node: Node) -> Iterator[Node]:
    if isinstance(node.value, dict):
        for value in node.value.values():
            yield from _strings(value)
    elif isinstance(node.value, list):
        for value in node.value:
            yield from _strings(value)
    elif isinstance(node.value, str):
        yield node


def _unwrap(node: Node, path: SpecPath, origins: dict[SpecPath, Origin]) -> Any:
    """Plain data again, recording each value's origin under its new path."""
    origins[path] = node.origin
    if isinstance(node.value, dict):
        return {k: _unwrap(v, path + (k,), origins) for k, v in node.value.items()}
    if isinstance(node.value, list):
        return [_unwrap(v, path + (i,), origins) for i, v in enumerate(node.value)]
    return node.value


def show_node(node: Node) -> str:
    return show(_unwrap(node, (), {}))


__all__ = ["MAX_NESTING", "ExpandedDocument", "expand"]
