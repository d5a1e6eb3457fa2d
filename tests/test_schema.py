"""Validating specs: every mistake is one problem at its exact line and column, with its path."""

import pytest

from cnnsize.errors import SpecError, format_path
from cnnsize.loader import load
from cnnsize.schema import Spec


def problems(text):
    with pytest.raises(SpecError) as exc:
        load(text)
    return [(p.location.line, p.location.column, format_path(p.location.path), p.message) for p in exc.value.problems]


def one(text):
    (found,) = problems(text)
    return found


HEAD = "input: [3, 32, 32]\nlayers:\n"


def test_a_valid_spec_loads():
    spec = load(HEAD + "  - {type: conv2d, out_channels: 12, kernel_size: 3, padding: same}\n  - relu\n")
    assert isinstance(spec, Spec)
    assert spec.input == (3, 32, 32) and spec.dtype == "float32"
    assert [layer.kind for layer in spec.layers] == ["conv2d", "relu"]
    assert spec.layers[0].kernel_size == (3, 3) and spec.layers[0].padding == "same"


def test_unknown_kind_suggests_the_nearest():
    assert one(HEAD + "  - relux\n") == (3, 5, "layers[0]", "unknown layer kind 'relux' (did you mean 'relu'?)")
    line, col, path, message = one(HEAD + "  - {type: conv2, out_channels: 3}\n")
    assert (line, col, path) == (3, 12, "layers[0].type") and "did you mean 'conv2d'?" in message


def test_misspelt_field_points_at_the_key_and_suggests():
    line, col, path, message = one(HEAD + "  - {type: conv2d, out_channels: 3, kernel_size: 3, strid: 2}\n")
    assert (line, col, path) == (3, 53, "layers[0]")
    assert message == "unknown field 'strid' for conv2d (did you mean 'stride'?)"


@pytest.mark.parametrize(
    "written, meant",
    [("fc", "linear"), ("Dense", "linear"), ("bn", "batchnorm2d"), ("pool", "maxpool2d"),
     ("MaxPooling2D", "maxpool2d"), ("GlobalAveragePooling2D", "global_avgpool2d"), ("Conv2DTranspose", "conv_transpose2d")],
)  # fmt: skip
def test_a_kind_other_tools_name_is_suggested_by_meaning(written, meant):
    # by spelling alone, `pool` is closest to `lppool2d` and `fc` to nothing
    _, _, _, message = one(HEAD + f"  - {{type: {written}}}\n")
    assert message == f"unknown layer kind '{written}' (did you mean '{meant}'?)"


@pytest.mark.parametrize(
    "layer, field, meant",
    [
        ("{type: conv2d, filters: 8, kernel_size: 3}", "filters", "out_channels"),
        ("{type: maxpool2d, pool_size: 2}", "pool_size", "kernel_size"),
        ("{type: conv2d, out_channels: 8, kernel_size: 3, strides: 2}", "strides", "stride"),
    ],
)
def test_a_field_keras_names_is_suggested_by_meaning_alone(layer, field, meant):
    # one message: the required field it stands for is not reported missing as well
    _, _, _, message = one(HEAD + f"  - {layer}\n")
    assert message.startswith(f"unknown field '{field}'") and message.endswith(f"(did you mean '{meant}'?)")


def test_unknown_top_level_field():
    line, col, path, message = one("input: [3, 8, 8]\nlayer: [relu]\nlayers: [relu]\n")
    assert (line, col) == (2, 1) and "unknown field 'layer'" in message and "did you mean 'layers'?" in message


def test_missing_field_points_at_the_layer():
    assert one(HEAD + "  - {type: linear}\n") == (3, 5, "layers[0]", "missing required field 'out_features'")
    assert one("layers: [relu]\n") == (1, 1, "", "missing required field 'input' (or `inputs`, several by name)")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0", "must be a positive integer, got 0"),
        ("-3", "must be a positive integer, got -3"),
        ("2.5", "must be a positive integer, got 2.5"),
        ("4.0", "must be a positive integer, got 4.0"),
        ("true", "must be a positive integer, got true"),
        ("'eight'", "must be a positive integer, got 'eight'"),
        ("1.0e+12", "must be a positive integer, got 1000000000000.0"),
        ("1e12", "must be a positive integer, got 1000000000000.0"),  # read as a float, as YAML 1.2 does
    ],
)
def test_sizes_must_be_positive_integers(value, expected):
    line, col, path, message = one(HEAD + f"  - {{type: conv2d, out_channels: {value}, kernel_size: 3}}\n")
    assert (line, col, path, message) == (3, 34, "layers[0].out_channels", expected)


