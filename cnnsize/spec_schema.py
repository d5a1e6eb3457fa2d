"""The spec format's JSON Schema, generated from the pydantic models (never written by hand).

The root is the `Spec` model; `$defs/Layer` is every registered kind's model, told apart by its
`type`, or the bare name of a kind that needs no fields (`- relu`), or a use of a block (a mapping
with `block`, or a block's bare name: any other identifier, since which blocks a spec defines is
not something a JSON Schema can look up). Any layer entry may carry `if: true|false`; inside a
block's `layers` every value may be a `${...}` expression, so those are not checked here. Layer lists (in `Spec` and in
composites, via `LayerList`) refer to `#/$defs/Layer`, so a new kind, field or section appears here
as soon as its model exists. Editors with the YAML language server use the committed copy
(`schema/cnnsize.schema.json`) to complete and check specs.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import models_json_schema

from cnnsize.kinds import KINDS, LayerKind
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
    # A block's name is never a kind's (blocks.py refuses that), so a bare kind name is never one.
    definitions["BlockName"] = {**BLOCK_NAME, "not": {"enum": list(KINDS)}}
    definitions["Layer"]["anyOf"] += [{"$ref": "#/$defs/BlockUse"}, {"$ref": "#/$defs/BlockName"}]
    for ref in _kind_refs(definitions["Layer"]):
        # A layer written as a mapping must say its `type`: the parser needs it to pick the kind.
        kind = definitions[ref.rsplit("/", 1)[-1]]
        kind["required"] = ["type", *(f for f in kind.get("required", []) if f != "type")]
        kind["properties"]["if"] = {"type": "boolean", "description": IF_DESCRIPTION}
    root = definitions.pop("Spec")
    _add_plain_layers(definitions)
    # Without `blocks`, a layer cannot be a block's use: a bare name that is no kind is a typo.
    root["if"] = {"required": ["blocks"]}
    root["else"] = {"properties": {"layers": {"items": {"$ref": "#/$defs/PlainLayer"}}}}
    return {"$schema": DIALECT, "title": TITLE, **{k: v for k, v in root.items() if k != "title"}, "$defs": definitions}


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
