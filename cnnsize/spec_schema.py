"""The spec format's JSON Schema, generated from the pydantic models (never written by hand).

The root is the `Spec` model; `$defs/Layer` is every registered kind's model, told apart by its
`type`, or the bare name of a kind that needs no fields (`- relu`), or a use of a block (a mapping
with `block`, or a block's bare name: any other identifier, since which blocks a spec defines is
not something a JSON Schema can look up). Any layer entry may carry `if: true|false`; inside a
block's `layers` every value may be a `${...}` expression, so those are not checked here. A spec's
`params` (`$defs/ParamValue`) are read by `${...}` anywhere else: every field of a layer, of the
budgets and of the spec (but its layers, blocks and params) also takes a whole-value `${...}`
(`$defs/Reference`), and its lists each item; which names exist only the parser checks. Layer lists (in `Spec` and in
composites, via `LayerList`) refer to `#/$defs/Layer`, so a new kind, field or section appears here
as soon as its model exists. Editors with the YAML language server use the committed copy
(`schema/cnnsize.schema.json`) to complete and check specs.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import models_json_schema

from cnnsize.expressions import KEYWORDS
from cnnsize.kinds import KINDS, Composite, LayerKind
from cnnsize.params import IDENTIFIER, VALUE_KINDS
from cnnsize.schema import Spec

DIALECT = "https://json-schema.org/draft/2020-12/schema"
TITLE = "cnnsize spec"
COMMITTED_COPY = "schema/cnnsize.schema.json"


IF_DESCRIPTION = "Keep this entry (true) or leave it out (false); in a block's layers also a `${...}` condition."


class Block(BaseModel):
    """A named, parameterised list of layers (docs/blocks.md). Inside `layers`, `${param}` or an
    expression of the parameters (`${in * 6}`) may stand for any value, so its layers are checked
    when the spec is expanded, not here."""

    model_config = ConfigDict(extra="forbid")

    description: Optional[str] = None
    params: list[str] = Field(default_factory=list, description="Arguments every use must give.")
    defaults: dict[str, Any] = Field(default_factory=dict, description="Arguments a use may give.")
    layers: list[Any] = Field(
        min_length=1, description="Layers and block uses; `${...}` gives an argument or an expression of them."
    )


class BlockUse(BaseModel):
    """A use of a block: `block`, its arguments (every other key), an optional `name`, `repeat` and `if`."""

    model_config = ConfigDict(extra="allow")

    block: str
    name: Optional[str] = None
    repeat: Union[Annotated[int, Field(ge=0)], str] = Field(1, description="Copies of this entry (0 writes none).")
    if_: bool = Field(True, alias="if", description=IF_DESCRIPTION)


REFERENCE = {
    "type": "string",
    "pattern": r"^\$\{[^}]*\}$",
    "description": "`${name}` or `${expression}`: a spec parameter (`params`), or in a block's layers an argument; "
    "what it stands for is checked when the spec is read (docs/spec.md#spec-parameters).",
}
PARAM_VALUE = {
    "anyOf": [
        {"type": "number"},
        {"type": "boolean"},
        {"type": "string", "not": {"pattern": r"\$\{"}},
        {"type": "array", "items": {"$ref": "#/$defs/ParamValue"}},
    ],
    "description": f"A spec parameter's value: {VALUE_KINDS} (plain: no `${{...}}`).",
}
PARAMS = {
    "type": "object",
    "description": "The spec's parameters, by name, with their values: `${name}` or `${expression}` reads them in any "
    "value, blocks included; `--set NAME=VALUE` overrides one (docs/spec.md#spec-parameters).",
    "propertyNames": {"pattern": f"^{IDENTIFIER.pattern}$", "not": {"enum": list(KEYWORDS)}},
    "additionalProperties": {"$ref": "#/$defs/ParamValue"},
}
ANNOTATIONS = ("title", "description", "default")
NOT_REFERENCES = ("type", "layers", "blocks", "params")  # fields a `${...}` never stands for (and layer lists)


SHARED_LAYER = {
    "type": "object",
    "description": "An earlier layer called again, its weights shared: `{shares: <name>}` takes that layer's kind and "
    "fields (docs/spec.md#shared-weights).",
    "properties": {
        "shares": {"type": "string", "minLength": 1, "description": "The name of the earlier layer called again."},
        "name": {"type": "string", "description": "Your name for this call."},
        "if": {"type": "boolean", "description": IF_DESCRIPTION},
    },
    "required": ["shares"],
    "additionalProperties": False,
}

BLOCK_NAME = {
    "type": "string",
    "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
    "description": "A block that needs no arguments, used by its bare name (docs/blocks.md).",
}


def bare_kinds() -> list[str]:
    """Kinds that may be written as a bare name: those whose fields all have defaults."""
    return [name for name, cls in KINDS.items() if not any(f.is_required() for f in cls.model_fields.values())]


def _layer_model() -> type[RootModel[Any]]:
    """A model named `Layer` (so its definition is `#/$defs/Layer`): a bare kind name, or a mapping
    validated by the kind its `type` names."""
    kinds: tuple[type[LayerKind], ...] = tuple(KINDS.values())
    mapping = Annotated[Union[kinds], Field(discriminator="type")]  # type: ignore[valid-type]
    name = Literal[tuple(bare_kinds())]  # type: ignore[valid-type]
    return type("Layer", (RootModel[Union[name, mapping]],), {"__doc__": "One layer of a spec."})  # type: ignore[valid-type]


def json_schema() -> dict[str, Any]:
    """The spec format's JSON Schema (draft 2020-12) as a dict."""
    layer = _layer_model()
    models = [(Spec, "validation"), (layer, "validation"), (Block, "validation"), (BlockUse, "validation")]
    _, generated = models_json_schema(models)  # type: ignore[arg-type]
    definitions: dict[str, Any] = generated["$defs"]
    # Blocks are expanded before the spec is validated, so `Spec` has no field for them.
    definitions["Spec"]["properties"]["blocks"] = {
        "type": "object",
        "description": "Named, parameterised layer lists that layers use with `block:` (docs/blocks.md).",
        "additionalProperties": {"$ref": "#/$defs/Block"},
    }
    definitions["Spec"]["properties"]["params"] = PARAMS
    definitions["ParamValue"] = PARAM_VALUE
    definitions["Reference"] = REFERENCE
    # A block's name is never a kind's (blocks.py refuses that), so a bare kind name is never one.
    definitions["BlockName"] = {**BLOCK_NAME, "not": {"enum": list(KINDS)}}
    definitions["SharedLayer"] = json.loads(json.dumps(SHARED_LAYER))
    definitions["Layer"]["anyOf"] += [
        {"$ref": "#/$defs/SharedLayer"},
        {"$ref": "#/$defs/BlockUse"},
        {"$ref": "#/$defs/BlockName"},
    ]
    for ref in _kind_refs(definitions["Layer"]):
        # A layer written as a mapping must say its `type`: the parser needs it to pick the kind.
        kind = definitions[ref.rsplit("/", 1)[-1]]
        kind["required"] = ["type", *(f for f in kind.get("required", []) if f != "type")]
        kind["properties"]["if"] = {"type": "boolean", "description": IF_DESCRIPTION}
    for name in ("Spec", "Budgets", "BlockUse", *(ref.rsplit("/", 1)[-1] for ref in _kind_refs(definitions["Layer"]))):
        _accept_references(definitions[name])
    kinds = [definitions[ref.rsplit("/", 1)[-1]] for ref in _kind_refs(definitions["Layer"])]
    definitions["SharedLayer"]["properties"]["from"] = kinds[0]["properties"]["from"]  # as every kind's
    root = definitions.pop("Spec")
    _add_plain_layers(definitions)
    # Without `blocks`, a layer cannot be a block's use: a bare name that is no kind is a typo.
    root["if"] = {"required": ["blocks"]}
    root["else"] = {"properties": {"layers": {"items": {"$ref": "#/$defs/PlainLayer"}}}}
    return {"$schema": DIALECT, "title": TITLE, **{k: v for k, v in root.items() if k != "title"}, "$defs": definitions}


