"""`cnnsize plan` and the report's memory options on the command line: every format, and one clear
message with the right exit code for each bad input (2 for usage, 1 when no batch fits)."""

from __future__ import annotations

import json
import re

import pytest
from csvtext import csv_dicts
from typer.testing import CliRunner

import cnnsize
from cnnsize.cli import app
from cnnsize.parallel import Parallel
from cnnsize.planner import plan

TOY = "specs/toy.yaml"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_plan_prints_the_batch_and_its_breakdown():
    code, out, err = invoke("plan", TOY, "--memory", "1MiB", "--optimizer", "momentum", "--device", "cpu")
    # the peak, at the ReLU's backward (tests/test_planner.py): parameters, momentum, the linear's
    # gradients, the loss: 2 * 124,264 + 122,920 + 8 = 371,456; 159,744 per sample -> batch 4
    assert code == 0 and err == ""
    assert out.startswith("cs231n-toy: batch size 4 fits in 1.00 MiB: training with momentum, float32")
    assert re.search(r"Optimizer state \(momentum\) +121.35 KiB \(124,264 B\)", out)
    assert "Peak" in out and "backward of layers[1]" in out
    assert "Batch size 5" in out and f"{371_456 + 5 * 159_744:,} B" in out


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


@pytest.mark.parametrize(
    "args, message",
    [
        (["--gpus", "0"], "error: --gpus must be a positive integer, got 0"),
        (["--gpus", "2", "--nodes", "0"], "error: --nodes must be a positive integer, got 0"),
        (["--accumulate", "0"], "error: --accumulate must be a positive integer, got 0"),
        (["--strategy", "bogus"], "'bogus' is not one of 'ddp', 'zero1', 'zero2', 'fsdp'"),
        (["--reserve", "120%"], "error: --reserve must be from 0% to below 100% of --memory, got '120%'"),
        (["--reserve", "2GiB"], "error: --reserve (2.00 GiB, 2,147,483,648 B) leaves nothing of --memory (1.00 GiB"),
        (["--reserve", "lots"], "error: --reserve: 'lots' is not a byte size"),
        (["--mode", "inference", "--gpus", "8", "--strategy", "fsdp"], "error: --strategy fsdp shards training state"),
        # it printed a 'global batch' of batch x ranks x 4 steps, for steps that take no optimizer step
        (["--mode", "inference", "--accumulate", "4"], "error: --accumulate is for training"),
    ],
)
def test_parallel_and_reserve_errors_are_one_message_and_exit_2(args, message):
    exit_code, out, err = invoke("plan", TOY, "-m", "1GiB", *args)
    assert exit_code == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_the_default_reserve_larger_than_the_memory_says_how_to_turn_it_off():
    code, out, err = invoke("plan", TOY, "-m", "100MiB")  # CUDA: 512 MiB + 5% of 100 MiB
    assert code == 2 and out == ""
    assert "the default reserve on CUDA (517.00 MiB, 542,113,792 B" in err and "give --reserve 0" in err


def test_every_plan_prints_its_reserve_usable_memory_and_what_is_not_counted():
    code, out, _ = invoke("plan", TOY, "-m", "1GiB", "--reserve", "10%")
    # 10% of 1,073,741,824 = 107,374,182 B held back, 966,367,642 B usable
    assert code == 0
    assert "Reserve" in out and "107,374,182 B" in out and "--reserve 10% of the memory" in out
    assert "Usable memory" in out and "966,367,642 B" in out
    # one GPU, no checkpointing: the step's backward is counted, no communication happens
    assert "Not counted in the lines (the reserve is for them): batch norm's num_batches_tracked" in out
    assert "communication" not in out and "the CUDA context." in out
    code, out, _ = invoke("plan", TOY, "-m", "1GiB", "--device", "cpu")
    assert re.search(r"Reserve +0 B: none on the CPU", out) and "CUDA context" not in out
    code, out, _ = invoke("plan", TOY, "-m", "1GiB", "--gpus", "2", "--strategy", "fsdp", "--reserve", "0")
    assert "activation gradients and the optimizer's temporaries under --checkpoint and FSDP2" in out
    assert "communication libraries' own buffers" in out


