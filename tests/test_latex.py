"""`--format latex` (cnnsize/latex.py): booktabs tables with the stamp in the caption, every special
character escaped; compiled by pdflatex where it is installed (.ci/run installs it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from latexdoc import compiles, needs_pdflatex
from typer.testing import CliRunner

import cnnsize
from cnnsize.cli import app
from cnnsize.latex import tex

EVIL = r"a_b & 50% #1 {x} ~^\ [y] $z$ <w>|"
SPEC = f"""
name: 'net {EVIL}'
input: [3, 8, 8]
layers:
  - {{type: conv2d, out_channels: 4, kernel_size: 3, name: '{EVIL}'}}
  - relu
"""


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_each_special_character_becomes_the_command_that_prints_it() -> None:
    assert tex(EVIL) == (
        r"a\_b \& 50\% \#1 \{x\} \textasciitilde{}\textasciicircum{}\textbackslash{} {[}y{]} \$z\$ "
        r"\textless{}w\textgreater{}\textbar{}"
    )
    assert tex("a\x1bb") == r"a\textbackslash{}x1bb"  # a control character, written out first


def test_a_report_is_a_booktabs_table_with_the_stamp_in_its_caption(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(SPEC, encoding="utf-8")
    out = invoke("report", str(path), "--format", "latex")
    caption = re.search(r"\\caption\{(.*)\} \\\\\n", out)
    assert caption is not None
    assert caption.group(1).startswith(f"net {tex(EVIL)}")
    assert f"cnnsize {cnnsize.__version__}, input 3x8x8, batch 1, float32" in caption.group(1)
    assert out.count("\\begin{longtable}") == out.count("\\bottomrule") == 3  # the layers, totals, memory
    assert "|" not in re.findall(r"\\begin\{longtable\}\{(\w+)\}", out)[0]  # no vertical rules
    # every row has as many cells as the header: count the & that are not escaped
    first = out.split("\\end{longtable}")[0]
    header = first.split("\\toprule\n")[1].splitlines()[0]
    layers = first.split("\\endhead\n")[1].split("\\bottomrule")[0].strip().splitlines()
    cells = len(re.findall(r"(?<!\\)&", header))
    assert [len(re.findall(r"(?<!\\)&", row)) for row in layers] == [cells, cells]
    assert layers[0].startswith(f"layers{tex('[0]')} ({tex(EVIL)}) & conv2d")


@needs_pdflatex
@pytest.mark.parametrize(
    "args",
    [
        ("report", "{evil}"),
        ("report", "resnet18", "--depth", "2", "--convention", "fvcore"),
        ("plan", "resnet18", "--memory", "8GiB"),
        ("diff", "resnet18", "resnet34"),
        ("kinds",),
    ],
    ids=["hostile-names", "report", "plan", "diff", "kinds"],
)
def test_pdflatex_compiles_every_command_s_latex(tmp_path: Path, args: tuple[str, ...]) -> None:
    evil = tmp_path / "net.yaml"
    evil.write_text(SPEC, encoding="utf-8")
    body = invoke(*(a.format(evil=evil) for a in args), "--format", "latex")
    done = compiles(body, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]


def test_what_pdflatex_cannot_print_is_written_out() -> None:
    # a zero-width space, a CJK character and an emoji stop pdflatex's default fonts: written out
    # as their code points; Latin-1 letters print; `--` stays two hyphens, quotes stay straight
    assert tex("a\u200bb") == r"a\textbackslash{}u200bb"
    assert tex("层🙂") == r"\textbackslash{}u5c42\textbackslash{}U0001f642"
    assert tex("café--x") == "café-{}-{}x"
    assert tex("it's `x`") == r"it\textquotesingle{}s \textasciigrave{}x\textasciigrave{}"


@needs_pdflatex
def test_a_network_longer_than_a_page_breaks_across_pages(tmp_path: Path) -> None:
    spec = tmp_path / "odd.yaml"
    spec.write_text(
        "name: 'net \u200b层🙂 --x'\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3}\n"
    )
    for source in ("resnet152", str(spec)):
        done = compiles(invoke("report", source, "--format", "latex"), tmp_path)
        assert done.returncode == 0, done.stdout[-3000:]
        log = (tmp_path / "paper.log").read_text(encoding="utf-8", errors="replace")
        assert "Float too large" not in log  # a float of 600 rows would run off its page
