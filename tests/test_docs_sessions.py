"""The command sessions in docs/*.md run as printed: each `$ cnnsize ...` line is run, and what
follows it (up to the next `$` line or the end of the block) is its exact output."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnsize.cli import app

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def sessions(path: Path) -> list[tuple[str, str]]:
    """(command, expected output) for each `$ cnnsize` line whose output the block shows."""
    found = []
    for block in BLOCK.findall(path.read_text()):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = chunk.partition("\n")
            if output:  # commands shown without output (installing completion) are not run
                found.append((command, output))
    return found


CALCULATOR = sessions(ROOT / "docs" / "calculator.md")


def test_the_calculator_page_has_sessions() -> None:
    assert len(CALCULATOR) >= 8


@pytest.mark.parametrize(("command", "output"), CALCULATOR, ids=[c for c, _ in CALCULATOR])
def test_calculator_sessions_print_what_the_docs_show(command: str, output: str) -> None:
    words = shlex.split(command)
    assert words[0] == "cnnsize"
    result = CliRunner().invoke(app, words[1:])
    assert result.stdout == output
    assert result.exit_code == (1 if output.startswith("no ") else 0)
