"""`cnnsize report --view sharing|paths`: every format, the options a view refuses, several specs,
and names from the spec kept harmless."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from latexdoc import compiles, needs_pdflatex
from typer.testing import CliRunner

from cnnsize.cli import app

SMALL = "specs/small-resnet.yaml"


def invoke(*args: str, code: int = 0):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result


def test_the_default_view_is_the_layer_table():
    plain = invoke("report", SMALL).stdout
    assert invoke("report", SMALL, "--view", "table").stdout == plain
    assert "Saved for backward" in plain


def test_sharing_as_a_table_has_a_row_per_convolution_and_a_total():
    out = invoke("report", SMALL, "--view", "sharing").stdout
    lines = out.splitlines()
    assert lines[0] == f"small-resnet ({SMALL})"
    rows = [line for line in lines if line.startswith("│")]
    assert len(rows) == 8 + 1  # 8 convolutions (stem, 6 in the bodies, 1 projection), the total
    # the stem: 16 filters of 3x3x3, no bias: 432; 3,072 inputs x 16,384 units = 50,331,648
    cells = [cell.strip() for cell in rows[0].split("│")[1:-1]]
    # unshared: 32*32*16 = 16,384 units of 27 weights each, no bias: 442,368
    assert cells[:6] == ["layers[0] (stem)", "conv2d", "[3, 32, 32]", "[16, 32, 32]", "432", "442,368"]
    # 50,331,648 / 432 = 116,508.4; a unit reads 27 of the 3,072 inputs: 0.879%
    assert cells[6:] == ["50,331,648", "116,508x", "27", "3,072", "0.879%"]
    # the total: the convolutions' 23,984 of the network's 24,634 parameters (batch norms and fc aside)
    total = rows[-1].split("│")
    assert total[1].strip() == "Total" and total[5].strip() == "23,984"
    assert "Unshared: a locally connected layer" in out


def test_sharing_in_every_other_format():
    data = json.loads(invoke("report", SMALL, "--view", "sharing", "-f", "json").stdout)
    assert data["view"] == "sharing" and len(data["convolutions"]) == 8
    assert data["totals"]["params"] == 23_984
    assert data["convolutions"][0]["dense_params"] == 50_331_648
    text = invoke("report", SMALL, "--view", "sharing", "-f", "csv").stdout
    comment, *body = text.splitlines()
    assert comment.startswith("# small-resnet: cnnsize")
    rows = list(csv.DictReader(io.StringIO("\n".join(body))))
    assert len(rows) == 8
    assert (rows[0]["params"], rows[0]["dense_params"], rows[0]["bias"]) == ("432", "50331648", "False")
    markdown = invoke("report", SMALL, "--view", "sharing", "-f", "markdown").stdout
    assert markdown.startswith(f"## small-resnet ({SMALL})")
    assert "| Total |  |  |  | 23,984 |" in markdown
    latex = invoke("report", SMALL, "--view", "sharing", "-f", "latex").stdout
    assert latex.count("\\begin{longtable}") == 1 and "Total &" in latex


def test_paths_as_a_table():
    out = invoke("report", SMALL, "--view", "paths").stdout
    assert "│ Paths                      8 (2^3)" in out
    assert "3: 2 identity shortcuts, 1 projection shortcut" in out
    assert "Length in weighted layers  3 to 8, mean 5.50" in out
    assert "Paths by length in weighted layers" in out and "Paths by length in residual blocks" in out
    # x^3 + x^4 + 2x^5 + 2x^6 + x^7 + x^8: length 5 holds 2 of 8 paths, 50% of them up to it
    assert "│      5 │     2 │ 25.00% │     50.00% │" in out


def test_paths_in_every_other_format():
    data = json.loads(invoke("report", "resnet50", "--view", "paths", "-f", "json").stdout)
    (out,) = data["outputs"]
    assert out["layers"]["paths"] == 65_536 and out["blocks"]["mean"] == 8.0
    assert (data["residual_blocks"], data["projection_shortcuts"]) == (16, 4)
    text = invoke("report", SMALL, "--view", "paths", "-f", "csv").stdout
    rows = list(csv.DictReader(io.StringIO("\n".join(text.splitlines()[1:]))))
    by = {(r["measure"], int(r["length"])): int(r["paths"]) for r in rows}
    assert by == {("layers", 3): 1, ("layers", 4): 1, ("layers", 5): 2, ("layers", 6): 2, ("layers", 7): 1,
                  ("layers", 8): 1, ("blocks", 0): 1, ("blocks", 1): 3, ("blocks", 2): 3, ("blocks", 3): 1}  # fmt: skip
    markdown = invoke("report", SMALL, "--view", "paths", "-f", "markdown").stdout
    assert "| Paths | 8 (2^3) |" in markdown and "| 5 | 2 | 25.00% | 50.00% |" in markdown
    latex = invoke("report", SMALL, "--view", "paths", "-f", "latex").stdout
    assert latex.count("\\begin{longtable}") == 3  # the panel, and a table for each measure


def test_resnet152s_paths_are_exact():
    data = json.loads(invoke("report", "resnet152", "--view", "paths", "-f", "json").stdout)
    assert data["outputs"][0]["layers"]["paths"] == 2**50 == 1_125_899_906_842_624
    out = invoke("report", "resnet152", "--view", "paths").stdout
    assert "1,125,899,906,842,624 (2^50)" in out
    assert "<0.01%" in out  # the single path of 152 layers: a share too small for two decimals


def test_a_chain_says_so():
    out = invoke("report", "specs/toy.yaml", "--view", "paths").stdout
    assert "1: no join, the network is a chain" in out and "Residual blocks            none" in out
    assert "Paths by length in residual blocks" not in out


def test_a_network_without_convolutions_says_so(tmp_path: Path):
    path = tmp_path / "mlp.yaml"
    path.write_text("input: [16]\nlayers:\n  - {type: linear, out_features: 4}\n")
    out = invoke("report", str(path), "--view", "sharing").stdout
    assert "No convolution (conv2d or conv_transpose2d)" in out


def test_input_resizes_the_views():
    data = json.loads(
        invoke("report", "specs/toy.yaml", "--view", "sharing", "--input", "3,64,64", "-f", "json").stdout
    )
    (conv,) = data["convolutions"]
    # 12 filters of 3x3 with same padding on 64x64: 12 * 27 + 12 = 336 parameters whatever the input
    assert (conv["output_shape"], conv["params"]) == ([12, 64, 64], 336)
    assert conv["dense_params"] == 3 * 64 * 64 * 12 * 64 * 64 + 12 * 64 * 64


@pytest.mark.parametrize(
    "option",
    [
        ["--depth", "2"],
        ["--columns", "params"],
        ["--convention", "fvcore"],
        ["--optimizer", "adam"],
        ["--amp", "bf16"],
        ["--device", "cpu"],
    ],  # fmt: skip
)
def test_options_of_the_table_are_refused_with_a_view(option):
    result = invoke("report", SMALL, "--view", "paths", *option, code=2)
    assert f"error: {option[0]} changes the layer table or the memory panel, which --view paths does not show" in (
        result.stderr
    )
    assert result.stdout == ""


def test_an_unknown_view_is_a_usage_error():
    result = invoke("report", SMALL, "--view", "ensemble", code=2)
    assert "--view" in result.stderr


def test_several_specs_and_one_that_fails(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [3, 8, 8]\nlayers:\n  - relux\n")
    result = invoke("report", SMALL, str(bad), "resnet18", "--view", "paths", "-f", "json", code=1)
    assert [d["name"] for d in json.loads(result.stdout)] == ["small-resnet", "resnet18"]
    assert "unknown layer kind 'relux'" in result.stderr
    one = json.loads(invoke("report", SMALL, "--view", "sharing", "-f", "json").stdout)
    assert isinstance(one, dict)  # one spec: its object
    tables = invoke("report", SMALL, "resnet18", "--view", "sharing").stdout
    assert tables.count("Total") == 2


def test_names_from_the_spec_are_escaped(tmp_path: Path):
    path = tmp_path / "evil.yaml"
    path.write_text(
        'name: "net\\e[2J"\ninput: [3, 8, 8]\nlayers:\n'
        '  - {type: conv2d, out_channels: 4, kernel_size: 3, name: "c|\\e[31m"}\n'
    )
    for view in ("sharing", "paths"):
        for fmt in ("table", "markdown", "csv", "latex"):
            out = invoke("report", str(path), "--view", view, "-f", fmt).stdout
            assert "\x1b" not in out
    assert "c\\|\\x1b[31m" in invoke("report", str(path), "--view", "sharing", "-f", "markdown").stdout


def test_spec_warnings_are_printed_with_a_view(tmp_path: Path):
    path = tmp_path / "dead.yaml"
    path.write_text(
        "input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3, name: a}\n"
        "  - {type: conv2d, out_channels: 4, kernel_size: 3, name: unused, from: a}\n"
        "  - {type: relu, from: a}\n"
    )
    result = invoke("report", str(path), "--view", "sharing")
    assert "reaches no output" in result.stderr
    assert "unused" not in result.stdout  # left out of the graph, so of the view


@needs_pdflatex
@pytest.mark.parametrize("view", ["sharing", "paths"])
def test_pdflatex_compiles_the_views(tmp_path: Path, view: str):
    done = compiles(invoke("report", "resnet50", "--view", view, "-f", "latex").stdout, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]


def test_figures_are_written_for_reading_without_hiding_a_difference():
    from cnnsize.render_views import count_text, percent, share, times

    assert share(1, 8) == "12.50%" and share(0, 8) == "0.00%" and share(8, 8) == "100.00%"
    assert share(1, 2**16) == "<0.01%"  # 0.0015%: some, never 0.00%
    assert share(2**16 - 1, 2**16) == ">99.99%"  # 99.9985%: not all, never 100.00%
    assert share(99_994, 100_000) == "99.99%"
    assert percent(75, 3_072) == "2.44%"  # 2.4414...%: three significant digits
    assert percent(363, 154_587) == "0.235%"  # AlexNet's conv1: 0.23482...%
    assert percent(1, 10**12) == "0.000000000100%"  # never 1e-10%
    assert times(31_467_520, 760) == "41,405x"  # 41,404.6
    assert times(21, 10) == "2.1x" and times(1, 0) == "-"
    assert count_text(65_536) == "65,536 (2^16)" and count_text(6) == "6" and count_text(1) == "1"


def test_a_view_goes_into_the_output_file(tmp_path: Path) -> None:
    out = tmp_path / "paths.md"
    done = CliRunner().invoke(app, ["report", "resnet50", "--view", "paths", "--format", "markdown", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert done.stdout == "" and "65,536" in out.read_text(encoding="utf-8")


def test_a_view_takes_set_as_the_table_does() -> None:
    runner = CliRunner()
    full, half = (
        runner.invoke(app, ["report", "mobilenet_v2", "--view", "sharing", "--set", f"width_mult={w}", "-f", "json"])
        for w in ("1.0", "0.5")
    )
    assert full.exit_code == half.exit_code == 0, full.output + half.output
    assert full.stdout != half.stdout  # narrower convolutions: other parameters and connections
    assert runner.invoke(app, ["report", "resnet18", "--view", "paths", "--set", "x=1"]).exit_code == 2
