"""Output under hostile input: names and titles from a spec cannot drive the terminal or break a
table; an output that cannot be written is one message and exit 1; several specs with failures
among them follow one rule in every command; numeric options have upper bounds."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from csvtext import csv_dicts, csv_lists
from typer.testing import CliRunner

from cnnsize.cli import app
from cnnsize.listing import Document, Listing, Text, draw, escape, plain_table, write

ROOT = Path(__file__).resolve().parents[1]
TOY = str(ROOT / "specs" / "toy.yaml")

# (YAML double-quoted text, the character it holds): every kind of character a terminal acts on
CONTROLS = [
    ("\\e", "\x1b"),  # ESC: colours, cursor moves, clearing the screen
    ("\\r", "\r"),  # carriage return: overwrites the line
    ("\\a", "\x07"),  # bell
    ("\\b", "\x08"),  # backspace
    ("\\x9b", "\x9b"),  # C1 CSI, ESC [ in one byte
    ("\\x85", "\x85"),  # C1 next line
    ("\\x7f", "\x7f"),  # DEL
    ("\\u202E", "\u202e"),  # right-to-left override
    ("\\u2066", "\u2066"),  # left-to-right isolate
    ("\\u2028", "\u2028"),  # line separator
    ("\\n", "\n"),  # newline
]


def spec_with(name: str, title: str = "net") -> str:
    """A spec (YAML text) whose first layer's name is `name` and whose title is `title`, both written
    as the inside of a YAML double-quoted string (escapes allowed)."""
    return (
        f'name: "{title}"\ninput: [3, 8, 8]\nlayers:\n'
        f'  - {{type: conv2d, out_channels: 4, kernel_size: 3, name: "{name}"}}\n  - relu\n'
    )


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def process(*args: str, stdout: object = subprocess.PIPE, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "cnnsize", *args],
        stdout=stdout,  # type: ignore[arg-type]
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        timeout=120,
    )


def bad_characters(text: str) -> list[str]:
    return [c for _, c in CONTROLS if c in text]


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
@pytest.mark.parametrize("written, char", CONTROLS, ids=[repr(c) for _, c in CONTROLS])
def test_control_characters_in_names_and_titles_are_escaped(tmp_path: Path, fmt: str, written: str, char: str) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text(spec_with(f"a{written}b", title=f"t{written}t"), encoding="utf-8")
    code, out, err = invoke("report", str(path), "-f", fmt)
    assert code == 0, err
    assert char not in out.replace("\n", "") if char == "\n" else char not in out
    assert escape(f"a{char}b") in out and escape(f"t{char}t") in out
    if char == "\n":  # every line of a table is still a row or a rule
        if fmt == "markdown":
            assert all(line.startswith(("|", "##", "<sub>")) for line in out.splitlines() if line)
        if fmt == "csv":
            assert len(csv_lists(out)) == 3  # the header and two layers


@pytest.mark.parametrize("written, char", CONTROLS, ids=[repr(c) for _, c in CONTROLS])
def test_json_keeps_names_exactly_and_stays_valid(tmp_path: Path, written: str, char: str) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text(spec_with(f"a{written}b"), encoding="utf-8")
    code, out, _ = invoke("report", str(path), "-f", "json")
    assert code == 0
    assert json.loads(out)["layers"][0]["name"] == f"a{char}b"  # the data, exactly
    assert not bad_characters(out.replace("\n", ""))  # every control written as \\uXXXX


@pytest.mark.parametrize("name", ["a|b", "a || b", "`a|b`", "x\\ny|z"])
def test_pipes_and_newlines_do_not_break_a_markdown_table(tmp_path: Path, name: str) -> None:
    path = tmp_path / "pipes.yaml"
    path.write_text(spec_with(name, title=name), encoding="utf-8")
    code, out, _ = invoke("report", str(path), "-f", "markdown")
    assert code == 0
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("| Layer"))
    columns = header.count(" | ")
    for line in lines:
        if line.startswith("| `layers[0]"):
            # a row has as many unescaped separators as the header
            assert line.replace("\\|", "").count(" | ") == columns, line


@pytest.mark.parametrize("name", ["[red]x[/red]", "[/]", "[bold", "a[/b]"])
def test_markup_in_a_name_is_text_in_the_table(tmp_path: Path, name: str) -> None:
    path = tmp_path / "markup.yaml"
    path.write_text(spec_with(name, title=name), encoding="utf-8")
    code, out, err = invoke("report", str(path))
    assert code == 0, err
    assert f"layers[0] ({name})" in out and "Traceback" not in err


@pytest.mark.parametrize(
    "text",
    ["plain", "a\x1b[2Jb", "é", "😀 wide", "中文字", "", "x" * 50, "tab\there"],
)
def test_the_plain_table_is_what_rich_draws(text: str) -> None:
    """The fast table drawn line by line is rich's own, character for character."""
    rows = [[text, "12", "x"], ["y", "1,234,567", text], ["", "", ""]]
    document = Document([Listing(("Layer", "Count", "Note"), rows, left=1, depths=[0, 1, 2])])
    out = io.StringIO()
    fast = draw(document, out)
    from rich.console import Console

    console = Console(file=io.StringIO(), width=100_000, no_color=True, highlight=False, soft_wrap=False)
    assert plain_table(["h"], [["c"]], 1, console) is not None  # the fast path is the one drawn
    narrow = Console(file=io.StringIO(), width=10_000, no_color=True, highlight=False, soft_wrap=False)
    from rich.table import Table
    from rich.text import Text as RichText

    table = Table(header_style="bold cyan")
    table.add_column("Layer", overflow="fold")
    for name, justify in (("Count", "right"), ("Note", "right")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row, depth in zip(rows, [0, 1, 2]):
        cells = [escape(c) for c in row]
        cells[0] = "  " * depth + cells[0]
        table.add_row(*(RichText(c) for c in cells))
    with narrow.capture() as capture:
        narrow.print(table)
    assert fast == capture.get()


def test_a_table_too_wide_for_columns_is_left_to_rich() -> None:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=20, no_color=True)
    assert plain_table(["Layer", "Params"], [["x" * 30, "1"]], 1, console) is None


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "csv"])
@pytest.mark.parametrize("command", [["report"], ["plan", "-m", "1GiB"], ["zoo"]])
def test_a_full_disk_is_one_message_and_exit_1(fmt: str, command: list[str]) -> None:
    args = [*command, "-f", fmt] + ([TOY] if command[0] != "zoo" else [])
    with open("/dev/full", "w") as full:
        done = process(*args, stdout=full)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert done.stderr.strip().splitlines() == ["error: cannot write the output: No space left on device"]


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
@pytest.mark.parametrize("name", ["é", "😀", "中"])
def test_an_encoding_without_a_name_is_one_message_and_exit_1_and_nothing_written(
    tmp_path: Path, fmt: str, name: str
) -> None:
    path = tmp_path / "names.yaml"
    path.write_text(spec_with(name), encoding="utf-8")
    done = process("report", str(path), "-f", fmt, PYTHONIOENCODING="ascii")
    assert done.returncode == 1
    assert done.stdout == ""  # drawn whole first: nothing half-written
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "output's encoding (ascii)" in lines[0]


