"""`cnnsize report` and `cnnsize check` never import torch: pre-commit hooks live by start-up time."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Runs the CLI in a fresh interpreter where importing torch raises, then lists heavy modules loaded.
PROBE = """
import sys, runpy
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch imported on a torch-free path: " + name)
sys.meta_path.insert(0, Refuse())
sys.argv = ["cnnsize"] + sys.argv[1:]
try:
    runpy.run_module("cnnsize", run_name="__main__")
except SystemExit as exit:
    code = exit.code or 0
print("LOADED", sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "numpy")), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["report", "specs/toy.yaml"],
        ["report", "specs/small-resnet.yaml", "--format", "json"],
        ["check", "specs/toy.yaml", "specs/small-resnet.yaml"],
        ["report", "resnet50", "--depth", "2"],
        ["report", "resnet50", "--view", "paths"],
        ["report", "specs/small-resnet.yaml", "--view", "sharing", "--format", "json"],
        ["report", "resnet50", "--format", "html", "--convention", "fvcore"],
        ["report", "resnet50", "--format", "latex"],
        ["draw", "resnet50"],
        ["conv", "--input", "5", "--kernel", "3", "--padding", "1", "--draw"],
        ["plan", "resnet50", "--memory", "24GiB", "--optimizer", "adam", "--amp", "bf16"],
        ["plan", "resnet18", "--memory", "8GiB", "--checkpoint", "auto", "--batch-size", "500", "--format", "csv"],
        ["plan", "specs/small-resnet.yaml", "--memory", "64MiB", "--solve", "resolution", "-b", "8", "--reserve", "0"],
        ["zoo"],
        ["schema"],
        ["conv", "--input", "32", "--kernel", "5", "--solve", "padding", "--output", "32"],
    ],
)
def test_command_never_imports_torch(args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stderr


def test_importing_the_package_does_not_import_torch_or_rich():
    code = "import cnnsize, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'rich')))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
