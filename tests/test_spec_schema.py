"""The spec format's JSON Schema: generated from the models, committed, and agreeing with the
parser on good and bad specs (checked with the standard `jsonschema` validator)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import jsonschema
import pytest
import yaml
from graph_rows import GRAPHS
from typer.testing import CliRunner

from cnnsize.cli import app
from cnnsize.errors import SpecError
from cnnsize.kinds import KINDS
from cnnsize.kinds.base import LayerKind, register
from cnnsize.loader import load
from cnnsize.spec_schema import COMMITTED_COPY, bare_kinds, json_schema, schema_text

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "cnnsize" / "zoo").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads((ROOT / COMMITTED_COPY).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_copy_is_current() -> None:
    committed = (ROOT / COMMITTED_COPY).read_text()
    assert committed == schema_text(), (
        f"{COMMITTED_COPY} is stale; regenerate it: PYTHONPATH=. python -m cnnsize schema > {COMMITTED_COPY}"
    )


def test_schema_command_prints_it() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == schema_text()
    assert json.loads(result.stdout)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_there_are_bundled_specs() -> None:
    assert len(SPECS) >= 5


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_bundled_spec_is_valid(validator: jsonschema.protocols.Validator, path: Path) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


GOOD_LAYERS = "  - {type: conv2d, out_channels: 4, kernel_size: 3}\n  - relu\n"

# Specs that both the schema and the parser refuse: (what is wrong, YAML text).
BAD_SPECS = [
    ("unknown kind", "input: [3, 8, 8]\nlayers:\n  - {type: conv3d, out_channels: 4, kernel_size: 3}\n"),
    ("misspelled field", "input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernal_size: 3}\n"),
    ("missing required field", "input: [3, 8, 8]\nlayers:\n  - {type: conv2d, kernel_size: 3}\n"),
    ("mapping without type", "input: [3, 8, 8]\nlayers:\n  - {out_channels: 4, kernel_size: 3}\n"),
    ("bare kind that needs fields", "input: [3, 8, 8]\nlayers:\n  - conv2d\n"),
    ("zero kernel", "input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 0}\n"),
    (
        "padding mode typo",
        "input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: sme}\n",
    ),
    (
        "string for a flag",
        "input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3, bias: 'no'}\n",
    ),
    ("missing input", "layers:\n" + GOOD_LAYERS),
    ("empty layers", "input: [3, 8, 8]\nlayers: []\n"),
    ("input of two dimensions", "input: [8, 8]\nlayers:\n" + GOOD_LAYERS),
    ("unknown top-level field", "input: [3, 8, 8]\nlayer:\n" + GOOD_LAYERS),
    ("unknown dtype", "input: [3, 8, 8]\ndtype: float8\nlayers:\n" + GOOD_LAYERS),
    ("unknown budget", "input: [3, 8, 8]\nlayers:\n" + GOOD_LAYERS + "budgets: {weights: 10}\n"),
    ("empty residual body", "input: [3, 8, 8]\nlayers:\n  - {type: residual, body: []}\n"),
    (
        "bad layer inside a residual",
        "input: [3, 8, 8]\nlayers:\n  - type: residual\n    body: [{type: relu, negative_slope: 0.1}]\n",
    ),
    (
        "bad layer inside a concat branch",
        "input: [3, 8, 8]\nlayers:\n  - type: concat\n    branches: [[relu], [tanhh]]\n",
    ),
]


@pytest.mark.parametrize(("what", "text"), BAD_SPECS, ids=[what for what, _ in BAD_SPECS])
def test_bad_specs_are_rejected_by_schema_and_parser(
    validator: jsonschema.protocols.Validator, what: str, text: str
) -> None:
    assert list(validator.iter_errors(yaml.safe_load(text))), f"the schema accepts a spec with {what}"
    with pytest.raises(SpecError):
        load(text)


def test_a_good_inline_spec_is_accepted_by_both(validator: jsonschema.protocols.Validator) -> None:
    text = (
        "name: tiny\ninput: [3, 8, 8]\ndtype: float16\nlayers:\n"
        "  - {type: conv2d, out_channels: 4, kernel_size: [3, 1], padding: same, bias: false}\n"
        "  - type: residual\n    body: [batchnorm2d, relu]\n"
        "  - type: concat\n    branches: [[], [{type: maxpool2d, kernel_size: 3, stride: 1, padding: 1}]]\n"
        "  - flatten\n  - {type: linear, out_features: 10}\n"
        "budgets: {params: 1M, activation_memory: 2MiB, output_shape: [10]}\n"
    )
    assert list(validator.iter_errors(yaml.safe_load(text))) == []
    load(text)


def test_layer_is_every_kind_by_type_a_bare_name_a_shared_layer_or_a_block_use() -> None:
    schema = json_schema()
    layer = schema["$defs"]["Layer"]
    names, kinds, shared, use, bare_use = layer["anyOf"]
    assert shared == {"$ref": "#/$defs/SharedLayer"} and schema["$defs"]["SharedLayer"]["required"] == ["shares"]
    assert use == {"$ref": "#/$defs/BlockUse"} and schema["$defs"]["BlockUse"]["required"] == ["block"]
    assert bare_use == {"$ref": "#/$defs/BlockName"}
    assert schema["$defs"]["BlockName"]["not"] == {"enum": list(KINDS)}
    assert schema["properties"]["blocks"]["additionalProperties"] == {"$ref": "#/$defs/Block"}
    assert names["enum"] == bare_kinds()
    assert set(kinds["discriminator"]["mapping"]) == set(KINDS)
    for kind, ref in kinds["discriminator"]["mapping"].items():
        model = schema["$defs"][ref.rsplit("/", 1)[-1]]
        assert model["properties"]["type"]["const"] == kind
        assert model["required"][0] == "type"
    # A bare name is allowed only for kinds whose fields all have defaults.
    assert "relu" in names["enum"] and "flatten" in names["enum"]
    assert "conv2d" not in names["enum"] and "residual" not in names["enum"]


def test_the_schema_follows_the_models() -> None:
    """A kind registered now appears in the schema at once: nothing is written out by hand."""

    class Scale(LayerKind):
        """Multiply by a constant (a test kind)."""

        type: Literal["test_scale"] = "test_scale"
        factor: float

    register(Scale)
    try:
        schema: dict[str, Any] = json_schema()
    finally:
        del KINDS["test_scale"]
    mapping = schema["$defs"]["Layer"]["anyOf"][1]["discriminator"]["mapping"]
    assert mapping["test_scale"] == "#/$defs/Scale"
    assert schema["$defs"]["Scale"]["required"] == ["type", "factor"]
    assert "test_scale" not in json_schema()["$defs"]["Layer"]["anyOf"][1]["discriminator"]["mapping"]


def test_the_editor_modeline_is_just_a_comment_to_cnnsize(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(
        "# yaml-language-server: $schema=../cnnsize.schema.json\n"
        "input: [3, 32, 32]\nlayers:\n  - {type: conv2d, out_channels: 12, kernel_size: 3, padding: same}\n  - relu\n"
    )
    assert load(spec).layers[0].kind == "conv2d"


BLOCKS = """\
input: [3, 8, 8]
blocks:
  plain: {layers: [relu]}
  conv:
    params: [c]
    defaults: {stride: 1}
    layers:
      - {type: conv2d, out_channels: "${make_divisible(c * 0.75, 8)}", kernel_size: 3, stride: "${stride}"}
      - {type: residual, body: [relu], if: "${stride == 1}"}