def _accept_references(model: dict[str, Any]) -> None:
    """Let each field of `model` be a whole-value `${...}` as well, but `NOT_REFERENCES` and the
    fields in which composites hold layers."""
    lists = {name for cls in KINDS.values() if issubclass(cls, Composite) for name in cls.layer_fields}
    properties = model["properties"]
    for name in properties:
        if name not in NOT_REFERENCES and name not in lists:
            properties[name] = _or_reference(properties[name])


def _or_reference(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, also taking a whole-value `${...}` in its place, and in place of each item of a
    list or value of a mapping it describes (`kernel_size: ["${k}", 1]`)."""
    schema = _items_or_reference(schema)
    if set(schema) <= {"anyOf", *ANNOTATIONS}:  # only alternatives: one more
        return {**schema, "anyOf": [*schema["anyOf"], {"$ref": "#/$defs/Reference"}]}
    annotations = {key: schema.pop(key) for key in ANNOTATIONS if key in schema}
    return {**annotations, "anyOf": [schema, {"$ref": "#/$defs/Reference"}]}


def _items_or_reference(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` whose lists' items and mappings' values (in it or in its alternatives) each also
    take a `${...}`; a layer list's items are not (they are layers, by `$ref`)."""
    schema = dict(schema)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict) and "$ref" not in schema[key]:
            schema[key] = _or_reference(schema[key])
    if "anyOf" in schema:
        schema["anyOf"] = [_items_or_reference(option) for option in schema["anyOf"]]
    return schema


def _add_plain_layers(definitions: dict[str, Any]) -> None:
    """Add `PlainLayer`, a `Layer` that is no block use, with a copy of each definition that holds
    layers (`PlainResidual`, ...) whose layers are plain too: the layers of a spec without blocks."""
    holders = {"Layer"}
    while True:  # the definitions that refer, through others or directly, to `Layer`
        refs = tuple(f'"#/$defs/{name}"' for name in holders)
        found = {name for name, d in definitions.items() if any(r in json.dumps(d) for r in refs)} | holders
        if found == holders:
            break
        holders = found

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, str) and value.startswith("#/$defs/") and value[len("#/$defs/") :] in holders:
            return "#/$defs/Plain" + value[len("#/$defs/") :]
        return value

    for name in sorted(holders):
        definitions["Plain" + name] = plain(definitions[name])
    uses = ({"$ref": "#/$defs/BlockUse"}, {"$ref": "#/$defs/BlockName"})
    layer = definitions["PlainLayer"]
    layer["anyOf"] = [option for option in layer["anyOf"] if option not in uses]
    layer["description"] = "One layer of a spec without blocks."


def _kind_refs(layer: dict[str, Any]) -> list[str]:
    """The `$ref` of every kind's model in the `Layer` definition (from its discriminator)."""
    found = []
    for option in layer.get("anyOf", []) + layer.get("oneOf", []):
        found += option.get("discriminator", {}).get("mapping", {}).values()
    if len(found) != len(KINDS):
        raise RuntimeError(f"the Layer schema names {len(found)} kinds, but {len(KINDS)} are registered")
    return found


def schema_text() -> str:
    """The schema as the committed file holds it: indented JSON ending in a newline."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


__all__ = ["COMMITTED_COPY", "bare_kinds", "json_schema", "schema_text"]
