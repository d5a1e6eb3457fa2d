"""The spec document: its pydantic models, and parsing YAML data into them with exact locations.

Layers are parsed one by one (a kind name or a mapping with `type`), each against its kind's model,
so every pydantic error location maps exactly onto the YAML: no guessing which parts to drop.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal, Mapping, Optional, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cnnsize.blocks import expand, more_uses
from cnnsize.errors import Location, Problem, SpecError, SpecPath, UsageError
from cnnsize.fields import InputShape, Size
from cnnsize.kinds import KINDS, Composite, LayerKind
from cnnsize.kinds.base import LayerList, OneReference
from cnnsize.kinds.meanings import FIELD_MEANINGS, KIND_MEANINGS
from cnnsize.kinds.shared import SHORT_FORM_KEYS, SharedLayer
from cnnsize.spelling import closest, suggest
from cnnsize.units import DType, parse_bytes, parse_count
from cnnsize.values import show
from cnnsize.yamlio import Document


def _readable(parse: Any, what: str) -> Any:
    def validate(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, float) and value >= 0 and value != float("inf"):
            # YAML reads `1e9` as a float: the number written is what its shortest repr says
            # (1e30 is 10**30, not the float's 1000000000000000019884624838656)
            value = repr(value)
        if isinstance(value, str):
            try:
                return parse(value)
            except ValueError as exc:
                raise PydanticCustomError("readable", str(exc)) from None
        raise PydanticCustomError("readable", "must be {what}, got {got}", {"what": what, "got": show(value)})

    return validate


_READABLE_SCHEMA = {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]}
CountLimit = Annotated[
    int, PlainValidator(_readable(parse_count, "a count like 25000000 or '25M'")), WithJsonSchema(_READABLE_SCHEMA)
]
ByteLimit = Annotated[
    int, PlainValidator(_readable(parse_bytes, "a size like 1048576 or '1MiB'")), WithJsonSchema(_READABLE_SCHEMA)
]


class Budgets(BaseModel):
    """Upper limits that `cnnsize check` enforces, and the output shape it expects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    params: Optional[CountLimit] = Field(None, description="Most trainable parameters.")
    non_trainable_params: Optional[CountLimit] = Field(None, description="Most running statistics.")
    macs: Optional[CountLimit] = Field(None, description="Most multiply-accumulates per batch.")
    flops: Optional[CountLimit] = Field(None, description="Most FLOPs (2 x MACs) per batch.")
    activation_memory: Optional[ByteLimit] = Field(None, description="Most bytes of layer outputs per batch.")
    param_memory: Optional[ByteLimit] = Field(None, description="Most bytes of trainable parameters.")
    train_memory: Optional[ByteLimit] = Field(
        None,
        description="Most bytes a training step holds (parameters, gradients, optimizer state, what autograd "
        "saves, the input batch), as `cnnsize plan` counts them.",
    )
    inference_memory: Optional[ByteLimit] = Field(
        None, description="Most bytes an inference pass holds: parameters and the most tensors alive at once."
    )
    optimizer: Literal["sgd", "momentum", "adam", "adamw"] = Field(
        "sgd", description="The optimizer whose state `train_memory` counts."
    )
    amp: Optional[Literal["bf16", "fp16"]] = Field(
        None, description="Mixed precision for the memory budgets: half activations, float32 weights."
    )
    output_shape: Optional[InputShape] = Field(None, description="The shape the network must end with.")
    batch_size: Size = Field(1, description="The batch size at which the limits on work and memory hold.")


def require_spec(spec: object, argument: str = "spec") -> "Spec":
    """`spec`, when it is a Spec the loader made; else a TypeError naming the argument, or a
    UsageError for a Spec built by hand (its layers stay plain data: only `load` reads them)."""
    if not isinstance(spec, Spec):
        raise TypeError(f"{argument} must be a cnnsize.Spec, as cnnsize.load gives; got {type(spec).__name__}")
    if spec._document is None or not all(isinstance(layer, LayerKind) for layer in spec.layers):
        raise UsageError(
            f"{argument} was built by hand: its layers are plain data that only cnnsize.load reads into layer "
            "kinds; read the spec with cnnsize.load(yaml_text_or_path)"
        )
    return spec


INPUT = "input"
"""The name of a spec's one `input`, and inside a composite or block, of its input."""