"""


def test_a_block_used_by_its_bare_name_is_valid(validator: jsonschema.protocols.Validator) -> None:
    text = BLOCKS + "layers:\n  - plain\n  - {type: concat, branches: [[plain], [relu]]}\n"
    assert list(validator.iter_errors(yaml.safe_load(text))) == []
    load(text)


def test_if_and_expressions_are_valid_where_they_may_stand(validator: jsonschema.protocols.Validator) -> None:
    text = BLOCKS + (
        "layers:\n  - {block: conv, c: 32, if: true}\n  - {type: relu, if: false}\n"
        "  - {type: residual, body: [{type: relu, if: true}, plain]}\n"
    )
    assert list(validator.iter_errors(yaml.safe_load(text))) == []
    load(text)
    # without blocks, the same `if` is valid too (the layers then follow `PlainLayer`)
    text = (
        "input: [3, 8, 8]\nlayers:\n  - {type: relu, if: false}\n  - {type: residual, body: [{type: relu, if: true}]}\n"
    )
    assert list(validator.iter_errors(yaml.safe_load(text))) == []
    load(text)


BAD_IFS_AND_NAMES = [
    ("an `if` that is no boolean", "input: [3, 8, 8]\nlayers:\n  - {type: relu, if: 'no'}\n"),
    ("an `if` on a use that is no boolean", BLOCKS + "layers:\n  - {block: plain, if: 1}\n"),
    ("a bare unknown name without blocks", "input: [3, 8, 8]\nlayers:\n  - relux\n"),
    (
        "a bare unknown name nested, without blocks",
        "input: [3, 8, 8]\nlayers:\n  - {type: residual, body: [relux]}\n",
    ),
    ("a bare kind that needs fields, with blocks", BLOCKS + "layers:\n  - conv2d\n"),
]


@pytest.mark.parametrize(("what", "text"), BAD_IFS_AND_NAMES, ids=[what for what, _ in BAD_IFS_AND_NAMES])
def test_bad_ifs_and_names_are_rejected_by_schema_and_parser(
    validator: jsonschema.protocols.Validator, what: str, text: str
) -> None:
    assert list(validator.iter_errors(yaml.safe_load(text))), f"the schema accepts {what}"
    with pytest.raises(SpecError):
        load(text)


GRAPH_SPECS = [data for _, data in GRAPHS] + [
    {
        "inputs": {"image": [3, 8, 8], "depth": [1, 8, 8]},
        "layers": [
            {"type": "cat", "from": ["image", "depth"]},
            {"type": "conv2d", "out_channels": 4, "kernel_size": 1, "name": "p3"},
            {"type": "maxpool2d", "kernel_size": 2, "name": "p4"},
        ],
        "outputs": ["p3", "p4"],
    }
]


@pytest.mark.parametrize("data", GRAPH_SPECS, ids=[f"graph-{i}" for i in range(len(GRAPH_SPECS))])
def test_graph_specs_are_valid(validator: jsonschema.protocols.Validator, data: dict[str, Any]) -> None:
    load(yaml.safe_dump(data))  # the parser accepts it
    validator.validate(data)


@pytest.mark.parametrize(
    "data",
    [
        {"input": [3, 4, 4], "inputs": {"a": [3, 4, 4]}, "layers": ["relu"]},
        {"input": [3, 4, 4], "layers": [{"type": "relu", "from": 2}]},
        {"input": [3, 4, 4], "layers": [{"type": "relu", "from": []}]},
        {"input": [3, 4, 4], "layers": ["relu"], "outputs": []},
        {"input": [3, 4, 4], "layers": ["relu"], "outputs": [1]},
    ],
    ids=["input-and-inputs", "positive-offset", "empty-from", "no-outputs", "positive-output"],
)
def test_bad_graph_forms_are_rejected_by_schema_and_parser(
    validator: jsonschema.protocols.Validator, data: dict[str, Any]
) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(data)
    with pytest.raises(SpecError):
        load(yaml.safe_dump(data))


PARAMS = """\
params: {width: 8, k: [3, 1], classes: 10, deep: true, act: relu}
input: ["${width // 2}", 8, 8]
layers:
  - {type: conv2d, name: "conv${width}", out_channels: "${width}", kernel_size: ["${width // 4}", 1], bias: "${deep}"}
  - {type: conv2d, out_channels: "${width}", kernel_size: "${k}", if: "${deep}"}
  - flatten
  - {type: linear, out_features: "${classes}"}