def test_json_holds_any_name_in_ascii(tmp_path: Path) -> None:
    path = tmp_path / "names.yaml"
    path.write_text(spec_with("é😀"), encoding="utf-8")
    done = process("report", str(path), "-f", "json", PYTHONIOENCODING="ascii")
    assert done.returncode == 0 and json.loads(done.stdout)["layers"][0]["name"] == "é😀"


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_rendering_writes_nothing_when_drawing_fails(monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    import cnnsize.listing as listing

    real = listing.escape

    def failing(text: str) -> str:  # every format escapes every cell: fail on the last one
        if text == "the last cell":
            raise RuntimeError("drawing failed")
        return real(text)

    monkeypatch.setattr(listing, "escape", failing)
    out = io.StringIO()
    first = Document([Text("first"), Listing(("h",), [["x"]])], ("h",), [["x"]])
    last = Document([Listing(("h",), [["the last cell"]])], ("h",), [["the last cell"]])
    with pytest.raises(RuntimeError):
        write([first, last], fmt, out)
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    "text",
    ["layers[0]: unknown layer kind '\x1b[2J'", "bad name 'a\u202eb'", "value '\x07\x07'", "x\ry"],
)
def test_error_messages_escape_control_characters(tmp_path: Path, text: str) -> None:
    from cnnsize.commands.several import say

    runner = CliRunner()
    import typer

    probe = typer.Typer()

    @probe.command()
    def speak() -> None:
        say(text)

    result = runner.invoke(probe, [])
    assert result.stderr == escape(text) + "\n"
    assert not bad_characters(result.stderr.rstrip("\n"))


