"""`cnnsize verify` on the command line: output, exit codes, and torch kept out of other commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cnnsize.cli import app
from cnnsize.kinds import KINDS

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--iterations", "2", "--warmup", "1", "--device", "cpu"]


def invoke(*args: str):
    return CliRunner().invoke(app, ["verify", *args])


def run_module(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "cnnsize", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_table_output_passes():
    result = invoke("specs/small-resnet.yaml", *FAST)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "layers[3].add" in out and "layers.block1" in out and "[1, 16, 32, 32]" in out
    assert "images/s" in out and "Saved for backward" in out
    assert "PASSED: all 29 output shapes and 3 totals match." in out


def test_json_output_is_the_verification():
    result = invoke("specs/toy.yaml", *FAST, "--batch-size", "3", "--format", "json", "--mode", "training")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["passed"] is True and data["failures"] == []
    assert data["batch_size"] == 3 and data["mode"] == "training"
    # toy: conv 3*12*9 + 12 = 336, linear 12*16*16*10 + 10 = 30730 -> 31066 trainable params
    assert data["totals"]["params"] == {"engine": 31066, "pytorch": 31066, "match": True}
    assert data["layers"][0]["pytorch_shape"] == [3, 12, 32, 32]
    assert data["throughput"]["iterations"] == 2


def test_a_difference_fails_with_a_clear_diff(monkeypatch):
    monkeypatch.setattr(KINDS["linear"], "macs", lambda self, inp, out: 1)  # an engine bug, on purpose
    result = invoke("specs/toy.yaml", *FAST)
    assert result.exit_code == 1
    # the real linear: 3072 inputs * 10 outputs = 30720 MACs = 61440 FLOPs; the broken engine says 1 MAC
    assert "layers[4] [linear, module layers.4]: FLOPs: engine 2, PyTorch 61,440 (+61,438)" in result.stdout
    assert "FAILED" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--device", "tpu"], "'tpu' is not one of"),
        (["--batch-size", "0"], "Invalid value for '--batch-size'"),
        (["--iterations", "0"], "Invalid value for '--iterations'"),
        (["--dtype", "int8"], "'int8' is not one of"),
        (["--mode", "eval"], "'eval' is not one of"),
    ],
)
def test_bad_options_exit_2(args, message):
    result = invoke("specs/toy.yaml", *args)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_asked_for_but_absent_exits_2():
    result = invoke("specs/toy.yaml", "--device", "cuda")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --device cuda: no CUDA device is available")


def test_a_spec_the_engine_rejects_is_reported_at_its_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [3, 4, 4]\nlayers:\n  - {type: conv2d, out_channels: 2, kernel_size: 7}\n")
    result = invoke(str(bad), *FAST)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{bad}:3:50: error: layers[0].kernel_size: conv2d: the kernel does not fit")
    assert result.stdout == ""


def test_a_missing_spec_exits_2():
    result = invoke("specs/no-such-spec.yaml", *FAST)
    assert result.exit_code == 2 and "no-such-spec.yaml" in result.stderr


def test_without_torch_one_line_says_how_to_install(tmp_path):
    fake = tmp_path / "torch"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'torch'\")\n")
    result = run_module("verify", "specs/toy.yaml", env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "pip install 'cnnsize[torch]'" in result.stderr
