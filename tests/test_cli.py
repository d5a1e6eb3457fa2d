"""The command line: report and check, their messages and exit codes."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnsize.cli import app

SPECS = sorted(Path(__file__).resolve().parent.parent.joinpath("specs").glob("*.yaml"))
GOOD = "input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3}\n  - flatten\n"


@pytest.fixture
def runner():
    return CliRunner()


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_report_every_format(runner):
    spec = str(SPECS[0])
    for fmt in ("table", "json", "markdown", "csv"):
        result = runner.invoke(app, ["report", spec, "--format", fmt])
        assert result.exit_code == 0, result.output
        assert result.output.strip()
    data = json.loads(runner.invoke(app, ["report", spec, "-f", "json", "-b", "4", "--dtype", "float16"]).output)
    assert (data["batch_size"], data["dtype"]) == (4, "float16")


def test_report_on_a_bad_spec_prints_located_errors_and_the_good_results(runner, tmp_path):
    bad = write(tmp_path, "bad.yaml", "input: [3, 8, 8]\nlayers:\n  - relux\n")
    good = write(tmp_path, "good.yaml", GOOD)
    result = runner.invoke(app, ["report", good, bad, "-f", "json"])
    assert result.exit_code == 1  # the failure is never hidden: errors on stderr, and the exit code
    assert [r["file"] for r in json.loads(result.stdout)] == [good]  # the rule of commands/several.py
    assert f"{bad}:3:5: error: layers[0]: unknown layer kind 'relux' (did you mean 'relu'?)" in result.stderr
    result = runner.invoke(app, ["report", bad, "-f", "json"])
    assert result.exit_code == 1 and result.stdout == ""  # one spec: its object, or nothing
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["report", "{spec}", "--batch-size", "0"], "--batch-size"),
        (["report", "{spec}", "--dtype", "float8"], "--dtype"),
        (["report", "{spec}", "--format", "yaml"], "--format"),
        (["report"], "Missing argument"),
        (["frobnicate"], "No such command"),
    ],
)
def test_usage_errors_exit_2(runner, args, message):
    args = [a.replace("{spec}", str(SPECS[0])) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.output


def test_check_passes_every_bundled_spec(runner):
    result = runner.invoke(app, ["check", *map(str, SPECS)])
    assert result.exit_code == 0, result.output
    assert f"{len(SPECS)} specs checked: all passed" in result.output


def test_check_reports_every_file_not_just_the_first(runner, tmp_path):
    first = write(
        tmp_path, "a.yaml", "input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 0, kernel_size: 3}\n"
    )
    second = write(tmp_path, "b.yaml", GOOD + "budgets: {params: 10}\n")
    third = write(tmp_path, "c.yaml", GOOD)
    result = runner.invoke(app, ["check", first, second, third])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines == [
        f"{first}:3:34: error: layers[0].out_channels: must be a positive integer, got 0",
        f"{second}:5:19: error: budgets.params: trainable parameters over budget: 112 (112) > 10 (10)",
    ]
    assert "3 specs checked: 2 failed" in result.stderr


def test_check_missing_file_is_a_usage_error_but_the_rest_are_checked(runner, tmp_path):
    bad = write(tmp_path, "bad.yaml", "input: [3, 8, 8]\nlayers: [relux]\n")
    missing = str(tmp_path / "missing.yaml")
    result = runner.invoke(app, ["check", missing, bad])
    assert result.exit_code == 2
    assert f"{missing}:1:1: error: no such file" in result.stdout
    assert f"{bad}:2:10: error:" in result.stdout


def test_check_shape_error_from_the_engine(runner, tmp_path):
    spec = write(tmp_path, "k.yaml", "input: [3, 4, 4]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 7}\n")
    result = runner.invoke(app, ["check", spec])
    assert result.exit_code == 1
    assert f"{spec}:3:50: error: layers[0].kernel_size: conv2d: the kernel does not fit" in result.stdout


def test_version(runner):
    from cnnsize import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