def test_pairs_and_padding_have_one_clear_message():
    _, _, path, message = one(HEAD + "  - {type: conv2d, out_channels: 3, kernel_size: [3, 0]}\n")
    assert path == "layers[0].kernel_size" and "a pair [h, w] of them, got [3, 0]" in message
    _, _, path, message = one(HEAD + "  - {type: conv2d, out_channels: 3, kernel_size: 3, padding: middle}\n")
    assert path == "layers[0].padding" and "'valid', 'same' or 'full', got 'middle'" in message


def test_wrong_types():
    assert one(HEAD + "  - {type: conv2d, out_channels: 3, kernel_size: 3, bias: 'no'}\n")[3] == (
        "must be true or false, got 'no'"
    )
    assert "must be 'none' or 'tanh', got 'fast'" in one(HEAD + "  - {type: gelu, approximate: fast}\n")[3]
    assert one(HEAD + "  - 42\n")[3] == "a layer is a kind name (like relu) or a mapping with a `type`, not 42"
    assert one(HEAD + "  - {out_channels: 3}\n")[3].startswith("a layer needs a `type`")
    assert (
        "must be 'float32', 'float16', 'bfloat16', 'float64' or 'int8', got 'float8'"
        in one("input: [3, 8, 8]\ndtype: float8\nlayers: [relu]\n")[3]
    )


def test_input_shape_must_be_a_volume_or_a_vector():
    assert "[channels, height, width] or [features]" in one("input: [3, 32]\nlayers: [relu]\n")[3]
    assert "got [3, 0, 4]" in one("input: [3, 0, 4]\nlayers: [relu]\n")[3]


def test_layers_must_be_a_non_empty_list():
    assert one("input: [3, 8, 8]\nlayers: []\n")[3] == "must not be empty"
    assert "valid list" in one("input: [3, 8, 8]\nlayers: relu\n")[3]


def test_empty_and_non_mapping_documents():
    assert one("# nothing here\n")[3].startswith("the file is empty")
    assert one("- relu\n- relu\n")[3].startswith("a spec is a mapping")


def test_every_problem_is_reported_in_line_order():
    found = problems(HEAD + "  - relux\n  - {type: conv2d, out_channels: 0, kernel_size: 3}\n  - {type: linear}\n")
    assert [(line, path) for line, _, path, _ in found] == [
        (3, "layers[0]"),
        (4, "layers[1].out_channels"),
        (5, "layers[2]"),
    ]


def test_nested_layers_have_full_paths():
    text = HEAD + (
        "  - type: residual\n"
        "    body:\n"
        "      - {type: conv2d, out_channels: 3, kernel_size: 3, paddin: 1}\n"
        "  - type: concat\n"
        "    branches:\n"
        "      - [relu]\n"
        "      - [{type: maxpool2d, kernel_size: -2}]\n"
    )
    found = problems(text)
    assert [(line, path) for line, _, path, _ in found] == [
        (5, "layers[0].body[0]"),
        (9, "layers[1].branches[1][0].kernel_size"),
    ]


def test_budgets_take_readable_sizes():
    spec = load(HEAD + "  - relu\nbudgets: {params: 1.5M, macs: 2G, activation_memory: 1MiB, param_memory: 3KB}\n")
    b = spec.budgets
    assert (b.params, b.macs, b.activation_memory, b.param_memory) == (1_500_000, 2 * 10**9, 2**20, 3000)


def test_bad_budgets():
    _, _, path, message = one(HEAD + "  - relu\nbudgets: {macs: lots}\n")
    assert path == "budgets.macs" and "'lots' is not a count" in message
    _, _, path, message = one(HEAD + "  - relu\nbudgets: {parms: 3}\n")
    assert path == "budgets" and "did you mean 'params'?" in message
    assert "not a whole number" in one(HEAD + "  - relu\nbudgets: {params: 1.2345K}\n")[3]


def test_name_defaults_to_the_file_stem(tmp_path):
    path = tmp_path / "my-net.yaml"
    path.write_text("input: [3, 8, 8]\nlayers: [relu]\n")
    spec = load(path)
    assert spec.title == "my-net" and spec.file == str(path)


def test_zero_padding_names_only_the_forms_it_takes():
    _, _, path, message = one(HEAD + "  - {type: zeropad2d, padding: [1, 2, 3]}\n")
    assert path == "layers[0].padding"
    assert message == "must be a non-negative integer, a pair [h, w] or [top, bottom, left, right], got [1, 2, 3]"