@pytest.mark.parametrize("kind", ["\\e[31mconv", "re\\u202Elu", "x\\ry"])
def test_a_spec_error_quoting_a_name_escapes_it(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f'input: [3, 8, 8]\nlayers:\n  - {{type: "{kind}"}}\n', encoding="utf-8")
    for args in (["report", str(path)], ["check", str(path)], ["plan", "-m", "1GiB", str(path)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1
        assert not bad_characters((result.stdout + result.stderr).replace("\n", ""))
        assert "error:" in result.stdout + result.stderr


# one rule for several specs -----------------------------------------------------------------------

GOOD_A = "name: net-alpha\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3}\n  - relu\n"
GOOD_B = "name: net-beta\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 2, kernel_size: 1}\n"
BAD = "name: net-broken\ninput: [3, 8, 8]\nlayers:\n  - relux\n"

SEVERAL = [
    pytest.param(["report"], id="report"),
    pytest.param(["plan", "-m", "1GiB"], id="plan"),
]


def three_specs(tmp_path: Path, bad_at: int) -> tuple[list[str], str]:
    paths = []
    texts = [GOOD_A, GOOD_B]
    texts.insert(bad_at, BAD)
    for i, text in enumerate(texts):
        path = tmp_path / f"s{i}.yaml"
        path.write_text(text)
        paths.append(str(path))
    return paths, paths[bad_at]


@pytest.mark.parametrize("command", SEVERAL)
@pytest.mark.parametrize("bad_at", [0, 1, 2])
@pytest.mark.parametrize("fmt", ["json", "table", "markdown", "csv"])
def test_several_specs_one_bad_print_the_good_ones_and_the_located_error(
    tmp_path: Path, command: list[str], bad_at: int, fmt: str
) -> None:
    paths, bad = three_specs(tmp_path, bad_at)
    code, out, err = invoke(*command, "-f", fmt, *paths)
    assert code == 1
    assert err.splitlines() == [f"{bad}:4:5: error: layers[0]: unknown layer kind 'relux' (did you mean 'relu'?)"]
    if fmt == "json":
        assert [item["name"] for item in json.loads(out)] == ["net-alpha", "net-beta"]  # always one list, in order
    elif fmt == "csv":
        assert {row["network"] for row in csv_dicts(out)} == {"net-alpha", "net-beta"}
    else:
        assert "net-alpha" in out and "net-beta" in out and "net-broken" not in out


@pytest.mark.parametrize("command", SEVERAL)
def test_several_specs_all_bad_give_an_empty_json_list(tmp_path: Path, command: list[str]) -> None:
    paths = []
    for i in range(2):
        path = tmp_path / f"bad{i}.yaml"
        path.write_text(BAD)
        paths.append(str(path))
    code, out, err = invoke(*command, "-f", "json", *paths)
    assert code == 1 and json.loads(out) == [] and len(err.splitlines()) == 2


@pytest.mark.parametrize("command", SEVERAL)
def test_a_missing_file_among_several_exits_2_after_the_others(tmp_path: Path, command: list[str]) -> None:
    paths, _ = three_specs(tmp_path, 0)
    missing = str(tmp_path / "missing.yaml")
    code, out, err = invoke(*command, "-f", "json", paths[1], missing, paths[2])
    assert code == 2
    assert [item["name"] for item in json.loads(out)] == ["net-alpha", "net-beta"]
    assert err.startswith(f"{missing}")


@pytest.mark.parametrize("command", SEVERAL)
def test_one_spec_keeps_its_one_object(command: list[str]) -> None:
    code, out, _ = invoke(*command, "-f", "json", TOY)
    assert code == 0 and isinstance(json.loads(out), dict)


def test_check_follows_the_rule(tmp_path: Path) -> None:
    paths, bad = three_specs(tmp_path, 1)
    code, out, err = invoke("check", *paths)
    assert code == 1
    assert out.splitlines() == [f"{bad}:4:5: error: layers[0]: unknown layer kind 'relux' (did you mean 'relu'?)"]
    assert "3 specs checked: 1 failed" in err


def test_plan_no_batch_fits_among_several_is_located(tmp_path: Path) -> None:
    paths, _ = three_specs(tmp_path, 2)
    code, out, err = invoke("plan", "-m", "100KiB", "--device", "cpu", "-f", "json", TOY, paths[0])
    assert code == 1
    assert [item["name"] for item in json.loads(out)] == ["net-alpha"]
    assert err.startswith(f"{TOY}: error: cs231n-toy: no batch size fits")


@pytest.mark.slow
def test_verify_follows_the_rule(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    paths, bad = three_specs(tmp_path, 1)
    args = ["verify", "--device", "cpu", "--warmup", "0", "--iterations", "1", "-f", "json", *paths]
    code, out, err = invoke(*args)
    assert code == 1
    assert [item["name"] for item in json.loads(out)] == ["net-alpha", "net-beta"]
    assert f"{bad}:4:5: error:" in err


# upper bounds of numeric options ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, bound",
    [
        (["report", TOY, "--batch-size", "1000000001"], "1,000,000,000"),
        (["report", TOY, "-b", "100000000000000000000"], "1,000,000,000"),
        (["report", TOY, "--depth", "1001"], "1,000"),
        (["verify", TOY, "--iterations", "1000001"], "1,000,000"),
        (["verify", TOY, "--iterations", "100000000000000000000"], "1,000,000"),
        (["verify", TOY, "--warmup", "100000000000000000000"], "1,000,000"),
        (["verify", TOY, "--batch-size", "100000000000000000000"], "1,000,000,000"),
        (["plan", TOY, "-m", "20000000000GiB"], "16 EiB"),
        (["plan", TOY, "-m", str(2**64 + 1)], "16 EiB"),
        (["plan", TOY, "-m", "1" + "0" * 5000], "at most 64 characters"),
    ],
)
def test_numeric_options_have_upper_bounds(args: list[str], bound: str) -> None:
    code, out, err = invoke(*args)
    assert code == 2 and out == ""
    assert bound in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["verify", TOY, "--iterations", "1e20"],
        ["verify", TOY, "--iterations", "1" + "0" * 5000],
        ["report", TOY, "--batch-size", "1" + "0" * 5000],
        ["report", TOY, "--depth", "-1"],
    ],
)
def test_numbers_that_are_no_integers_are_usage_errors(args: list[str]) -> None:
    code, out, err = invoke(*args)
    assert code == 2 and out == "" and "Traceback" not in err