def test_a_multi_gpu_plan_shows_the_rank_the_global_batch_and_the_strategy_s_lines():
    code, out, err = invoke(
        "plan", TOY, "-m", "1GiB", "--device", "cpu", "--optimizer", "adam",
        "--gpus", "4", "--nodes", "2", "--strategy", "zero1", "--accumulate", "3",
    )  # fmt: skip
    expected = plan(cnnsize.load(TOY), 2**30, optimizer="adam", device="cpu", parallel=Parallel(4, "zero1", 2, 3))
    b = expected.batch_size
    assert code == 0 and err == ""
    assert out.startswith(f"cs231n-toy: batch size {b} per GPU fits in 1.00 GiB on each GPU, global batch {b * 24:,}")
    assert "on 2 nodes x 4 GPUs, zero1, 3 accumulated steps" in out
    assert "Global batch" in out and f"{b:,} x 8 ranks x 3 steps = {b * 8 * 3:,}" in out
    assert "Gradient buckets (DDP)" in out and "partition of 8)" in out


@pytest.mark.parametrize("fmt", ["json", "csv", "markdown", "latex"])
def test_every_format_carries_the_parallel_lines(fmt):
    args = ["plan", TOY, "-m", "1GiB", "--device", "cpu", "--gpus", "2", "--strategy", "fsdp", "-f", fmt]
    code, out, _ = invoke(*args)
    expected = plan(cnnsize.load(TOY), 2**30, device="cpu", parallel=Parallel(2, "fsdp"))
    lines = expected.footprint.lines
    assert code == 0
    if fmt == "json":
        data = json.loads(out)
        assert data == expected.to_dict()
        assert data["parallel"]["world_size"] == 2 and data["global_batch_size"] == 2 * expected.batch_size
        assert data["reserve_bytes"] == 0 and data["not_counted"]
    elif fmt == "csv":
        row = csv_dicts(out)[0]
        assert row["strategy"] == "fsdp" and int(row["world_size"]) == 2 and row["rank"] == "0"
        assert int(row["global_batch_size"]) == 2 * expected.batch_size
        assert int(row["unsharded_parameter_bytes"]) == lines["unsharded_parameter_bytes"]
        assert int(row["communication_buffer_bytes"]) == lines["communication_buffer_bytes"]
        assert int(row["reserve_bytes"]) == 0 and int(row["usable_bytes"]) == 2**30
    else:
        assert "Gathered parameters (FSDP)" in out and "Communication buffers" in out
        assert "Global batch" in out and "Usable memory" in out and "Not counted" in out


def test_a_spec_that_cannot_take_the_options_fails_alone(tmp_path):
    # --solve resolution on a flat input is that spec's own refusal: the toy is still planned, the
    # flat spec gives one line naming its file, and the exit code is the usage error's, 2 (it used
    # to stop every spec, printing nothing for the toy)
    flat = tmp_path / "flat.yaml"
    flat.write_text("name: flat\ninput: [12]\nlayers:\n  - {type: linear, out_features: 2}\n")
    code, out, err = invoke("plan", str(flat), TOY, "-m", "1GiB", "--reserve", "0", "--solve", "resolution")
    assert code == 2
    assert out.startswith("cs231n-toy: input 3x")
    assert err.strip().splitlines() == [
        f"{flat}: error: --solve resolution needs an image input [C, H, W]; flat's input is [12], which has no "
        "height and width"
    ]
    code, out, _ = invoke("plan", TOY, str(flat), "-m", "1GiB", "--reserve", "0", "--solve", "resolution", "-f", "json")
    assert code == 2 and [p["name"] for p in json.loads(out)] == ["cs231n-toy"]


def test_an_option_no_spec_changes_stops_before_any_spec(tmp_path):
    # the reserve and inference's strategy are checked once: one message, no spec read (a missing one
    # is not reported), exit 2
    code, out, err = invoke("plan", TOY, str(tmp_path / "missing.yaml"), "-m", "1GiB", "--reserve", "2GiB")
    assert (
        code == 2
        and out == ""
        and err.strip().splitlines()
        == [
            "error: --reserve (2.00 GiB, 2,147,483,648 B) leaves nothing of --memory (1.00 GiB, 1,073,741,824 B); "
            "give a smaller --reserve"
        ]
    )


def test_the_global_batch_line_groups_the_accumulated_steps():
    code, out, _ = invoke("plan", TOY, "-m", "1GiB", "--gpus", "2", "--accumulate", "1000", "--reserve", "0")
    batch = int(re.search(r"batch size (\d+) per GPU", out).group(1))
    assert code == 0 and f"{batch:,} x 2 ranks x 1,000 steps = {batch * 2 * 1000:,}" in out


def test_the_strategy_choices_are_the_planner_s():
    # one enum for plan and verify, kept to cnnsize.parallel's list (a strategy added there shows here)
    from cnnsize.commands.parallel_options import Strategy
    from cnnsize.parallel import STRATEGIES

    assert tuple(s.value for s in Strategy) == STRATEGIES
