"""`cnnsize plan` and the report's memory options on the command line: every format, and one clear
message with the right exit code for each bad input (2 for usage, 1 when no batch fits)."""

from __future__ import annotations

import json

import pytest
from csvtext import csv_dicts
from typer.testing import CliRunner

import cnnsize
from cnnsize.cli import app
from cnnsize.planner import plan

TOY = "specs/toy.yaml"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_plan_prints_the_batch_and_its_breakdown():
    code, out, err = invoke("plan", TOY, "--memory", "1MiB", "--optimizer", "momentum", "--device", "cpu")
    # parameters, gradients, momentum: 3 * 124,264 = 372,792; 98,304 per sample -> batch 6
    assert code == 0 and err == ""
    assert out.startswith("cs231n-toy: batch size 6 fits in 1.00 MiB: training with momentum, float32")
    assert "Optimizer state (momentum)  121.35 KiB (124,264 B)" in out
    assert "Batch size 7" in out and f"{372_792 + 7 * 98_304:,} B" in out


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "csv"])
def test_plan_speaks_every_format(fmt):
    code, out, _ = invoke("plan", TOY, "resnet18", "-m", "2GiB", "--mode", "inference", "--amp", "bf16", "-f", fmt)
    assert code == 0
    expected = plan(cnnsize.load("resnet18"), 2 * 2**30, mode="inference", amp="bf16")
    if fmt == "json":
        assert json.loads(out)[1] == expected.to_dict()
    elif fmt == "csv":
        rows = csv_dicts(out)
        assert [row["network"] for row in rows] == ["cs231n-toy", "resnet18"]
        assert int(rows[1]["batch_size"]) == expected.batch_size
        assert int(rows[1]["total_bytes"]) == expected.footprint.total_bytes
    else:
        assert f"resnet18: batch size {expected.batch_size} fits in 2.00 GiB" in out


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["-m", "24 gigs"], 2, "error: --memory: '24 gigs' is not a byte size"),
        (["-m", "0"], 2, "error: --memory must be more than 0 bytes, got '0'"),
        (
            ["-m", "100KiB", "--reserve", "0"],
            1,
            "error: cs231n-toy: no batch size fits in 100.00 KiB (102,400 B): the parameters",
        ),
        (
            ["-m", "300000", "--device", "cpu"],
            1,
            "error: cs231n-toy: not even batch size 1 fits in 292.97 KiB (300,000 B)",
        ),
        (["-m", "1GiB", "--optimizer", "lion"], 2, "'lion' is not one of 'sgd', 'momentum', 'adam', 'adamw'"),
        (["-m", "1GiB", "--amp", "fp8"], 2, "'fp8' is not one of 'bf16', 'fp16'"),
        (["-m", "1GiB", "--amp", "bf16", "--dtype", "float16"], 2, "keeps float32 master weights"),
        ([], 2, "Missing option '--memory'"),
    ],
)
def test_bad_input_is_one_clear_message(args, code, message):
    exit_code, out, err = invoke("plan", TOY, *args)
    assert exit_code == code
    assert message in err and out == ""
    assert "Traceback" not in err


def test_a_spec_error_is_reported_with_its_location(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 30}\n")
    code, out, err = invoke("plan", str(bad), "-m", "1GiB")
    assert code == 1 and out == ""
    assert err.startswith(f"{bad}:3:50: error: layers[0].kernel_size: conv2d: the kernel does not fit")


def test_report_takes_the_memory_options():
    code, out, _ = invoke("report", TOY, "-f", "json", "--optimizer", "adam", "--amp", "fp16", "--device", "cpu")
    memory = json.loads(out)["memory"]
    assert code == 0 and (memory["optimizer"], memory["amp"], memory["device"]) == ("adam", "fp16", "cpu")
    code, _, err = invoke("report", TOY, "--amp", "bf16", "--dtype", "float64")
    assert code == 2 and "keeps float32 master weights, but the dtype is float64" in err
    code, out, _ = invoke("report", TOY)
    assert "Saved for backward" in out and "Training footprint" in out and "Inference peak" in out
