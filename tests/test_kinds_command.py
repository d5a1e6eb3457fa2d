"""`cnnsize kinds`: every registered kind, its fields and a line on what it is, read from the kinds'
classes themselves (cnnsize/commands/kinds.py)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cnnsize.cli import app
from cnnsize.kinds import KINDS


def test_every_kind_is_listed_with_its_fields_and_a_description():
    result = CliRunner().invoke(app, ["kinds", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = {entry["kind"]: entry for entry in json.loads(result.stdout)}
    assert set(data) == set(KINDS)
    assert all(entry["description"].endswith(".") for entry in data.values())
    conv = {field["name"]: field for field in data["conv2d"]["fields"]}
    assert conv["kernel_size"]["required"] and conv["stride"] == {"name": "stride", "required": False, "default": 1}
    assert "type" not in conv and "name" not in conv  # common to every kind: said once, under the table


def test_the_table_marks_required_fields_and_defaults():
    result = CliRunner().invoke(app, ["kinds", "--format", "markdown"])
    assert result.exit_code == 0
    conv = next(line for line in result.stdout.splitlines() if line.startswith("| conv2d |"))
    assert "kernel_size*" in conv and "stride=1" in conv and "bias=true" in conv
