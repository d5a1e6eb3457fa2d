"""`--set NAME=VALUE` on report, check, plan, verify and diff: a spec parameter (its `params:`) set
from the command line, VALUE read as YAML; a name the spec does not declare, or bad syntax, is a
usage error (exit 2) with one clear message."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnsize.cli import app

NET = """\
name: net
params: {num_classes: 10, width: 4, act: relu}
input: [3, 8, 8]
layers:
  - {type: conv2d, out_channels: "${width}", kernel_size: 3, padding: 1}
  - "${act}"
  - flatten
  - {type: linear, out_features: "${num_classes}"}
budgets: {params: 5000, output_shape: ["${num_classes}"]}
"""


def params_of(width: int, classes: int) -> int:
    """conv 3x3 from 3 channels: 27 x width + width; linear from width x 8 x 8 features."""
    return 27 * width + width + width * 64 * classes + classes


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture()
def net(tmp_path: Path) -> str:
    path = tmp_path / "net.yaml"
    path.write_text(NET)
    return str(path)


def test_report_follows_the_values_set(net: str):
    plain = json.loads(invoke("report", net, "--format", "json").stdout)
    assert plain["totals"]["params"] == params_of(4, 10) == 2_682
    result = invoke("report", net, "--set", "num_classes=21", "--set", "width=8", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["totals"]["params"] == params_of(8, 21) == 224 + 10_773
    assert data["output_shape"] == [21]


def test_a_value_is_read_as_yaml_so_a_kind_can_be_set(net: str):
    result = invoke("report", net, "--set", "act=tanh", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [layer["type"] for layer in json.loads(result.stdout)["layers"]] == ["conv2d", "tanh", "flatten", "linear"]


def test_check_follows_the_values_set(net: str):
    assert invoke("check", net).exit_code == 0
    # 28 x 8 + 8 x 64 x 10 + 10 = 5,354 parameters, over the budget of 5,000
    result = invoke("check", net, "--set", "width=8")
    assert result.exit_code == 1
    assert "budgets.params" in result.stdout and "5,354" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("plan", "{net}", "--memory", "1MiB", "--reserve", "0", "--format", "json"),
        ("diff", "{net}", "{net}", "--format", "json"),
    ],
)
def test_plan_and_diff_take_it_too(net: str, args):
    args = tuple(a.format(net=net) for a in args)
    plain = invoke(*args)
    wider = invoke(*args, "--set", "width=16")
    assert plain.exit_code == wider.exit_code == 0, wider.output
    assert plain.stdout != wider.stdout


def test_diff_sets_both_sides(net: str, tmp_path: Path):
    other = tmp_path / "other.yaml"
    other.write_text(NET.replace("kernel_size: 3, padding: 1", "kernel_size: 1"))
    result = invoke("diff", net, str(other), "--set", "num_classes=2", "--format", "json")
    assert result.exit_code == 0, result.output
    totals = json.loads(result.stdout)["totals"]["params"]
    # only the convolution differs: 27 x 4 + 4 = 112, then 3 x 4 + 4 = 16
    assert (totals["old"], totals["new"]) == (params_of(4, 2), params_of(4, 2) - 96)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_diff_against_a_revision_sets_the_old_side_too(tmp_path: Path):
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    path = tmp_path / "net.yaml"
    path.write_text(NET)
    git("init", "-q")
    git("config", "user.email", "ci@example.com")
    git("config", "user.name", "CI")
    git("add", "net.yaml")
    git("commit", "-q", "-m", "old")
    result = invoke("diff", str(path), "--against", "HEAD", "--set", "num_classes=3", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["params"]["old"] == params_of(4, 3)


def test_verify_builds_the_network_with_the_values_set(net: str):
    pytest.importorskip("torch")
    args = ("verify", net, "--set", "num_classes=5", "--iterations", "1", "--warmup", "0", "--format", "json")
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["passed"] and data["layers"][-1]["pytorch_shape"] == [1, 5]


def test_a_name_the_spec_does_not_declare_is_a_usage_error_naming_those_it_does(net: str):
    result = invoke("report", net, "--set", "num_class=21")
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"{net}:2:9: error: params: cannot set 'num_class': the spec declares no such parameter "
        "(did you mean 'num_classes'?); it has num_classes, width, act"
    )


def test_each_spec_is_answered_for_itself(net: str):
    result = invoke("report", net, "specs/toy.yaml", "--set", "width=2", "--format", "json")
    assert result.exit_code == 2
    assert "specs/toy.yaml:3:1: error: params: cannot set 'width': the spec declares no `params`" in result.output
    [report] = json.loads(result.stdout)
    assert report["totals"]["params"] == params_of(2, 10)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("width", "write NAME=VALUE (like num_classes=21), got 'width'"),
        ("width=", "width= gives no value"),
        ("9x=1", "a parameter name is letters, digits and _"),
        ("width={a: 1}", "a parameter's value is a number, true or false, a string, or a list of these"),
        ("width=[1,", "VALUE is not YAML"),
    ],
)
@pytest.mark.parametrize("command", ["report", "check", "plan", "verify", "diff"])
def test_bad_syntax_is_a_usage_error_without_a_traceback(net: str, command: str, value: str, message: str):
    args = [command, net, "--set", value]
    if command == "diff":
        args.insert(2, net)
    if command == "plan":
        args += ["--memory", "1GiB"]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--set'" in result.output and message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
