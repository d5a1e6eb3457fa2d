"""`cnnsize conv --draw` and `--draw-svg` (cnnsize/conv_figure.py, `Window.taps`): the lecture's
padding-and-stride figure, each window's taps worked by hand."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnsize.calculator import Window
from cnnsize.cli import app
from cnnsize.conv_figure import svg, text

NS = {"svg": "http://www.w3.org/2000/svg"}
DEMO = Window(input=5, kernel=3, stride=2, padding=1)  # CS231n's demo: 5x5 input, pad 1, 3x3, stride 2


@pytest.mark.parametrize(
    ("window", "taps"),
    [
        # output o reads o*s - p + j, j = 0..k-1: -1..1, 1..3, 3..5 (-1 and 5 are padding)
        (DEMO, [[-1, 0, 1], [1, 2, 3], [3, 4, 5]]),
        # dilation 2: taps o, o + 2, o + 4 for o = 0..2 ((7 - 2*2 - 1)/1 + 1 = 3 outputs)
        (Window(input=7, kernel=3, dilation=2), [[0, 2, 4], [1, 3, 5], [2, 4, 6]]),
        # ceil-mode pooling of 5 by 2: ceil((5 - 2)/2) + 1 = 3 windows, the last cut at the input's end
        (Window(operation="pool", input=5, kernel=2, ceil_mode=True), [[0, 1], [2, 3], [4]]),
    ],
)
def test_each_output_reads_the_taps_of_its_window(window: Window, taps: list[list[int]]) -> None:
    assert window.taps() == taps


def test_a_transposed_convolution_has_no_taps() -> None:
    with pytest.raises(ValueError, match="scatters"):
        Window(operation="transposed", input=3, kernel=3).taps()


def test_text_marks_the_cell_no_window_reads() -> None:
    lines = text(Window(input=6, kernel=3, stride=2))  # (6 - 3)/2 = 1.5: the last pixel is left out
    rows = {line[:9].strip(): line[9:] for line in lines[1:-2]}
    assert rows["input"] == "x x x x x x"
    assert rows["out 0"] == "k k k" and rows["out 1"] == "    k k k"
    assert rows["read by"] == "1 1 2 1 1 ."  # pixel 2 twice (both windows), pixel 5 never
    assert "'.': a cell no window reads" in lines[-1]


def test_svg_has_a_panel_per_output_pixel_with_its_window() -> None:
    root = ET.fromstring(svg(DEMO))
    panels = root.findall("svg:g[@class='panel']", NS)
    assert [p.get("data-output") for p in panels] == [f"{r},{c}" for r in range(3) for c in range(3)]
    for panel in panels:
        r, c = map(int, panel.get("data-output", "").split(","))
        cells = {(int(t.get("y", 0)), int(t.get("x", 0))) for t in panel.findall("svg:rect[@class='tap']", NS)}
        ys, xs = sorted({y for y, _ in cells}), sorted({x for _, x in cells})
        # the window of out[r][c] starts at padded row 2r and column 2c (stride 2), 3 cells a side
        assert len(cells) == 9 and (ys[1] - ys[0], len(ys), len(xs)) == (14, 3, 3)
        assert [(y - ys[0]) // 14 for y in ys] == [0, 1, 2]
        origin_y = min(int(t.get("y", 0)) for t in panel.findall("svg:rect", NS))
        origin_x = min(int(t.get("x", 0)) for t in panel.findall("svg:rect", NS))
        assert ((ys[0] - origin_y) // 14, (xs[0] - origin_x) // 14) == (2 * r, 2 * c)
        # the padded input is 7 x 7: every cell a tap, padding or input
        kinds = [t.get("class") for t in panel.findall("svg:rect", NS)]
        assert kinds.count("tap") + kinds.count("pad") + kinds.count("cell") == 7 * 7


def test_the_command_draws_and_refuses_what_it_cannot(tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(
        app, ["conv", "-i", "5", "-k", "3", "-s", "2", "-p", "1", "--draw", "--draw-svg", str(tmp_path / "d.svg")]
    )
    assert done.exit_code == 0, done.output
    assert "out 2" in done.stdout and (tmp_path / "d.svg").read_text(encoding="utf-8") == svg(DEMO)
    huge = runner.invoke(app, ["conv", "-i", "224", "-k", "3", "--draw-svg", str(tmp_path / "x.svg")])
    assert huge.exit_code == 2 and "too many to draw" in huge.output and not (tmp_path / "x.svg").exists()
    transposed = runner.invoke(app, ["conv", "-i", "4", "-k", "3", "--transposed", "--draw"])
    assert transposed.exit_code == 2 and "Traceback" not in transposed.output


def test_the_docs_demo_drawing_is_not_stale() -> None:
    committed = (Path(__file__).resolve().parents[1] / "docs" / "padding-demo.svg").read_text(encoding="utf-8")
    assert committed == svg(DEMO), (
        "cnnsize conv --input 5 --kernel 3 --stride 2 --padding 1 --draw-svg docs/padding-demo.svg"
    )
