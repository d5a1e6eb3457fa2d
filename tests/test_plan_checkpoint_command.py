"""`cnnsize plan --checkpoint` and `--solve resolution` on the command line: every format shows the
checkpointed blocks, the memory saved and the FLOPs paid (or the resolution that fits); each bad
combination is one clear message, exit 2."""

from __future__ import annotations

import json

import pytest
from csvtext import csv_dicts
from typer.testing import CliRunner

import cnnsize
from cnnsize.checkpointing import plan_checkpointed
from cnnsize.cli import app
from cnnsize.resolution import solve_resolution

RESNET = "specs/small-resnet.yaml"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "csv", "latex"])
def test_checkpointing_in_every_format(fmt):
    code, out, err = invoke(
        "plan", RESNET, "-m", "64MiB", "--reserve", "0", "--checkpoint", "auto", "-b", "100", "-f", fmt
    )
    assert code == 0, err
    expected = plan_checkpointed(cnnsize.load(RESNET), 64 * 2**20, checkpoint="auto", batch_size=100, reserve="0")
    c = expected.checkpointing
    assert expected.batch_size >= 100 and c.blocks  # 100 does not fit without checkpointing
    if fmt == "json":
        assert json.loads(out) == expected.to_dict()
    elif fmt == "csv":
        row = csv_dicts(out)[0]
        assert row["checkpoint"] == "auto" and row["checkpointed_blocks"] == "; ".join(c.blocks)
        assert int(row["checkpoint_saved_bytes"]) == c.saved_bytes
        assert int(row["extra_flops"]) == c.extra_flops
    else:
        assert "Checkpointing (auto)" in out and f"{c.extra_flops:,}" in out
        assert "3 x forward" in out and f"{c.saved_bytes:,} B" in out


def test_a_batch_that_cannot_fit_says_so():
    code, out, err = invoke("plan", RESNET, "-m", "64MiB", "--reserve", "0", "--checkpoint", "auto", "-b", "100000")
    assert code == 1 and out == ""
    assert "batch size 100000 does not fit even with every block that frees memory checkpointed" in err


def test_solve_resolution_prints_the_side_and_the_next():
    code, out, err = invoke(
        "plan", RESNET, "-m", "64MiB", "--solve", "resolution", "-b", "8", "-f", "json", "--reserve", "0"
    )
    assert code == 0, err
    expected = solve_resolution(cnnsize.load(RESNET), 64 * 2**20, batch_size=8, reserve="0")
    assert json.loads(out) == expected.to_dict()
    code, out, _ = invoke("plan", RESNET, "-m", "64MiB", "--solve", "resolution", "-b", "8", "--reserve", "0")
    side = expected.resolution
    assert f"input 3x{side}x{side} fits in 64.00 MiB at batch size 8" in out
    assert f"Side {side + 1}" in out and f"{expected.next_total:,} B" in out
    code, out, _ = invoke("plan", RESNET, "-m", "64MiB", "--solve", "resolution", "-f", "csv", "--reserve", "0")
    assert int(csv_dicts(out)[0]["batch_size"]) == 1  # the default batch


@pytest.mark.parametrize(
    "args, message",
    [
        (["--checkpoint", "bogus"], "'bogus' is not one of 'none', 'all', 'auto'"),
        (["--solve", "resolution", "-b", "0"], "must be a positive integer, got 0"),
        (["--solve", "width"], "'width' is not one of 'batch', 'resolution'"),
        (["--batch-size", "4"], "--batch-size is the batch to fit with --checkpoint auto or --solve resolution"),
        (["--checkpoint", "all", "--mode", "inference"], "--checkpoint all is for training"),
        (["--solve", "resolution", "--checkpoint", "auto"], "with --solve resolution use none or all"),
    ],
)
def test_bad_options_are_one_message_exit_2(args, message):
    code, out, err = invoke("plan", RESNET, "-m", "64MiB", *args)
    assert code == 2 and out == ""
    assert message in " ".join(err.split()) and "Traceback" not in err


def test_solve_resolution_with_a_flat_input_is_a_usage_error(tmp_path):
    flat = tmp_path / "flat.yaml"
    flat.write_text("name: flat\ninput: [12]\nlayers:\n  - {type: linear, out_features: 2}\n")
    code, out, err = invoke("plan", str(flat), "-m", "1MiB", "--solve", "resolution")
    assert code == 2 and out == ""
    assert "needs an image input [C, H, W]; flat's input is [12]" in err and "Traceback" not in err


def _panel(out: str, title: str) -> list[str]:
    """The rows of the panel titled `title` in a table's output, the box's edges cut."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if title in line)
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("╰"))
    return [line.strip("│ ") for line in lines[start + 1 : end]]


def test_every_block_checkpointed_is_one_count():
    code, out, err = invoke("plan", "densenet121", "-m", "24GiB", "--checkpoint", "all")
    assert code == 0, err
    rows = _panel(out, "Checkpointing (all)")
    # 58 dense layers (6 + 12 + 24 + 16) and 3 transitions
    assert rows[0].split() == ["Blocks", "61", "of", "61", "(all)"]
    assert "dense_layer" not in out  # no label: the count says all
    assert max(len(row) for row in rows) < 120  # before, one line of every label: 3,000 characters


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_many_blocks_are_packed_to_the_panel_and_capped(fmt):
    code, out, err = invoke(
        "plan", "densenet121", "-m", "8GiB", "--reserve", "0", "--checkpoint", "auto", "-b", "150", "-f", fmt
    )
    assert code == 0, err
    expected = plan_checkpointed(cnnsize.load("densenet121"), 8 * 2**30, checkpoint="auto", batch_size=150, reserve="0")
    c = expected.checkpointing
    assert 4 < len(c.blocks) < c.candidates  # some, not all: their labels are listed
    shown = [label for label in c.blocks if f"{label}," in out or f"{label} " in out or f"{label} |" in out]
    assert shown == list(c.blocks[: len(shown)]) and 0 < len(shown) < len(c.blocks)  # the first few, in order
    assert f"{len(c.blocks)} of {c.candidates}:" in out
    assert f"... and {len(c.blocks) - len(shown)} more" in out
    if fmt == "table":  # no label line is wider than the panel's widest figure line
        rows = _panel(out, "Checkpointing (auto)")
        widest = max(len(row) for row in rows if row.startswith(("Memory saved", "Extra FLOPs", "Chosen")))
        assert all(len(row) <= widest for row in rows)
    code, out, _ = invoke(
        "plan", "densenet121", "-m", "8GiB", "--reserve", "0", "--checkpoint", "auto", "-b", "150", "-f", "json"
    )
    assert json.loads(out)["checkpointing"]["blocks"] == list(c.blocks)  # JSON keeps them all