# the cost of output ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [TOY, str(ROOT / "specs" / "small-resnet.yaml"), "resnet18"])
def test_json_is_the_data_with_one_line_a_layer(spec: str) -> None:
    import cnnsize
    from cnnsize.planner import with_memory

    loaded = cnnsize.load(spec)
    data = with_memory(loaded, cnnsize.analyze(loaded)).to_dict()
    code, out, _ = invoke("report", "-f", "json", spec)
    assert code == 0 and json.loads(out) == data
    lines = out.splitlines()
    assert sum(1 for line in lines if line.startswith('    {"path": ')) == len(data["layers"])
    assert '  "input_shape": [' + ", ".join(str(n) for n in data["input_shape"]) + "]," in lines
    code, out, _ = invoke("report", "-f", "json", spec, spec)  # several: a list of whole objects
    assert json.loads(out) == [data, data] and out.startswith("[\n  {\n")


@pytest.mark.parametrize(
    "value", [{}, [], {"a": []}, {"a": {}}, [[1, 2], {"b": None}], {"x": [{"y": [1, {"z": "é\x1b"}]}]}, 1.5, "s"]
)
def test_json_text_is_json(value: object) -> None:
    from cnnsize.render import json_text

    assert json.loads(json_text(value)) == value
    assert json_text(value).isascii()


