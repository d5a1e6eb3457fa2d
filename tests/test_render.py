"""Rendering: every format carries the same figures, each with its unit."""

import io
import json
import math
import re

import pytest
from csvtext import csv_dicts

from cnnsize.engine import analyze
from cnnsize.loader import load
from cnnsize.render import render

NET = """name: tiny
input: [3, 8, 8]
layers:
  - {type: conv2d, name: c1, out_channels: 4, kernel_size: 3, padding: 1}
  - type: residual
    body: [{type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}, batchnorm2d]
  - global_avgpool2d
  - flatten
  - {type: linear, out_features: 2}
"""


def rendered(fmt, batch_size=1):
    out = io.StringIO()
    render([analyze(load(NET), batch_size)], fmt, out)
    return out.getvalue()


def test_json_is_the_public_contract():
    data = json.loads(rendered("json", batch_size=2))
    assert set(data) >= {"name", "input_shape", "output_shape", "batch_size", "dtype", "layers", "totals"}
    assert (data["name"], data["input_shape"], data["output_shape"], data["batch_size"]) == ("tiny", [3, 8, 8], [2], 2)
    leaf_keys = {
        "path",
        "name",
        "type",
        "output_shape",
        "params",
        "non_trainable_params",
        "macs",
        "flops",
        "activation_bytes",
        "receptive_field",
    }
    for layer in data["layers"]:
        assert set(layer) >= leaf_keys
        assert isinstance(layer["params"], int) and isinstance(layer["macs"], int)
    assert [layer["path"] for layer in data["layers"]] == [
        "layers[0]",
        "layers[1].body[0]",
        "layers[1].body[1]",
        "layers[1].add",
        "layers[2]",
        "layers[3]",
        "layers[4]",
    ]
    assert data["layers"][0]["name"] == "c1"
    assert data["layers"][0]["receptive_field"] == {"size": [3, 3], "jump": [1, 1], "start": [0, 0]}
    totals = data["totals"]
    assert set(totals) == {"params", "non_trainable_params", "macs", "flops", "activation_bytes", "param_bytes"}
    # the leaves sum to the totals
    for key in ("params", "non_trainable_params", "macs", "flops", "activation_bytes"):
        assert sum(layer[key] for layer in data["layers"]) == totals[key]
    # c1: 4*3*9 + 4 = 112; body conv: 4*4*9 + 4 = 148; bn: 8; linear: 4*2 + 2 = 10
    assert totals["params"] == 112 + 148 + 8 + 10


def test_table_shows_nesting_units_and_totals():
    text = rendered("table")
    assert "\x1b[" not in text  # plain text when not a terminal
    lines = text.splitlines()
    body_line = next(line for line in lines if "layers[1].body[0]" in line)
    parent_line = next(line for line in lines if "layers[1] " in line and "residual" in line)
    assert body_line.index("layers[1].body[0]") > parent_line.index("layers[1]")  # indented under its parent
    assert "layers[0] (c1)" in text
    for label in (
        "Trainable params",
        "Non-trainable params",
        "Parameter memory",
        "MACs",
        "FLOPs",
        "Activation memory",
        "Output shape",
    ):
        assert label in text
    assert re.search(r"Trainable params\s+278\s", text)  # 112 + 148 + 8 + 10
    assert "KiB" in text and " B" in text


@pytest.mark.parametrize("width", [40, 60, 80])
def test_a_narrow_table_keeps_the_layer_column_and_says_what_it_hid(monkeypatch, width):
    monkeypatch.setenv("COLUMNS", str(width))
    text = rendered("table")
    table = [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]
    assert table[1].startswith("┃ Layer ") and "Params" in table[1]  # the name and the parameters always show
    assert all(len(line) <= width for line in table)
    hidden = re.search(r"\(hidden to fit (\d+) columns: ([^;]+);", " ".join(text.split()))
    assert hidden and hidden.group(1) == str(width)
    names = hidden.group(2).split(", ")
    assert names and all(name not in table[1] for name in names)  # each hidden one is named, none shown


