"""Spec parameters: a top-level `params:` read by `${...}` anywhere in the spec, blocks included, and
values set from outside the spec (`cnnsize.load(..., params=)`); every mistake located."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

import cnnsize
from cnnsize.blocks import expand
from cnnsize.engine import analyze
from cnnsize.errors import OverrideError, SpecError
from cnnsize.loader import load, load_argument
from cnnsize.params import parse_assignment, parse_assignments
from cnnsize.schema import layer_lists
from cnnsize.yamlio import parse_text

NET = """\
name: net
params: {num_classes: 10, width: 8}
input: [3, 8, 8]
layers:
  - {type: conv2d, name: "conv${width}", out_channels: "${width}", kernel_size: 3, padding: 1}
  - flatten
  - {type: linear, out_features: "${num_classes}"}
"""
# conv: 8 x 3 x 3 x 3 + 8 = 224; linear: 8 x 8 x 8 = 512 features, x 10 + 10 = 5,130
NET_PARAMS = 224 + 5_130


def problems(tmp_path: Path, text: str, **overrides: object) -> list[str]:
    """The problems loading `text` from a file named spec.yaml gives, as printed."""
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(SpecError) as caught:
        analyze(load(str(path), params=overrides or None))
    return [str(p).replace(str(path), "spec.yaml") for p in caught.value.problems]


# -- substitution ----------------------------------------------------------------------------------


def test_a_parameter_stands_for_its_value_with_its_type():
    spec = load(NET)
    conv, _, linear = spec.layers
    assert (conv.out_channels, conv.name, linear.out_features) == (8, "conv8", 10)
    assert spec.params == {"num_classes": 10, "width": 8}
    assert analyze(spec).totals.params == NET_PARAMS


def test_an_expression_of_parameters_and_a_list_parameter():
    spec = load(
        "params: {width: 8, k: [3, 1]}\ninput: [3, 8, 8]\nlayers:\n"
        '  - {type: conv2d, out_channels: "${width * 2}", kernel_size: "${k}"}\n'
        '  - {type: conv2d, out_channels: "${make_divisible(width * 0.5, 8)}", kernel_size: 1}\n'
    )
    first, second = spec.layers
    assert (first.out_channels, first.kernel_size, second.out_channels) == (16, (3, 1), 8)


def test_the_input_and_the_budgets_may_read_parameters_too():
    spec = load(
        "params: {c: 4, classes: 5}\n"
        'input: ["${c}", 8, 8]\nlayers: [flatten, {type: linear, out_features: "${classes}"}]\n'
        'budgets: {output_shape: ["${classes}"]}\n'
    )
    assert spec.input == (4, 8, 8) and spec.budgets is not None and spec.budgets.output_shape == (5,)


def test_a_block_reads_the_specs_parameters_and_its_own_shadow_them():
    text = """\
    params: {width: 8, out: 99}
    input: [3, 8, 8]
    blocks:
      conv:
        params: [out]
        layers:
          - {type: conv2d, out_channels: "${out}", kernel_size: 1}
          - {type: conv2d, out_channels: "${width}", kernel_size: 1}
    layers:
      - {block: conv, out: 4}
      - {block: conv, out: "${width * 3}"}
    """
    first, second = load(textwrap.dedent(text)).layers
    # the block's `out` (4, then 24 from the spec's width) shadows the spec's `out` (99)
    assert [layer.out_channels for layer in first.layers] == [4, 8]
    assert [layer.out_channels for layer in second.layers] == [24, 8]


def test_an_if_reads_the_specs_parameters():
    text = 'params: {deep: false}\ninput: [3, 8, 8]\nlayers:\n  - {type: relu, if: "${not deep}"}\n  - tanh\n'
    assert [layer.kind for layer in load(text).layers] == ["relu", "tanh"]
    assert [layer.kind for layer in load(text, params={"deep": True}).layers] == ["tanh"]


def test_a_spec_without_parameters_is_left_as_it_is():
    document = parse_text("input: [3, 8, 8]\nlayers: [relu]\n")
    assert expand(document, layer_lists()) is document
    assert load("input: [3, 8, 8]\nlayers: [relu]\n").params == {}


def test_params_leave_the_spec_once_substituted():
    data = expand(parse_text(NET), layer_lists()).data
    assert "params" not in data and data["layers"][2] == {"type": "linear", "out_features": 10}


# -- set from outside ------------------------------------------------------------------------------


def test_a_value_set_from_outside_replaces_the_declared_one():
    spec = load(NET, params={"num_classes": 3})
    assert spec.params == {"num_classes": 3, "width": 8}
    # the linear layer only: 512 x 3 + 3 instead of 512 x 10 + 10
    assert analyze(spec).totals.params == NET_PARAMS - (512 * 10 + 10) + (512 * 3 + 3)
    assert load(NET).params["num_classes"] == 10  # the spec itself is unchanged


def test_a_value_set_from_outside_is_checked_where_it_is_used(tmp_path):
    assert problems(tmp_path, NET, num_classes=0) == [
        "spec.yaml:2:23: error: params.num_classes: must be a positive integer, got 0 (passed as ${num_classes} to "
        "layers[2].out_features; num_classes = 0, set from outside the spec)"
    ]


def test_setting_a_name_the_spec_does_not_declare_names_the_declared_ones(tmp_path):
    with pytest.raises(OverrideError) as caught:
        load(NET, params={"num_class": 21})
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        "<spec>:2:9: error: params: cannot set 'num_class': the spec declares no such parameter "
        "(did you mean 'num_classes'?); it has num_classes, width"
    )
    with pytest.raises(OverrideError, match="cannot set 'width': the spec declares no `params`"):
        load("input: [3, 8, 8]\nlayers: [relu]\n", params={"width": 2})


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "not null"),
        ({"a": 1}, 'not {"a": 1}'),
        (float("nan"), "must be finite"),
        (2**63, "below 2**63"),
        ("${width}", "a parameter's value is plain"),
        ([1, None], "not null"),
        (object(), "not a object"),
    ],
)
def test_a_value_no_parameter_takes_is_refused(value, why):
    with pytest.raises(OverrideError, match="cannot set 'width'") as caught:
        load(NET, params={"width": value})
    assert why in str(caught.value)


def test_params_of_the_wrong_type_are_a_type_error():
    with pytest.raises(TypeError, match="'params' must be a mapping"):
        load(NET, params=[("width", 2)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="maps names"):
        load(NET, params={1: 2})  # type: ignore[dict-item]


def test_the_public_load_takes_params_and_keeps_them_with_a_new_input(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(NET)
    assert cnnsize.load(str(path), params={"width": 4}).layers[0].out_channels == 4
    spec = load_argument(str(path), (3, 16, 16), {"width": 4})
    assert spec.input == (3, 16, 16) and spec.layers[0].out_channels == 4 and spec.params["width"] == 4


# -- mistakes in the spec --------------------------------------------------------------------------


def test_an_unknown_name_is_located_with_a_did_you_mean(tmp_path):
    text = NET.replace('"${num_classes}"', '"${num_class}"')
    assert problems(tmp_path, text) == [
        "spec.yaml:7:34: error: layers[2].out_features: unknown parameter 'num_class' (did you mean "
        "'num_classes'?); the spec's parameters: num_classes, width"
    ]


def test_an_unknown_name_inside_an_expression_says_which(tmp_path):
    text = NET.replace('"${num_classes}"', '"${num_classes * widht}"')
    assert problems(tmp_path, text) == [
        "spec.yaml:7:34: error: layers[2].out_features: ${num_classes * widht}: unknown parameter 'widht' "
        "(did you mean 'width'?); the spec's parameters: num_classes, width"
    ]


def test_an_unknown_name_in_a_block_lists_both_scopes(tmp_path):
    text = """\
    params: {width: 8}
    input: [3, 8, 8]
    blocks:
      conv:
        params: [out]
        layers: [{type: conv2d, out_channels: "${widht}", kernel_size: 1}]
    layers: [{block: conv, out: 4}]
    """
    assert problems(tmp_path, text) == [
        "spec.yaml:6:43: error: blocks.conv.layers[0].out_channels: block 'conv' has no parameter 'widht' "
        "(did you mean 'width'?); its parameters: out; the spec's: width"
    ]


def test_params_that_are_not_a_mapping_are_refused(tmp_path):
    assert problems(tmp_path, "params: [width]\ninput: [3, 8, 8]\nlayers: [relu]\n") == [
        "spec.yaml:1:9: error: params: `params` maps parameter names to values, like {num_classes: 1000, "
        'width: 64}, not ["width"]'
    ]


def test_a_parameter_name_must_be_an_identifier_and_no_keyword(tmp_path):
    text = "params: {2x: 1, and: 2, ok: 3}\ninput: [3, 8, 8]\nlayers: [relu]\n"
    assert problems(tmp_path, text) == [
        "spec.yaml:1:10: error: params.2x: a parameter name is letters, digits and _, not '2x'",
        "spec.yaml:1:17: error: params.and: 'and' is a word of the expression language; name the parameter otherwise",
    ]


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("null", "a number, true or false, a string, or a list of these, not null"),
        ("{a: 1}", 'not {"a": 1}'),
        ('"${width}"', "a parameter's value is plain: compute from it where it is used"),
        ("[1, [2, null]]", "not null"),
        (".inf", "a number must be finite, got Infinity"),
    ],
)
def test_a_parameter_value_must_be_a_number_bool_string_or_list(tmp_path, written, why):
    [message] = problems(tmp_path, f"params:\n  width: 8\n  bad: {written}\ninput: [3, 8, 8]\nlayers: [relu]\n")
    assert message.startswith("spec.yaml:3:8: error: params.bad: parameter 'bad': ") and why in message


def test_a_value_of_the_wrong_kind_is_located_at_the_parameter(tmp_path):
    text = NET.replace("width: 8", "width: eight")
    assert problems(tmp_path, text) == [
        "spec.yaml:2:34: error: params.width: must be a positive integer, got 'eight' (passed as ${width} to "
        "layers[0].out_channels)"
    ]


def test_a_long_list_passed_to_many_places_is_refused_like_an_expansion_bomb(tmp_path):
    # 100 copies of a 5,000-item list: 500,000 values, past the cap of 200,000
    items = ", ".join(["1"] * 5000)
    layers = "".join('  - {type: reshape, shape: "${x}"}\n' for _ in range(100))
    start = time.perf_counter()
    [message] = problems(tmp_path, f"params: {{x: [{items}]}}\ninput: [3, 8, 8]\nlayers:\n{layers}")
    assert time.perf_counter() - start < 5.0
    assert "expanding the blocks and parameters gives more than 200,000 values" in message
    assert message.startswith("spec.yaml:1:")


# -- NAME=VALUE, as --set gives it -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("num_classes=21", ("num_classes", 21)),
        ("width=0.5", ("width", 0.5)),
        ("act=relu", ("act", "relu")),
        ("deep=true", ("deep", True)),
        ("k=[3, 5]", ("k", [3, 5])),
        (" name = a=b", ("name", "a=b")),
        ("big=1e9", ("big", 1e9)),
    ],
)
def test_an_assignment_reads_its_value_as_yaml(text, expected):
    assert parse_assignment(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("width", "write NAME=VALUE"),
        ("=3", "a parameter name is letters"),
        ("2x=3", "a parameter name is letters"),
        ("width=", "gives no value"),
        ("width=[1,", "VALUE is not YAML"),
        ("width={a: 1}", "a number, true or false, a string, or a list of these"),
        ("width=~", "not null"),
    ],
)
def test_a_bad_assignment_says_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_assignment(text)


def test_a_name_set_twice_takes_its_last_value():
    assert parse_assignments(["a=1", "b=2", "a=3"]) == {"a": 3, "b": 2}
    assert parse_assignments(None) == {}


# -- docs/spec.md ----------------------------------------------------------------------------------


def test_the_example_of_the_docs_gives_what_they_show(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from cnnsize.cli import app

    docs = (Path(__file__).resolve().parents[1] / "docs" / "spec.md").read_text()
    section = docs.split("## Spec parameters", 1)[1].split("\n## ", 1)[0]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    shown = section.split("```\n$ cnnsize check", 1)[1].split("```", 1)[0].splitlines()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.yaml").write_text(example)
    result = CliRunner().invoke(app, ["report", "net.yaml", "--set", "num_classes=21", "--set", "width=32"])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(app, ["check", "-q", "net.yaml", "--set", "width=0.5"]).stdout.splitlines() == shown[3:]
    (tmp_path / "net.yaml").write_text(
        example.replace('out_features: "${num_classes}"', 'out_features: "${num_class}"')
    )
    assert CliRunner().invoke(app, ["check", "-q", "net.yaml"]).stdout.splitlines() == shown[1:2]
