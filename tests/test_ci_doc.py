"""docs/ci.md's GitHub Actions workflow: valid YAML, the shape GitHub reads, and every shell step
valid bash (`bash -n`), with GitHub's `${{ ... }}` expressions put in as a runner would."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DOC = Path(__file__).resolve().parent.parent / "docs" / "ci.md"


def workflow() -> dict:
    (block,) = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    return yaml.safe_load(block)


def test_the_workflow_is_yaml_github_reads():
    flow = workflow()
    assert flow[True]["pull_request"]["paths"] == ["specs/**.yaml"]  # YAML 1.1 reads the key `on` as true
    steps = flow["jobs"]["diff"]["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@") and steps[0]["with"]["fetch-depth"] == 0
    diff = next(step for step in steps if step.get("id") == "diff")
    assert "cnnsize diff" in diff["run"] and "--against" in diff["run"] and "--max-growth" in diff["run"]
    assert flow["permissions"]["pull-requests"] == "write"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_every_shell_step_is_valid_bash():
    runs = [step["run"] for step in workflow()["jobs"]["diff"]["steps"] if "run" in step]
    assert len(runs) == 4
    for script in runs:
        script = re.sub(r"\$\{\{[^}]*\}\}", "x", script)
        done = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
