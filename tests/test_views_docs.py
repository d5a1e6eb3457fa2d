"""docs/views.md's sessions run as printed: each `$ cnnsize ...` line is run, and what follows it is
its exact output, or, where a line holds only `...`, the parts around it in order (the first at
the start, the last at the end)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnsize.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "views.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)
SESSIONS = [
    tuple(chunk.partition("\n")[::2])
    for block in BLOCK.findall(DOC.read_text(encoding="utf-8"))
    for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]
]


def test_the_page_works_both_views_for_the_three_networks() -> None:
    commands = [command for command, _ in SESSIONS]
    for spec in ("specs/small-resnet.yaml", "resnet50", "resnet101"):
        for view in ("sharing", "paths"):
            assert f"cnnsize report {spec} --view {view}" in commands


@pytest.mark.parametrize(("command", "output"), SESSIONS, ids=[c for c, _ in SESSIONS])
def test_sessions_print_what_the_page_shows(command: str, output: str) -> None:
    words = shlex.split(command)
    assert words[0] == "cnnsize"
    result = CliRunner().invoke(app, words[1:])
    assert result.exit_code == 0, result.output
    parts = output.split("...\n")
    if len(parts) == 1:
        assert result.stdout == output
        return
    assert result.stdout.startswith(parts[0]) and result.stdout.endswith(parts[-1])
    at = len(parts[0])
    for part in parts[1:]:
        found = result.stdout.find(part, at)
        assert found >= 0, part
        at = found + len(part)