def test_a_big_table_is_drawn_without_rich_laying_out_each_row(tmp_path: Path) -> None:
    """rich lays out a table at 2 to 3 ms a row; piped, rows are drawn line by line instead."""
    import time

    layers = "".join("  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}\n  - relu\n" for _ in range(1000))
    path = tmp_path / "long.yaml"
    path.write_text(f"input: [4, 8, 8]\nlayers:\n{layers}")
    import cnnsize
    from cnnsize.planner import with_memory
    from cnnsize.render import document

    loaded = cnnsize.load(str(path))
    doc = document(with_memory(loaded, cnnsize.analyze(loaded)))
    start = time.perf_counter()
    text = draw(doc, io.StringIO())
    assert time.perf_counter() - start < 1.0  # rich alone: 4 to 5 s
    assert text.count("│ layers[") == 2000


@pytest.mark.parametrize("no_color", [False, True])
def test_on_a_terminal_the_fast_table_reads_as_rich_draws_it(no_color: bool) -> None:
    import re

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text as RichText

    ansi = re.compile(r"\x1b\[[0-9;]*m")
    header, rows, dim = ["Layer", "Params"], [["a", "1"], ["  b😀", "1,000"]], [True, False]

    def console() -> Console:
        return Console(file=io.StringIO(), width=200, force_terminal=True, color_system="256", no_color=no_color)

    fast = plain_table(header, rows, 1, console(), dim)
    assert fast is not None
    slow = console()
    table = Table(header_style="bold cyan")
    table.add_column("Layer")
    table.add_column("Params", justify="right")
    for row, faint in zip(rows, dim):
        table.add_row(*(RichText(c) for c in row), style="dim" if faint else None)
    with slow.capture() as capture:
        slow.print(table)
    assert ansi.sub("", fast) == ansi.sub("", capture.get())
    assert "\x1b[1m" in fast or "\x1b[1;36m" in fast  # the header is bold
    assert ("\x1b[1;36m" in fast) != no_color  # and cyan unless NO_COLOR
    assert "\x1b[2m a " in fast  # a row that sums others is dim


@pytest.mark.parametrize("name", ["<img src=x onerror=alert(1)>", "<b>bold</b>", "a &lt; b"])
def test_html_in_a_name_is_text_in_markdown(tmp_path: Path, name: str) -> None:
    path = tmp_path / "html.yaml"
    path.write_text(spec_with(name, title=name), encoding="utf-8")
    code, out, _ = invoke("report", str(path), "-f", "markdown")
    assert code == 0
    assert f"`layers[0] ({name})`" in out  # in code, as it is
    assert out.splitlines()[0] == "## " + name.replace("&", "&amp;").replace("<", "&lt;") + f" ({path})"