class Spec(BaseModel):
    """A network: its input volume (or several named inputs), its layers in order, its outputs (the
    last layer's, unless named), and optional budgets."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"oneOf": [{"required": ["input"]}, {"required": ["inputs"]}]}
    )

    name: Optional[str] = Field(None, description="Defaults to the file name without extension.")
    description: Optional[str] = None
    input: Optional[InputShape] = Field(
        None, description="[channels, height, width], or [features] for a flat input; `from: input` names it."
    )
    inputs: Optional[dict[str, InputShape]] = Field(
        None,
        description="Several inputs, by name (instead of `input`): `{image: [3, 224, 224], depth: [1, 224, 224]}`.",
    )
    outputs: Optional[list[OneReference]] = Field(
        None,
        min_length=1,
        description="The network's outputs, by reference (`p3`, `heads.1`, -1); default: the last layer's output. "
        "Totals count every layer that feeds one.",
    )
    dtype: DType = "float32"
    layers: LayerList = Field(min_length=1)
    budgets: Optional[Budgets] = None

    _document: Optional[Document] = PrivateAttr(None)
    _graph: Any = PrivateAttr(None)  # the resolved graph, once resolved (cnnsize.graph.resolve)

    @model_validator(mode="after")
    def _one_kind_of_input(self) -> "Spec":
        if self.input is None and self.inputs is None:
            raise PydanticCustomError("input", "missing required field 'input' (or `inputs`, several by name)")
        if self.input is not None and self.inputs is not None:
            raise PydanticCustomError("input", "give `input` (one) or `inputs` (several, by name), not both")
        if self.inputs is not None and not self.inputs:
            raise PydanticCustomError("input", "`inputs` names no input")
        return self

    @property
    def named_inputs(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of each input: `input` alone is named `input`."""
        if self.inputs is not None:
            return list(self.inputs.items())
        assert self.input is not None
        return [(INPUT, self.input)]

    @property
    def params(self) -> dict[str, Any]:
        """The spec's parameters (its `params:`) with the values it was read with: as declared, or
        as set from outside (`cnnsize.load(..., params={...})`, `--set`); empty when it has none."""
        return dict(getattr(self._document, "params", None) or {})

    @property
    def file(self) -> Optional[str]:
        """The file the spec was read from; None for YAML text."""
        return self._document.file if self._document else None

    @property
    def title(self) -> str:
        """The spec's name, else its file's stem."""
        if self.name:
            return self.name
        if self.file:
            from pathlib import Path

            return Path(self.file).stem
        return "network"

    def locate(self, path: SpecPath, *, key: bool = False) -> Location:
        """Where `path` (like `('layers', 0, 'kernel_size')`) is written in the spec's YAML."""
        if self._document is None:
            return Location(None, None, None, path)
        return self._document.locate(path, key=key)


def parse_spec(document: Document, params: Optional[Mapping[str, Any]] = None) -> Spec:
    """Validate a YAML document as a spec; every problem found is reported at once. `params` set
    the values of the spec's parameters (`OverrideError` for one it does not declare)."""
    data = document.data
    if data is None:
        raise SpecError.at("the file is empty: a spec needs `input` and `layers`", Location(document.file, 1, 1))
    if not isinstance(data, dict):
        raise SpecError.at(
            f"a spec is a mapping with `input` and `layers`, not {type(data).__name__} {show(data)[:40]}",
            document.locate(()),
        )
    document = expand(document, layer_lists(), params)
    data = document.data
    problems: list[Problem] = []
    fields = dict(data)
    if isinstance(data.get("layers"), list):
        before = len(problems)
        parsed = _parse_layers(data["layers"], ("layers",), document, problems)
        # A list whose every entry is wrong is reported entry by entry, not also as empty.
        fields["layers"] = parsed if len(problems) == before else data["layers"]
    try:
        spec = Spec.model_validate(fields)
    except ValidationError as exc:
        problems.extend(_translate(exc, (), Spec, document))
        spec = None
    if problems or spec is None:
        raise SpecError(_distinct(sorted(problems, key=_position)))
    spec._document = document
    return spec


def layer_lists() -> dict[str, dict[str, int]]:
    """Every kind's name, with the fields in which composites hold layers (for block expansion)."""
    return {name: dict(cls.layer_fields) if issubclass(cls, Composite) else {} for name, cls in KINDS.items()}


def _position(problem: Problem) -> tuple[int, int]:
    return (problem.location.line or 0, problem.location.column or 0)


def _distinct(problems: list[Problem]) -> list[Problem]:
    """One problem per place and message: a mistake inside a block is found once per use of the
    block (or of a spec parameter), and is shown once, with the first use as its context and a
    count of the others."""
    first: dict[tuple[Any, ...], Problem] = {}
    repeats: dict[tuple[Any, ...], int] = {}
    for problem in problems:
        where = replace(problem.location, context=None)
        key = (where, problem.message)
        if key in first:
            repeats[key] += 1
        else:
            first[key], repeats[key] = problem, 0
    distinct = []
    for key, problem in first.items():
        if repeats[key]:
            problem = Problem(more_uses(problem.location, repeats[key]), problem.message)
        distinct.append(problem)
    return distinct


def _parse_layers(raw: list[Any], path: SpecPath, document: Document, problems: list[Problem]) -> list[Any]:
    """Parse each entry; a bad entry adds its problems and is left out of the result."""
    parsed = [_parse_layer(entry, path + (i,), document, problems) for i, entry in enumerate(raw)]
    return [layer for layer in parsed if layer is not None]