def test_a_wide_table_hides_nothing(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    text = rendered("table")
    assert "hidden to fit" not in text and "Receptive field" in text


def test_markdown_is_a_pipe_table_with_totals():
    text = rendered("markdown")
    assert text.startswith("## tiny\n")
    assert "| Layer | Type | Output shape | Params | MACs | Activations | Receptive field |" in text
    assert "| `layers[0] (c1)` | conv2d | [4, 8, 8] | 112 |" in text
    assert "&nbsp;&nbsp;`layers[1].body[0]`" in text
    assert "| Trainable params | 278 |" in text


def test_csv_has_one_row_per_leaf():
    rows = csv_dicts(rendered("csv"))
    assert [row["path"] for row in rows][:4] == ["layers[0]", "layers[1].body[0]", "layers[1].body[1]", "layers[1].add"]
    assert rows[0]["params"] == "112" and rows[0]["output_shape"] == "[4, 8, 8]" and rows[0]["network"] == "tiny"
    assert sum(int(row["macs"]) for row in rows) == analyze(load(NET)).totals.macs


def test_columns_choose_the_table_and_percentages_show_each_share():
    out = io.StringIO()
    report = analyze(load("specs/toy.yaml"))
    render([report], "markdown", out, columns=["params", "params%", "macs%"])
    lines = [line for line in out.getvalue().splitlines() if line.startswith("| ")]
    lines = lines[: lines.index("| Totals | |")]  # the layer table, then the totals panel
    assert lines[0] == "| Layer | Params | % Params | % MACs |"  # the layer always comes first
    # conv: 12 x 27 + 12 = 336 of 31,066 parameters (1.08%), 331,776 of 362,496 MACs (91.53%);
    # linear: 3,072 x 10 + 10 = 30,730 (98.92%), 30,720 MACs (8.47%)
    assert lines[1] == "| `layers[0]` | 336 | 1.08% | 91.53% |"
    assert lines[-1] == "| `layers[4]` | 30,730 | 98.92% | 8.47% |"


def test_an_unknown_column_is_a_usage_error():
    from cnnsize.errors import UsageError
    from cnnsize.render import choose_columns

    with pytest.raises(UsageError, match="unknown column 'flops'; choose from layer, type"):
        choose_columns(["params", "flops"])


def test_the_weights_column_names_each_parameter_tensor_and_they_add_up_to_the_params():
    out = io.StringIO()
    report = analyze(load("resnet18"))
    render([report], "markdown", out, columns=["weights", "params"])
    lines = [line for line in out.getvalue().splitlines() if line.startswith("| `")]
    assert lines[0] == "| `layers[0] (conv1)` | weight [64, 3, 7, 7] | 9,408 |"  # 64 x 3 x 7 x 7
    assert lines[1] == "| `layers[1] (bn1)` | weight [64], bias [64] | 128 |"
    for line in lines:  # every leaf: the elements of its tensors are its parameters
        _, weights, params = (cell.strip() for cell in line.strip("|").split(" | "))
        if weights:
            shapes = [[int(v) for v in part.split("[")[1].rstrip("]").split(", ")] for part in weights.split("], ")]
            assert sum(math.prod(shape) for shape in shapes) == int(params.replace(",", ""))


@pytest.mark.parametrize("width", [30, 60])
def test_long_layer_names_fold_rather_than_lose_the_layer_column(monkeypatch, width):
    # resnet50's paths (`layers[4].layers[0].layers[0].body[0]`) are wider than the terminal with
    # any figure beside them: every hideable column goes, the layer column folds, none is cut off
    monkeypatch.setenv("COLUMNS", str(width))
    out = io.StringIO()
    render([analyze(load("resnet50"))], "table", out)
    text = out.getvalue()
    table = [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]
    assert table[1].startswith("┃ Layer ") and table[1].rstrip("┃ ").endswith("Params")
    assert all(len(line) <= width for line in table)
    assert re.search(r"│\s+9,408 │", text)  # conv1's parameters, whole and right-aligned
    assert "hidden to fit" in " ".join(text.split())
