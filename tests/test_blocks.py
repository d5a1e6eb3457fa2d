"""Blocks: expansion of `blocks:` definitions and their uses, and the exact positions of errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cnnsize.blocks import MAX_NESTING, expand
from cnnsize.engine import analyze
from cnnsize.errors import SpecError
from cnnsize.loader import load
from cnnsize.schema import layer_lists
from cnnsize.yamlio import parse_text

REPO = Path(__file__).resolve().parents[1]

CONV_BN = """\
input: [3, 8, 8]
blocks:
  conv_bn:
    params: [out]
    defaults: {stride: 1}
    layers:
      - {type: conv2d, out_channels: "${out}", kernel_size: 3, stride: "${stride}", padding: 1, bias: false}
      - batchnorm2d
"""


def expanded(text: str) -> dict:
    return expand(parse_text(textwrap.dedent(text)), layer_lists()).data


def errors(tmp_path: Path, text: str) -> list[str]:
    """The problems loading `text` from a file named spec.yaml gives, as printed."""
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(SpecError) as caught:
        analyze(load(str(path)))
    return [str(p).replace(str(path), "spec.yaml") for p in caught.value.problems]


# -- expansion -------------------------------------------------------------------------------------


def test_a_spec_without_blocks_is_left_as_it_is():
    document = parse_text("input: [3, 8, 8]\nlayers: [relu]\n")
    assert expand(document, layer_lists()) is document


def test_a_use_becomes_a_sequential_named_after_the_block_with_arguments_in_place():
    data = expanded(CONV_BN + "layers:\n  - {block: conv_bn, out: 16}\n")
    assert data["layers"] == [
        {
            "type": "sequential",
            "name": "conv_bn",
            "layers": [
                {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "stride": 1, "padding": 1, "bias": False},
                "batchnorm2d",
            ],
        }
    ]
    assert "blocks" not in data


def test_a_whole_value_reference_keeps_the_arguments_type():
    data = expanded(
        """\
        input: [3, 8, 8]
        blocks:
          b:
            params: [k, flag]
            layers: [{type: conv2d, out_channels: 4, kernel_size: "${k}", bias: "${flag}"}]
        layers: [{block: b, k: [1, 3], flag: false}]
        """
    )
    conv = data["layers"][0]["layers"][0]
    assert conv["kernel_size"] == [1, 3] and conv["bias"] is False


def test_a_reference_inside_text_is_written_into_it():
    data = expanded(
        """\
        input: [3, 8, 8]
        blocks:
          b:
            params: [n, flag]
            layers: [{type: relu, name: "relu${n}_${flag}"}]
        layers: [{block: b, n: 2, flag: true}]
        """
    )
    assert data["layers"][0]["layers"][0]["name"] == "relu2_true"


def test_an_argument_overrides_a_default_and_the_use_name_names_the_layer():
    data = expanded(CONV_BN + "layers:\n  - {block: conv_bn, out: 8, stride: 2, name: stem}\n")
    assert data["layers"][0]["name"] == "stem"
    assert data["layers"][0]["layers"][0]["stride"] == 2


def test_repeat_writes_the_use_that_many_times_and_zero_times_is_none():
    data = expanded(
        CONV_BN + "layers:\n  - {block: conv_bn, out: 8, repeat: 3}\n  - {block: conv_bn, out: 8, repeat: 0}\n"
    )
    assert [layer["type"] for layer in data["layers"]] == ["sequential"] * 3


def test_a_block_with_no_required_arguments_is_used_by_its_bare_name():
    data = expanded(
        """\
        input: [3, 8, 8]
        blocks:
          act: {layers: [relu, sigmoid]}
        layers: [act, tanh]
        """
    )
    assert data["layers"] == [{"type": "sequential", "name": "act", "layers": ["relu", "sigmoid"]}, "tanh"]


def test_blocks_use_blocks_and_arguments_pass_through_each_level():
    spec = load(
        CONV_BN
        + textwrap.dedent(
            """\
              basic:
                params: [out]
                defaults: {stride: 1}
                layers:
                  - type: residual
                    shortcut: auto
                    body:
                      - {block: conv_bn, out: "${out}", stride: "${stride}"}
                      - relu
                  - relu
            layers:
              - {block: basic, out: 4, stride: 2}
            """
        )
    )
    report = analyze(spec)
    # body conv 3*4*3*3 = 108 and bn 2*4 = 8; auto shortcut 1x1 conv 3*4 = 12 and bn 2*4 = 8
    assert report.totals.params == 108 + 8 + 12 + 8
    assert report.output_shape == (4, 4, 4)
    paths = [row.path for row in report.leaves()]
    assert ("layers", 0, "layers", 0, "body", 0, "layers", 0) in paths  # the nested conv_bn's conv


def test_blocks_inside_composites_of_the_top_level_expand_too():
    data = expanded(CONV_BN + "layers:\n  - type: concat\n    branches: [[{block: conv_bn, out: 4}], []]\n")
    assert data["layers"][0]["branches"][0][0]["type"] == "sequential"


# -- errors: uses ----------------------------------------------------------------------------------


def test_an_unknown_block_is_named_with_a_suggestion(tmp_path):
    assert errors(tmp_path, CONV_BN + "layers:\n  - {block: conv_nb, out: 4}\n") == [
        "spec.yaml:10:13: error: layers[0].block: unknown block 'conv_nb' (did you mean 'conv_bn'?); defined: conv_bn"
    ]


def test_a_use_without_any_blocks_says_so(tmp_path):
    assert errors(tmp_path, "input: [3, 8, 8]\nlayers:\n  - {block: res}\n") == [
        "spec.yaml:3:13: error: layers[0].block: unknown block 'res': the spec defines no `blocks`"
    ]


@pytest.mark.parametrize(
    "written, shown", [("[conv_bn]", '["conv_bn"]'), ("{conv_bn: 4}", '{"conv_bn": 4}'), ("[]", "[]")]
)
def test_a_block_given_a_list_or_a_mapping_is_located_not_a_type_error(tmp_path, written, shown):
    assert errors(tmp_path, CONV_BN + f"layers:\n  - {{block: {written}, out: 4}}\n") == [
        f"spec.yaml:10:13: error: layers[0].block: `block` names a block, not {shown}"
    ]


def test_a_missing_argument_is_named_at_the_use(tmp_path):
    assert errors(tmp_path, CONV_BN + "layers:\n  - {block: conv_bn, stride: 2}\n") == [
        "spec.yaml:10:5: error: layers[0]: block 'conv_bn' needs argument 'out'"
    ]


def test_an_unknown_argument_is_named_at_its_key_with_a_suggestion(tmp_path):
    assert errors(tmp_path, CONV_BN + "layers:\n  - {block: conv_bn, out: 4, strid: 2}\n") == [
        "spec.yaml:10:30: error: layers[0].strid: block 'conv_bn' has no parameter 'strid' (did you mean 'stride'?); "
        "its parameters: out, stride"
    ]


def test_repeat_must_be_a_count(tmp_path):
    assert errors(tmp_path, CONV_BN + "layers:\n  - {block: conv_bn, out: 4, repeat: -1}\n") == [
        "spec.yaml:10:38: error: layers[0].repeat: must be a non-negative integer (how many times), got -1"
    ]


def test_type_and_block_together_are_refused(tmp_path):
    assert errors(tmp_path, CONV_BN + "layers:\n  - {type: relu, block: conv_bn, out: 4}\n") == [
        "spec.yaml:10:5: error: layers[0]: a layer has either `type` (a layer kind) or `block` (a block of layers), "
        "not both"
    ]


def test_a_parameter_outside_a_block_reads_the_specs_params(tmp_path):
    assert errors(
        tmp_path, 'input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: "${c}", kernel_size: 1}\n'
    ) == [
        "spec.yaml:3:34: error: layers[0].out_channels: unknown parameter 'c': the spec declares no `params` "
        "(outside a block's layers, `${...}` reads the spec's `params`)"
    ]


def test_an_unquoted_parameter_in_a_flow_mapping_gets_a_hint(tmp_path):
    [message] = errors(tmp_path, CONV_BN + "layers:\n  - {block: conv_bn, out: ${x}}\n")
    assert message.startswith("spec.yaml:10:28: error: YAML syntax error")
    assert message.endswith('inside [ ] or { } quote a block parameter: "${name}"')


# -- errors: definitions ---------------------------------------------------------------------------


def test_blocks_that_use_each_other_in_a_cycle_are_refused_once(tmp_path):
    text = """\
    input: [3, 8, 8]
    blocks:
      a:
        layers: [{block: b}]
      b:
        layers: [relu, {block: a}]
    layers: [a]
    """
    assert errors(tmp_path, text) == [
        "spec.yaml:4:14: error: blocks.a.layers[0]: blocks use each other in a cycle: a -> b -> a; "
        "a block cannot contain itself"
    ]


def test_a_block_that_uses_itself_is_refused(tmp_path):
    text = "input: [3, 8, 8]\nblocks:\n  a:\n    layers: [relu, a]\nlayers: [a]\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:4:20: error: blocks.a.layers[1]: block 'a' uses itself: a -> a; a block cannot contain itself"
    ]


def test_nesting_deeper_than_the_limit_is_refused(tmp_path):
    # b0 uses b1 uses ... b{MAX_NESTING}: one use more than the limit allows
    chain = "".join(f"  b{i}:\n    layers: [b{i + 1}]\n" for i in range(MAX_NESTING))
    text = f"input: [3, 8, 8]\nblocks:\n{chain}  b{MAX_NESTING}:\n    layers: [relu]\nlayers: [b0]\n"
    [message] = errors(tmp_path, text)
    assert message.startswith(
        f"spec.yaml:{2 * MAX_NESTING + 2}:14: error: blocks.b{MAX_NESTING - 1}.layers[0]: "
        f"blocks nest deeper than {MAX_NESTING} uses inside one another (in block 'b{MAX_NESTING - 1}' used at "
    )


def test_a_reference_to_an_undeclared_parameter_is_found_in_the_definition(tmp_path):
    text = CONV_BN.replace("kernel_size: 3,", 'kernel_size: "${size}",') + "layers: [{block: conv_bn, out: 4}]\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:7:61: error: blocks.conv_bn.layers[0].kernel_size: block 'conv_bn' has no parameter 'size' "
        "(did you mean 'stride'?); its parameters: out, stride"
    ]


def test_a_malformed_reference_is_refused(tmp_path):
    text = CONV_BN.replace('"${out}"', '"${out"') + "layers: [{block: conv_bn, out: 4}]\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:7:38: error: blocks.conv_bn.layers[0].out_channels: '${out' holds a malformed parameter "
        "reference: write ${name}"
    ]


@pytest.mark.parametrize(
    "definition, message",
    [
        ("  relu:\n    layers: [relu]\n", "3:3: error: blocks.relu: block 'relu' has the name of a layer kind"),
        ("  b:\n    layer: [relu]\n", "4:5: error: blocks.b.layer: unknown key 'layer' in block 'b' (did you mean"),
        ("  b:\n    params: [x]\n", "4:5: error: blocks.b: block 'b' needs `layers`"),
        ("  b:\n    params: [x]\n    defaults: {x: 1}\n    layers: [relu]\n", "5:16: error: blocks.b.defaults.x: "),
        ("  b:\n    params: [name]\n    layers: [relu]\n", "4:14: error: blocks.b.params[0]: 'name' cannot be"),
        ("  b:\n    defaults: {x: '${y}'}\n    layers: [relu]\n", "4:19: error: blocks.b.defaults.x: a default is"),
    ],
)
def test_a_malformed_definition_is_reported_where_it_is_written(tmp_path, definition, message):
    problems = errors(tmp_path, f"input: [3, 8, 8]\nblocks:\n{definition}layers: [relu]\n")
    assert problems[0].startswith(f"spec.yaml:{message}")


def test_an_expansion_bomb_is_refused_fast(tmp_path):
    text = """\
    input: [3, 8, 8]
    blocks:
      a: {layers: [{type: relu}, {type: relu}]}
      b: {layers: [{block: a, repeat: 1000}]}
      c: {layers: [{block: b, repeat: 1000}]}
    layers: [{block: c, repeat: 1000}]
    """
    # Refused before anything is expanded, by the fewest values the use must count:
    #   a: its list (1), two layers (2) and their types (2)                       =             5
    #   b: its list, the use and its two fields (4), and 1000 uses of a:   4 + 1000 * 5 =         5,004
    #   c: likewise, 4 + 1000 * 5,004                                              =     5,004,004
    #   the top-level use repeats c 1000 times                                     = 5,004,004,000
    start = time.perf_counter()
    [message] = errors(tmp_path, text)
    assert time.perf_counter() - start < 1.0
    assert message == (
        "spec.yaml:6:10: error: layers[0]: expanding this use of block 'c' gives at least 5,004,004,000 values, "
        "more than 200,000 (is a `repeat` too large?)"
    )


def test_a_chain_of_thousands_of_blocks_is_refused_without_recursion(tmp_path):
    blocks = "".join(f"  b{i}: {{layers: [{{block: b{i + 1}}}]}}\n" for i in range(3000))
    text = f"input: [3, 8, 8]\nblocks:\n{blocks}  b3000: {{layers: [relu]}}\nlayers: [{{block: b0}}]\n"
    [message] = errors(tmp_path, text)
    assert f"blocks nest deeper than {MAX_NESTING} uses inside one another" in message


def test_a_cycle_deep_in_a_long_chain_is_found_once(tmp_path):
    blocks = "".join(f"  b{i}: {{layers: [{{block: b{i + 1}}}]}}\n" for i in range(2000))
    text = f"input: [3, 8, 8]\nblocks:\n{blocks}  b2000: {{layers: [{{block: b1990}}]}}\nlayers: [relu]\n"
    [message] = errors(tmp_path, text)
    cycle = " -> ".join(f"b{i}" for i in [*range(1990, 2001), 1990])
    assert message.endswith(f"blocks use each other in a cycle: {cycle}; a block cannot contain itself")


# -- errors inside expanded blocks point at real YAML ---------------------------------------------


def test_an_error_in_a_block_points_into_its_definition_and_names_the_use(tmp_path):
    text = CONV_BN.replace("- batchnorm2d", "- {type: batchnorm2d, num_features: 5}")
    text += "layers:\n  - {block: conv_bn, out: 4}\n  - {block: conv_bn, out: 5, repeat: 2}\n"
    # the first use gives 4 channels where num_features says 5
    assert errors(tmp_path, text) == [
        "spec.yaml:8:43: error: blocks.conv_bn.layers[1].num_features: batchnorm2d: num_features is 5, but the "
        "layer's input has 4 (in block 'conv_bn' used at layers[0], line 10)"
    ]


def test_an_error_in_a_repeated_nested_block_names_every_level_once(tmp_path):
    text = CONV_BN.replace("- batchnorm2d", "- {type: batchnorm2d, momentm: 0.1}")
    text += "  pair:\n    layers:\n      - {block: conv_bn, out: 4}\n      - {block: conv_bn, out: 4}\n"
    text += "layers:\n  - {block: pair, repeat: 2}\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:8:29: error: blocks.conv_bn.layers[1]: unknown field 'momentm' for batchnorm2d (did you mean "
        "'momentum'?) (in block 'conv_bn' used at blocks.pair.layers[0], line 11; in block 'pair', repeat 1 of 2, "
        "used at layers[0], line 14; and 3 more uses of the block)"
    ]


def test_a_bad_argument_is_reported_at_the_use_that_passes_it(tmp_path):
    assert errors(tmp_path, CONV_BN + "layers:\n  - {block: conv_bn, out: 4, stride: 0}\n") == [
        "spec.yaml:10:38: error: layers[0].stride: must be a positive integer or a pair [h, w] of them, got 0 "
        "(passed as ${stride} to blocks.conv_bn.layers[0].stride)"
    ]


def test_text_can_only_take_a_scalar_argument(tmp_path):
    text = """\
    input: [3, 8, 8]
    blocks:
      b:
        params: [n]
        layers: [{type: relu, name: "r${n}"}]
    layers: [{block: b, n: [1]}]
    """
    assert errors(tmp_path, text) == [
        "spec.yaml:5:33: error: blocks.b.layers[0].name: ${n} stands inside text, so its argument must be a number "
        "or a string, got [1] (in block 'b' used at layers[0], line 6)"
    ]


def test_the_command_line_prints_block_errors_without_a_traceback(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(CONV_BN + "layers:\n  - {block: conv_bn}\n")
    result = subprocess.run(
        [sys.executable, "-m", "cnnsize", "check", str(path)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
    )
    assert result.returncode == 1
    assert f"{path}:10:5: error: layers[0]: block 'conv_bn' needs argument 'out'" in result.stdout
    assert "Traceback" not in result.stderr


# -- expressions -----------------------------------------------------------------------------------

WIDTH = """\
input: [16, 8, 8]
blocks:
  b:
    params: [in, t]
    layers:
      - type: conv2d
        out_channels: ${make_divisible(in * t, 8)}
        kernel_size: 1
        bias: ${in > 16}
        name: conv${in // 8}_${t}
"""


def test_an_expression_gives_its_result_with_its_type():
    data = expanded(
        """\
        input: [3, 8, 8]
        blocks:
          b:
            params: [c]
            layers: [{type: x, i: "${c // 4}", f: "${c * 0.75}", b: "${c == 24}", s: "${'wide' if c > 16 else 'thin'}"}]
        layers: [{block: b, c: 24}]
        """
    )
    fields = data["layers"][0]["layers"][0]
    # 24 // 4 = 6; 24 * 0.75 = 18.0
    assert fields == {"type": "x", "i": 6, "f": 18.0, "b": True, "s": "wide"}
    assert [type(fields[k]) for k in "ifbs"] == [int, float, bool, str]


def test_a_width_rule_in_a_block_sizes_its_layers():
    spec = load(WIDTH + "layers:\n  - {block: b, in: 16, t: 6}\n  - {block: b, in: 96, t: 0.25}\n")
    first, second = (use.layers[0] for use in spec.layers)
    # make_divisible(16 * 6, 8) = max(8, int(96 + 4) // 8 * 8) = 96; 16 > 16 is false
    assert (first.out_channels, first.bias, first.name) == (96, False, "conv2_6")
    # make_divisible(96 * 0.25, 8) = max(8, int(24.0 + 4) // 8 * 8) = 24; 96 // 8 = 12
    assert (second.out_channels, second.bias, second.name) == (24, True, "conv12_0.25")


def test_a_bare_reference_still_passes_the_argument_itself():
    data = expanded(
        """\
        input: [3, 8, 8]
        blocks:
          b:
            params: [k]
            layers: [{type: conv2d, out_channels: 4, kernel_size: "${ k }"}]
        layers: [{block: b, k: [1, 3]}]
        """
    )
    assert data["layers"][0]["layers"][0]["kernel_size"] == [1, 3]


def test_a_result_the_field_refuses_is_reported_at_the_expression(tmp_path):
    text = WIDTH.replace("make_divisible(in * t, 8)", "in * t") + "layers:\n  - {block: b, in: 32, t: 0.75}\n"
    assert errors(tmp_path, text) == [
        # 32 * 0.75 = 24.0: a float, where a channel count must be an integer
        "spec.yaml:7:23: error: blocks.b.layers[0].out_channels: must be a positive integer, got 24.0 "
        "(in block 'b' used at layers[0], line 12)"
    ]


def test_a_malformed_expression_is_reported_once_at_the_definition(tmp_path):
    text = WIDTH.replace("in * t", "in * / t") + "layers:\n  - {block: b, in: 32, t: 1}\n  - {block: b, in: 8, t: 2}\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:7:23: error: blocks.b.layers[0].out_channels: ${make_divisible(in * / t, 8)}: column 21: "
        "expected a value (a number, a name or '('), found '/'"
    ]


def test_an_unknown_name_in_an_expression_is_named_with_a_suggestion(tmp_path):
    text = WIDTH.replace("in > 16", "inn > 16").replace("in * t", "max(in, tt)") + "layers: [relu]\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:7:23: error: blocks.b.layers[0].out_channels: ${make_divisible(max(in, tt), 8)}: block 'b' has "
        "no parameter 'tt' (did you mean 't'?); its parameters: in, t",
        "spec.yaml:9:15: error: blocks.b.layers[0].bias: ${inn > 16}: block 'b' has no parameter 'inn' "
        "(did you mean 'in'?); its parameters: in, t",
    ]


def test_an_evaluation_error_names_the_values_and_the_uses(tmp_path):
    text = WIDTH.replace("in // 8", "in // (t - 1)")
    text += "layers:\n  - {block: b, in: 16, t: 1}\n  - {block: b, in: 16, t: 2}\n  - {block: b, in: 24, t: 1}\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:10:15: error: blocks.b.layers[0].name: ${in // (t - 1)}: column 4: '//' divides by zero "
        "(16 // 0); here in = 16, t = 1 (in block 'b' used at layers[0], line 12)",
        "spec.yaml:10:15: error: blocks.b.layers[0].name: ${in // (t - 1)}: column 4: '//' divides by zero "
        "(24 // 0); here in = 24, t = 1 (in block 'b' used at layers[2], line 14)",
    ]


def test_a_parameter_cannot_be_named_like_a_word_of_the_language(tmp_path):
    text = "input: [3, 8, 8]\nblocks:\n  b:\n    params: [and, if]\n    layers: [relu]\nlayers: [relu]\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:4:14: error: blocks.b.params[0]: 'and' is a word of the expression language; name the "
        "parameter otherwise",
        "spec.yaml:4:19: error: blocks.b.params[1]: 'if' cannot be a parameter: a use of a block gives `if` itself",
    ]


def test_a_repeat_of_a_long_expression_is_refused_fast(tmp_path):
    long = " + ".join(["c"] * 240)  # 240 names and 239 additions: 479 nodes to evaluate per use
    text = f"""\
    input: [3, 8, 8]
    blocks:
      b:
        params: [c]
        layers: [{{type: relu, name: "r${{{long}}}"}}]
    layers: [{{block: b, c: 1, repeat: 1000}}]
    """
    # 1000 uses of 4 values each stay under the value cap; 1000 * 479 = 479,000 steps do not
    start = time.perf_counter()
    [message] = errors(tmp_path, text)
    assert time.perf_counter() - start < 1.0
    assert "expanding the blocks evaluates more than 200,000 steps of expressions (is a `repeat` too large?)" in message


# -- if --------------------------------------------------------------------------------------------

MBCONV = """\
input: [16, 8, 8]
blocks:
  mbconv:   # MobileNetV2's inverted residual: the skip only where the shape is kept
    params: [cin, cout]
    defaults: {stride: 1}
    layers:
      - type: residual
        if: ${stride == 1 and cin == cout}
        body:
          - {block: inverted, cout: "${cout}", stride: "${stride}"}
      - {block: inverted, cout: "${cout}", stride: "${stride}", if: "${not (stride == 1 and cin == cout)}"}
  inverted:
    params: [cout, stride]
    layers:
      - {type: conv2d, out_channels: "${cout}", kernel_size: 3, stride: "${stride}", padding: 1, bias: false}
"""


def test_if_in_a_block_keeps_or_drops_an_entry_for_each_use():
    spec = load(
        MBCONV + "layers:\n  - {block: mbconv, cin: 16, cout: 16}\n  - {block: mbconv, cin: 16, cout: 24, stride: 2}\n"
    )
    same, changed = spec.layers
    assert [layer.kind for layer in same.layers] == ["residual"]  # stride 1, 16 -> 16: the skip
    assert [layer.kind for layer in changed.layers] == ["sequential"]  # 16 -> 24: the bare inverted block
    report = analyze(spec)
    # 16 * 16 * 3 * 3 = 2,304 and 16 * 24 * 3 * 3 = 3,456
    assert report.totals.params == 2304 + 3456
    assert report.output_shape == (24, 4, 4)


def test_if_with_repeat_keeps_every_copy_or_none():
    text = CONV_BN + textwrap.dedent(
        """\
          stage:
            params: [n]
            layers:
              - relu
              - {block: conv_bn, out: 4, repeat: 3, if: "${n > 0}"}
        layers:
          - {block: stage, n: 1}
          - {block: stage, n: 0}
          - {block: conv_bn, out: 4, repeat: 2, if: false}
        """
    )
    data = expanded(text)
    first, second = data["layers"]
    names = [layer if isinstance(layer, str) else layer["name"] for layer in first["layers"]]
    assert names == ["relu", "conv_bn", "conv_bn", "conv_bn"]
    assert second["layers"] == ["relu"]


def test_a_literal_if_works_outside_blocks_at_every_level():
    spec = load(
        """\
        input: [3, 8, 8]
        layers:
          - {type: relu, if: false}
          - {type: sigmoid, if: true}
          - type: residual
            body: [{type: tanh, if: false}, relu]
          - type: concat
            branches: [[{type: relu, if: true}], [{type: linear, if: false}]]
        """.replace("        ", "")
    )
    residual, concat = spec.layers[1:]
    assert [layer.kind for layer in spec.layers] == ["sigmoid", "residual", "concat"]
    assert [layer.kind for layer in residual.body] == ["relu"]
    assert [[layer.kind for layer in branch] for branch in concat.branches] == [["relu"], []]


def test_a_dropped_entry_is_not_read(tmp_path):
    # inside a block, a dropped entry's expressions are not evaluated (here: a division by zero)
    text = """\
    input: [3, 8, 8]
    blocks:
      b:
        params: [d]
        layers:
          - {type: conv2d, out_channels: "${8 // d}", kernel_size: 1, if: "${d != 0}"}
          - relu
    layers:
      - {block: b, d: 0}
      - {type: conv2d, if: false}
    """
    data = expanded(text)
    assert data["layers"] == [{"type": "sequential", "name": "b", "layers": ["relu"]}]


def test_if_must_be_true_or_false(tmp_path):
    text = MBCONV.replace("${stride == 1 and cin == cout}", "${stride + 1}")
    assert errors(tmp_path, text + "layers:\n  - {block: mbconv, cin: 16, cout: 16}\n") == [
        "spec.yaml:8:13: error: blocks.mbconv.layers[0].if: `if` takes true or false, but ${stride + 1} gives 2 "
        "(in block 'mbconv' used at layers[0], line 17)",
    ]
    assert errors(tmp_path, MBCONV + "layers:\n  - {type: relu, if: 'yes'}\n") == [
        "spec.yaml:17:22: error: layers[0].if: `if` takes true or false, got 'yes'",
    ]


def test_an_if_outside_blocks_is_an_expression_of_the_specs_params(tmp_path):
    assert errors(tmp_path, 'input: [3, 8, 8]\nlayers:\n  - {type: relu, if: "${deep}"}\n') == [
        "spec.yaml:3:22: error: layers[0].if: unknown parameter 'deep': the spec declares no `params` "
        "(outside a block's layers, `${...}` reads the spec's `params`)"
    ]
    text = 'input: [3, 8, 8]\nparams: {deep: false}\nlayers:\n  - {type: relu, if: "${deep}"}\n  - tanh\n'
    assert [layer.kind for layer in load(text).layers] == ["tanh"]
    assert [layer.kind for layer in load(text, params={"deep": True}).layers] == ["relu", "tanh"]


def test_the_command_line_prints_an_expression_error_with_its_place(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(WIDTH.replace("in * t", "in *") + "layers:\n  - {block: b, in: 32, t: 1}\n")
    result = subprocess.run(
        [sys.executable, "-m", "cnnsize", "check", str(path)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
    )
    assert result.returncode == 1
    assert result.stdout.startswith(
        f"{path}:7:23: error: blocks.b.layers[0].out_channels: ${{make_divisible(in *, 8)}}: column 20: expected a "
        "value (a number, a name or '('), found ','"
    )
    assert "Traceback" not in result.stderr


def docs_mobilenet(width: str) -> str:
    """The MobileNetV2 example of docs/blocks.md, at another width."""
    text = (REPO / "docs" / "blocks.md").read_text()
    example = text.split("### Worked example: MobileNetV2 at any width", 1)[1].split("```yaml\n", 1)[1]
    example = example.split("```", 1)[0]
    assert example.endswith("  - {block: mobilenet_v2, width: 0.75}\n")
    return example.replace("width: 0.75}", f"width: {width}}}")


@pytest.mark.parametrize(
    ("width", "params", "macs"),
    [
        ("1.0", 3_504_872, 300_774_272),  # the zoo's mobilenet_v2: torchvision's published 3,504,872
        ("0.75", 2_636_424, 209_069_792),
        ("1.4", 6_108_776, 582_195_824),
    ],
)
def test_the_mobilenet_example_of_the_docs_gives_what_they_say(width, params, macs):
    report = analyze(load(docs_mobilenet(width)))
    assert (report.totals.params, report.totals.macs) == (params, macs)
    if width == "1.0":
        zoo = analyze(load("mobilenet_v2"))
        assert (zoo.totals.params, zoo.totals.macs) == (params, macs)


def test_the_mobilenet_example_rounds_widths_as_torchvision():
    [network] = analyze(load(docs_mobilenet("0.75"))).rows
    stem, *stages, last = [row.output_shape[0] for row in network.children[:9]]
    # make_divisible(32 * 0.75, 8) = max(8, int(24.0 + 4) // 8 * 8) = 24; the last conv's 1280 * max(1.0, 0.75)
    assert (stem, last) == (24, 1280)
    # c = 16, 24, 32, 64, 96, 160, 320 times 0.75 = 12, 18, 24, 48, 72, 120, 240, each made divisible by 8:
    # int(12 + 4) // 8 * 8 = 16; int(18 + 4) // 8 * 8 = 16 < 0.9 * 18 = 16.2, so 24; the others are multiples of 8
    assert stages == [16, 24, 24, 48, 72, 120, 240]