def _parse_layer(raw: Any, path: SpecPath, document: Document, problems: list[Problem]) -> Optional[LayerKind]:
    if isinstance(raw, str):
        fields: dict[str, Any] = {"type": raw}
        type_path = path
    elif isinstance(raw, dict):
        fields = dict(raw)
        type_path = path + ("type",)
    else:
        problems.append(
            Problem(
                document.locate(path),
                f"a layer is a kind name (like relu) or a mapping with a `type`, not {show(raw)}",
            )
        )
        return None
    kind = fields.get("type")
    if kind is None and "shares" in fields:
        return _parse_shared(fields, path, document, problems)
    if kind is None:
        problems.append(Problem(document.locate(path), "a layer needs a `type` (for example `type: conv2d`)"))
        return None
    if not isinstance(kind, str) or kind not in KINDS:
        hint = suggest(kind, KINDS, KIND_MEANINGS) if isinstance(kind, str) else ""
        problems.append(Problem(document.locate(type_path), f"unknown layer kind {show(kind)}{hint}"))
        return None
    cls = KINDS[kind]
    if issubclass(cls, Composite):
        before = len(problems)
        _parse_nested(cls, fields, path, document, problems)
        if len(problems) > before:
            return None
    try:
        return cls.model_validate(fields)
    except ValidationError as exc:
        problems.extend(_translate(exc, path, cls, document))
        return None


def _parse_shared(
    fields: dict[str, Any], path: SpecPath, document: Document, problems: list[Problem]
) -> Optional[LayerKind]:
    """`{shares: <name>}`: the named layer called again, with an optional `name` and `from`; its
    kind and fields are the named layer's (the graph puts it in place)."""
    extra = [key for key in fields if key not in SHORT_FORM_KEYS]
    for key in extra:
        where = document.locate(path + (key,), key=True)
        problems.append(
            Problem(
                replace(where, path=where.path[:-1]),
                f"unknown field '{key}' for a layer that shares weights: `{{shares: {show(fields['shares'])}}}` "
                "takes that layer's kind and fields, and may give only `name` and `from`; to write them out, "
                "give `type` and every field",
            )
        )
    if extra:
        return None
    try:
        return SharedLayer.model_validate(fields)
    except ValidationError as exc:
        problems.extend(_translate(exc, path, SharedLayer, document))
        return None


def _parse_nested(
    cls: type[Composite], fields: dict[str, Any], path: SpecPath, document: Document, problems: list[Problem]
) -> None:
    """Replace a composite's layer lists in `fields` by parsed layers (in place); a value of the
    wrong type is left for pydantic to report."""
    for name, depth in cls.layer_fields.items():
        value = fields.get(name)
        if not isinstance(value, list):
            continue
        if depth == 1:
            fields[name] = _parse_layers(value, path + (name,), document, problems)
        else:
            for i, branch in enumerate(value):
                if not isinstance(branch, list):
                    problems.append(
                        Problem(
                            document.locate(path + (name, i)),
                            f"each of the {name} is a list of layers"
                            f" (one branch holding {show(branch)} is [{show(branch)}])",
                        )
                    )
            fields[name] = [
                _parse_layers(branch, path + (name, i), document, problems) if isinstance(branch, list) else branch
                for i, branch in enumerate(value)
            ]


def _translate(exc: ValidationError, base: SpecPath, model: type[BaseModel], document: Document) -> list[Problem]:
    """pydantic's errors as problems at their exact YAML locations.

    A misspelt required field gives pydantic two errors (missing, and unknown); the unknown one,
    which says "did you mean", stands for both."""
    errors = exc.errors(include_url=False)
    misspelt = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            owner = _owner(model, tuple(error["loc"][:-1]))
            meant = closest(str(error["loc"][-1]), owner.model_fields, FIELD_MEANINGS) if owner else None
            if meant is not None:
                misspelt.add(tuple(error["loc"][:-1]) + (meant,))
    problems = []
    for error in errors:
        path = base + tuple(error["loc"])
        kind = error["type"]
        if kind == "missing" and tuple(error["loc"]) in misspelt:
            continue
        if kind == "missing":
            message = f"missing required field '{path[-1]}'"
            location = document.locate(path[:-1])
        elif kind == "extra_forbidden":
            owner = _owner(model, tuple(error["loc"][:-1]))
            fields = [f for f in owner.model_fields if f != "type"] if owner else []
            what = f" for {owner.model_fields['type'].default}" if owner and "type" in owner.model_fields else ""
            message = f"unknown field '{path[-1]}'{what}{suggest(str(path[-1]), fields, FIELD_MEANINGS)}"
            location = document.locate(path, key=True)
            location = replace(location, path=location.path[:-1])
        else:
            message = error["msg"]
            if message.startswith("Input should be"):
                message = "must be" + message[len("Input should be") :] + f", got {show(error.get('input'))}"
            elif message.startswith("List should have at least"):
                message = "must not be empty"
            location = document.locate(path)
        problems.append(Problem(location, message))
    return problems


def _owner(model: type[BaseModel], loc: tuple[Any, ...]) -> Optional[type[BaseModel]]:
    """The model class whose fields live at `loc` below `model` (following nested models)."""
    owner: Any = model
    for key in loc:
        info = owner.model_fields.get(key) if isinstance(key, str) else None
        if info is None:
            return None
        candidates = [info.annotation, *get_args(info.annotation)]
        owner = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if owner is None:
            return None
    return owner


__all__ = ["Budgets", "Spec", "parse_spec"]
