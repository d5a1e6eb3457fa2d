"""`--input C,H,W` on report, plan, verify and diff: the spec read again with another input, every
figure following it, problems still located in the spec (cnnsize/loader.py `with_input`)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import cnnsize
from cnnsize.cli import app
from cnnsize.errors import UsageError
from cnnsize.loader import with_input

TOY = "specs/toy.yaml"  # conv 12 filters 3x3 same -> relu -> maxpool 2 -> flatten -> linear 10


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_report_follows_the_new_input():
    result = invoke("report", TOY, "--input", "3,16,16", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["input_shape"] == [3, 16, 16]
    # conv: 12 x 16 x 16 outputs x 27 MACs = 82,944; linear: 12 x 8 x 8 = 768 features x 10 = 7,680
    assert data["totals"]["macs"] == 82_944 + 7_680
    # conv 12 x 27 + 12 = 336; linear 768 x 10 + 10 = 7,690
    assert data["totals"]["params"] == 336 + 7_690


def test_a_zoo_model_with_blocks_takes_a_new_input():
    spec = cnnsize.load("resnet50")
    bigger = with_input(spec, (3, 448, 448))
    assert bigger.input == (3, 448, 448) and spec.input == (3, 224, 224)
    # every convolution's output is 2 x 2 as large; the classifier is the same: the convolutions'
    # MACs four times over, the linear layer's (2048 x 1000) once
    linear = 2048 * 1000
    assert cnnsize.analyze(bigger).totals.macs - linear == 4 * (cnnsize.analyze(spec).totals.macs - linear)


def test_a_problem_the_new_input_makes_is_located_in_the_spec():
    result = invoke("report", TOY, "--input", "3,1,1")
    assert result.exit_code == 1
    assert "specs/toy.yaml:8:36: error: layers[2].kernel_size: maxpool2d: the window does not fit" in result.output


@pytest.mark.parametrize("value", ["3,x", "3,0,8", "1,2,3,4", "", "9" * 30])
def test_a_bad_input_is_a_usage_error(value):
    result = invoke("report", TOY, "--input", value)
    assert result.exit_code == 2 and "--input" in result.output


def test_a_spec_with_several_inputs_refuses_one_input():
    spec = cnnsize.load("input: [1]\nlayers: [relu]\n")
    several = cnnsize.load("inputs: {a: [3, 8, 8], b: [3, 8, 8]}\nlayers: [{type: add, from: [a, b]}]\n")
    assert with_input(spec, (4,)).input == (4,)
    with pytest.raises(UsageError, match="several"):
        with_input(several, (3, 8, 8))


@pytest.mark.parametrize(
    "args",
    [
        ("plan", TOY, "--memory", "1GiB", "--format", "json"),
        ("diff", TOY, TOY, "--format", "json"),
    ],
)
def test_plan_and_diff_take_it_too(args):
    plain = invoke(*args)
    wider = invoke(*args, "--input", "3,64,64")
    assert plain.exit_code == wider.exit_code == 0, wider.output
    assert plain.stdout != wider.stdout


def test_verify_builds_the_network_at_the_new_input():
    pytest.importorskip("torch")
    result = invoke("verify", TOY, "--input", "3,16,16", "--iterations", "1", "--warmup", "0", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["passed"] and data["layers"][0]["pytorch_shape"] == [1, 12, 16, 16]
