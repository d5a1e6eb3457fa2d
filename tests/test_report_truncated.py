"""`report --depth N`: rows N levels deep at most, each summing the rows below it (torchinfo's depth)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnnsize.engine import analyze
from cnnsize.loader import load

REPO = Path(__file__).resolve().parents[1]
FIELDS = ("params", "non_trainable_params", "macs", "activation_bytes")


def cnnsize(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cnnsize", *args], capture_output=True, text=True, env={"PYTHONPATH": str(REPO)}
    )


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_every_depth_keeps_the_totals_in_its_rows(depth):
    report = analyze(load("resnet18")).truncated(depth)
    for field in FIELDS:
        assert sum(getattr(row, field) for row in report.leaves()) == getattr(report.totals, field)
    assert max(level for level, _ in report.walk()) == depth - 1


def test_depth_one_gives_the_top_level_rows_with_their_sums():
    full = analyze(load("resnet18"))
    top = full.truncated(1)
    assert [row.name for row in top.rows] == [row.name for row in full.rows]
    assert all(not row.children for row in top.rows)
    layer1 = next(row for row in top.rows if row.name == "layer1")
    # two basic blocks of two 3x3 convs at 64 channels: 4 * 64*64*3*3 = 147,456 + 4 bn of 2*64 = 512
    assert layer1.params == 4 * 64 * 64 * 3 * 3 + 4 * 2 * 64


def test_no_depth_keeps_every_row():
    report = analyze(load("resnet18"))
    assert report.truncated(None) is report
    with pytest.raises(ValueError):
        report.truncated(0)


def test_the_command_line_reports_at_a_depth():
    result = cnnsize("report", "resnet50", "--depth", "1", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [layer["name"] for layer in data["layers"]] == [
        "conv1", "bn1", None, "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", None, "fc"
    ]  # fmt: skip
    assert sum(layer["params"] for layer in data["layers"]) == data["totals"]["params"] == 25_557_032


def test_a_depth_below_one_is_a_usage_error():
    result = cnnsize("report", "resnet18", "--depth", "0")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
