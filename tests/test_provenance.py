"""The provenance stamp (cnnsize/provenance.py) in every output: the table's line under its title,
JSON's `provenance`, Markdown's footnote, CSV's comment line; and `--convention` on `report`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from csvtext import csv_dicts
from typer.testing import CliRunner

import cnnsize
from cnnsize.cli import app
from cnnsize.provenance import compared, stamp

TOY = "specs/toy.yaml"  # input [3, 32, 32]
STAMP = f"cnnsize {cnnsize.__version__}, input 3x16x16, batch 4, float16, convention pytorch"


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


ARGS = ("report", TOY, "--input", "3,16,16", "--batch-size", "4", "--dtype", "float16")


def test_the_table_says_what_it_was_counted_at_under_its_title() -> None:
    lines = invoke(*ARGS).splitlines()
    assert lines[0].startswith("cs231n-toy") and lines[1].startswith(STAMP)


def test_markdown_ends_with_the_stamp_as_a_footnote() -> None:
    out = invoke(*ARGS, "--format", "markdown").rstrip().splitlines()
    assert out[-1].startswith(f"<sub>{STAMP}") and out[-1].endswith("</sub>")


def test_csv_starts_with_the_stamp_as_a_comment_line() -> None:
    out = invoke(*ARGS, "--format", "csv")
    assert out.splitlines()[0].startswith(f"# cs231n-toy: {STAMP}")
    assert len(csv_dicts(out)) == 5  # the rows read as before once the comment is skipped


def test_json_carries_the_stamp_as_fields() -> None:
    data = json.loads(invoke(*ARGS, "--format", "json"))
    assert data["provenance"] == {
        "cnnsize": cnnsize.__version__,
        "inputs": [{"name": "input", "shape": [3, 16, 16]}],
        "batch_size": 4,
        "dtype": "float16",
        "convention": "pytorch",
        "convention_counts": "2 per multiply-accumulate of convolutions and linear layers, nothing else",
    }


def test_a_plan_is_stamped_with_the_batch_that_fits() -> None:
    data = json.loads(invoke("plan", TOY, "--memory", "1GiB", "--format", "json"))
    assert data["provenance"]["batch_size"] == data["batch_size"] > 1
    assert "convention" not in data["provenance"]  # a plan counts bytes, not work
    table = invoke("plan", TOY, "--memory", "1GiB")
    assert f"input 3x32x32, batch {data['batch_size']}, float32" in table


def test_convention_adds_the_tools_column_and_total() -> None:
    # resnet50 as fvcore counts it: 4,111,512,576 "flops" (measured with fvcore 0.1.5 itself on
    # cnnsize.build's model by benchmarks/conventions.py; torchvision's docs give 4.09 GFLOPS,
    # its multiply-accumulates alone, 4,089,184,256)
    out = invoke("report", "resnet50", "--depth", "1", "--convention", "fvcore")
    assert "flops (fvcore)" in out and "4,111,512,576 (4.11 G flops" in out
    assert "convention fvcore (fvcore 0.1.5)" in out
    csv_rows = csv_dicts(invoke("report", "resnet50", "--convention", "fvcore", "--format", "csv"))
    assert sum(int(row["counted"]) for row in csv_rows) == 4_111_512_576


def test_columns_can_choose_the_counted_column() -> None:
    out = invoke("report", TOY, "--convention", "thop", "--columns", "layer,counted", "--format", "markdown")
    assert out.splitlines()[2] == "| Layer | MACs (thop) |"


@pytest.mark.parametrize("bad", ["flops", "PYTORCH", ""])
def test_an_unknown_convention_is_a_usage_error(bad: str) -> None:
    result = CliRunner().invoke(app, ["report", TOY, "--convention", bad])
    assert result.exit_code == 2
    assert "pytorch" in result.output and "Traceback" not in result.output


def test_a_diff_says_each_side_when_they_were_counted_differently() -> None:
    old = cnnsize.analyze(cnnsize.load(TOY))
    new = cnnsize.analyze(cnnsize.load(TOY), batch_size=2)
    assert compared(old, old) == stamp(old).text()
    assert compared(old, new) == f"old: {stamp(old).text()}; new: {stamp(new).text()}"
    assert "batch 1" in stamp(old).text() and "batch 2" in stamp(new).text()


def test_diff_with_a_convention_compares_its_figure_too() -> None:
    data = json.loads(invoke("diff", "resnet18", "resnet34", "--convention", "fvcore", "--format", "json"))
    counted = data["totals"]["counted"]
    assert counted["delta"] == counted["new"] - counted["old"] > data["totals"]["macs"]["delta"]
    assert data["new"]["provenance"]["convention"] == "fvcore"
    # the headline names the figure as the tool does
    assert "flops (fvcore) +" in invoke("diff", "resnet18", "resnet34", "--convention", "fvcore")


def test_a_hash_in_a_name_is_quoted_so_comment_skipping_readers_keep_the_row(tmp_path) -> None:
    # pandas.read_csv(comment="#") cuts a line at a # outside quotes: every # of a data line must
    # be inside a quoted field, while the stamp's line starts with one
    path = tmp_path / "hash.yaml"
    path.write_text(
        'name: "net #1"\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3, name: "c#2"}\n'
    )
    out = invoke("report", str(path), "--format", "csv")
    lines = out.splitlines()
    assert lines[0].startswith("# net #1: cnnsize")
    for line in lines[1:]:
        inside = False
        for char in line:
            inside = not inside if char == '"' else inside
            assert char != "#" or inside, line
    assert csv_dicts(out)[0]["name"] == "c#2"


def test_a_change_only_a_convention_sees_is_a_changed_layer(tmp_path) -> None:
    # nearest to bilinear upsampling: the same shapes, parameters and MACs; fvcore counts 4 per
    # output element instead of 1, so 3 x 4*12*12 = 1,728 more, and the layer is changed
    old = tmp_path / "old.yaml"
    old.write_text(
        "input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3}\n  - {type: upsample, scale_factor: 2}\n"
    )
    new = tmp_path / "new.yaml"
    new.write_text(old.read_text().replace("scale_factor: 2}", "scale_factor: 2, mode: bilinear}"))
    data = json.loads(invoke("diff", str(old), str(new), "--convention", "fvcore", "--format", "json"))
    assert [(c["layer"], c["new"]["counted"] - c["old"]["counted"]) for c in data["layers"]] == [
        ("layers[1]", 3 * 4 * 12 * 12)
    ]
    rows = csv_dicts(invoke("diff", str(old), str(new), "--convention", "fvcore", "--format", "csv"))
    assert [row["delta_counted"] for row in rows] == ["1728"]
    assert "no layer changed" in invoke("diff", str(old), str(new))  # without the convention: nothing to see


def test_the_counted_column_needs_a_convention() -> None:
    result = CliRunner().invoke(app, ["report", TOY, "--columns", "layer,counted"])
    assert result.exit_code == 2 and "--convention" in result.output


def test_the_help_names_every_convention_and_check_loads_none() -> None:
    from cnnsize.commands.options import CONVENTION_NAMES
    from cnnsize.conventions import CONVENTIONS

    assert CONVENTION_NAMES == ", ".join(CONVENTIONS)
    done = subprocess.run(
        [sys.executable, "-c", "import sys, cnnsize.cli; print('cnnsize.conventions' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "False"  # the rule tables load only when --convention is given
