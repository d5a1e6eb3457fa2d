"""Output that behaves: every reporting command speaks table, JSON, Markdown and CSV; text is plain
when piped and colourless under NO_COLOR; `check --quiet` prints problems only; typer's shell
completion works under the name `cnnsize`; and no command that reads specs imports torch."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from csvtext import csv_dicts
from typer.testing import CliRunner

import cnnsize
from cnnsize.cli import app
from cnnsize.planner import with_memory

ROOT = Path(__file__).resolve().parents[1]
TOY = str(ROOT / "specs" / "toy.yaml")
RESNET = str(ROOT / "specs" / "small-resnet.yaml")
FORMATS = ["table", "json", "markdown", "csv"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|9[0-7]|38;[0-9;]+)m")  # a foreground colour, not bold/dim


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def cnnsize_process(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "cnnsize", *args], capture_output=True, text=True, env=full_env, timeout=60
    )


def on_a_terminal(*args: str, **env: str) -> str:
    """What `cnnsize args` writes to a pseudo-terminal (a TTY, as a user's shell gives it)."""
    controller, terminal = pty.openpty()
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLUMNS": "160", **env}
    process = subprocess.Popen([sys.executable, "-m", "cnnsize", *args], stdout=terminal, stderr=terminal, env=full_env)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(controller)
    return b"".join(chunks).decode()


def _reporting_commands() -> list[str]:
    """Commands that print a report: those taking a batch size."""
    group = typer.main.get_command(app)
    return [name for name, command in group.commands.items() if any("--batch-size" in p.opts for p in command.params)]


def test_every_reporting_command_offers_every_format() -> None:
    commands = _reporting_commands()
    assert "report" in commands
    for name in commands:
        specs = (TOY, TOY) if name == "diff" else (TOY,)  # diff compares two
        if name == "plan":  # plan's --batch-size is the batch to fit; it needs --memory
            specs = (*specs, "--memory", "1GiB")
        for fmt in FORMATS:
            code, out, err = invoke(name, "--format", fmt, *specs)
            assert code == 0 and out.strip(), (name, fmt, err)
            assert not ANSI.search(out)
        data = json.loads(invoke(name, "--format", "json", *specs)[1])
        assert (data["new"] if name == "diff" else data)["name"] == "cs231n-toy"
        code, _, err = invoke(name, "--format", "xml", *specs)
        assert code == 2 and "xml" in err


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_is_plain_text_that_parses(fmt: str) -> None:
    code, out, _ = invoke("report", "--format", fmt, RESNET)
    assert code == 0
    assert not ANSI.search(out)
    spec = cnnsize.load(RESNET)
    report = with_memory(spec, cnnsize.analyze(spec))  # the report command's memory section included
    leaves = list(report.leaves())
    if fmt == "json":
        assert json.loads(out) == json.loads(json.dumps(report.to_dict()))
    elif fmt == "csv":
        rows = csv_dicts(out)
        assert [row["path"] for row in rows] == [row["path"] for row in report.to_dict()["layers"]]
        assert sum(int(row["params"]) for row in rows) == report.totals.params
        assert sum(int(row["macs"]) for row in rows) == report.totals.macs
        assert sum(int(row["saved_bytes"]) for row in rows) == report.memory.saved_bytes
    elif fmt == "markdown":
        lines = out.splitlines()
        assert lines[0].startswith("## small-resnet")
        assert lines[2].startswith("| Layer | Type | Output shape |") and lines[3].startswith("|---|")
        assert sum(1 for line in lines if line.startswith("| ")) >= len(leaves)
        assert f"| Trainable params | {report.totals.params:,} " in out
    else:
        assert "small-resnet" in out and f"{report.totals.params:,}" in out
        assert "block3.add" not in out and "layers[3].body[0]" in out


def test_json_of_several_specs_is_a_list() -> None:
    code, out, _ = invoke("report", "-f", "json", TOY, RESNET)
    assert code == 0
    assert [r["name"] for r in json.loads(out)] == ["cs231n-toy", "small-resnet"]


def test_csv_of_several_specs_names_each_network() -> None:
    code, out, _ = invoke("report", "-f", "csv", TOY, RESNET)
    rows = csv_dicts(out)
    assert {row["network"] for row in rows} == {"cs231n-toy", "small-resnet"}


def test_piped_output_has_no_escape_codes_even_when_colour_is_forced() -> None:
    done = cnnsize_process("report", TOY, FORCE_COLOR="1")
    assert done.returncode == 0
    assert "cs231n-toy" in done.stdout
    assert "\x1b" not in done.stdout


def test_a_terminal_gets_colour_and_no_color_removes_it() -> None:
    coloured = on_a_terminal("report", TOY)
    assert "Trainable params" in coloured
    assert COLOUR.search(coloured), "the table on a terminal has colour"
    plain = on_a_terminal("report", TOY, NO_COLOR="1")
    assert "Trainable params" in plain
    assert not COLOUR.search(plain)
    # no-color.org: only a non-empty NO_COLOR counts
    assert COLOUR.search(on_a_terminal("report", TOY, NO_COLOR=""))


def test_check_quiet_prints_problems_only(tmp_path: Path) -> None:
    code, out, err = invoke("check", "--quiet", TOY, RESNET)
    assert (code, out, err) == (0, "", "")
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 30}\n")
    code, out, err = invoke("check", "-q", TOY, str(bad))
    assert code == 1
    assert out.splitlines() == [line for line in out.splitlines() if line.startswith(f"{bad}:3:50: error: ")]
    assert len(out.splitlines()) == 1 and err == ""


def test_check_without_quiet_adds_a_summary() -> None:
    code, out, err = invoke("check", TOY, RESNET)
    assert code == 0
    assert (out + err).strip() == "2 specs checked: all passed"


def test_help_offers_completion() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    assert "--install-completion" in out and "--show-completion" in out


def test_completion_script_uses_the_name_cnnsize() -> None:
    # typer's --show-completion takes no value: it names the shell it finds among the process's
    # ancestors, so run it from bash (a test runner under `timeout` or setsid may have none)
    done = subprocess.run(
        ["bash", "-c", '"$0" -m cnnsize --show-completion; exit $?', sys.executable],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == 0
    assert "_CNNSIZE_COMPLETE=complete_bash" in done.stdout
    assert "complete -o default -F _cnnsize_completion cnnsize" in done.stdout


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("cnnsize rep", ["report"]),
        ("cnnsize ", ["report", "check", "conv", "schema"]),
        ("cnnsize report --format ", FORMATS),
        ("cnnsize conv --solve ", ["padding", "stride", "kernel"]),
    ],
)
def test_bash_completion_completes(words: str, expected: list[str]) -> None:
    cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
    done = cnnsize_process(_CNNSIZE_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=cword)
    assert done.returncode == 0
    offered = done.stdout.split()
    assert set(expected) <= set(offered), offered