budgets: {params: "${classes * 1000}", output_shape: ["${classes}"]}
"""


def test_spec_parameters_are_valid_where_they_may_stand(validator: jsonschema.protocols.Validator) -> None:
    data = yaml.safe_load(PARAMS)
    assert list(validator.iter_errors(data)) == []
    load(PARAMS)
    data["layers"][1]["kernel_size"] = "${k}x"  # not a whole-value reference: a string, which kernel_size is not
    assert list(validator.iter_errors(data))


BAD_PARAMS = [
    ("params that are no mapping", "params: [width]\n"),
    ("a parameter name that is no identifier", "params: {2x: 1}\n"),
    ("a parameter named like a word of the expressions", "params: {and: 1}\n"),
    ("a parameter whose value is a mapping", "params: {width: {a: 1}}\n"),
    ("a parameter whose value is null", "params: {width: null}\n"),
    ("a parameter whose value refers to another", 'params: {width: 8, wide: "${width * 2}"}\n'),
]


@pytest.mark.parametrize(("what", "text"), BAD_PARAMS, ids=[what for what, _ in BAD_PARAMS])
def test_bad_params_are_rejected_by_schema_and_parser(
    validator: jsonschema.protocols.Validator, what: str, text: str
) -> None:
    text += "input: [3, 8, 8]\nlayers: [relu]\n"
    assert list(validator.iter_errors(yaml.safe_load(text))), f"the schema accepts {what}"
    with pytest.raises(SpecError):
        load(text)
