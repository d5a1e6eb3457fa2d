"""`report --format html` (cnnsize/render_html.py): one self-contained page, checked as text and in
a real headless browser (Debian's chromium, which .ci/run installs): it loads with no script error,
its charts are drawn, its table sorts, nothing is fetched."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cnnsize
from cnnsize.cli import app
from cnnsize.planner import with_memory
from cnnsize.render_html import html, timeline

ROOT = Path(__file__).resolve().parents[1]
SMALL = str(ROOT / "specs" / "small-resnet.yaml")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")


def report(source: str = SMALL) -> cnnsize.Report:
    spec = cnnsize.load(source)
    return with_memory(spec, cnnsize.analyze(spec))


def page(tmp_path: Path, source: str = SMALL, extra: str = "") -> Path:
    path = tmp_path / "report.html"
    path.write_text(html(report(source)).replace("</body>", extra + "</body>"), encoding="utf-8")
    return path


def test_the_page_is_self_contained() -> None:
    text = html(report())
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    # no script, style, image or link from anywhere: every src and href is absent
    assert not re.findall(r"\b(?:src|href)\s*=", text, flags=re.IGNORECASE)
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in text


def test_a_training_step_rises_to_the_footprint_and_falls_back() -> None:
    r = report()
    assert r.memory is not None and r.memory.training is not None
    leaves = list(r.leaves())
    points = timeline(r, leaves)
    # the start, each forward, then the step's moments after the forward's end
    assert points is not None and len(points) == 1 + len(leaves) + len(r.memory.step) - 1
    live = [b for _, b in points]
    saved = [r.memory.saved_at(row.path) for row in leaves]
    # in forward, the saved tensors join what is held throughout, up to the forward's end; then
    # backward's moments and the optimizer's step, the highest of all being the footprint
    assert live[len(leaves)] == r.memory.step[0][1] and r.memory.step[0][0] == "end of the forward pass"
    assert live[len(leaves)] - live[0] == sum(saved)
    assert max(live) == r.memory.training.total_bytes
    assert points[-1][0] == "optimizer step"
    assert live[1] - live[0] == saved[0]


def test_names_are_escaped() -> None:
    spec = cnnsize.load(
        'name: "<img src=x onerror=alert(1)>"\ninput: [3, 8, 8]\nlayers:\n'
        '  - {type: conv2d, out_channels: 4, kernel_size: 3, name: "<b>&"}\n'
    )
    text = html(with_memory(spec, cnnsize.analyze(spec)))
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text and "&lt;b&gt;&amp;" in text


def test_the_command_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    done = CliRunner().invoke(app, ["report", SMALL, "--format", "html", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>") and done.stdout == ""


def _browse(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@needs_browser
def test_the_page_loads_without_error_and_draws_its_charts(tmp_path: Path) -> None:
    dom = _browse("--dump-dom", page(tmp_path).as_uri()).stdout
    assert 'data-ready="yes"' in dom and "data-errors" not in dom  # the script ran to its end, no error
    assert dom.count('class="chart"') == 6  # params, MACs, activations, the step over time, footprint, rf
    bars = re.findall(r'<rect class="bar"[^>]*height="([\d.]+)"', dom)
    assert len(bars) == 3 * len(list(report().leaves())) and max(map(float, bars)) > 0
    assert 'class="peak"' in dom and dom.count('class="box"') == len(report().inputs) + len(list(report().leaves()))


def _rows_after_clicking(tmp_path: Path, heading: str, clicks: int) -> tuple[list[str], str]:
    """The layer column, top to bottom, after a reader clicks `heading` `clicks` times; and the DOM."""
    script = (
        "<script>var th = Array.prototype.find.call(document.querySelectorAll('th'), "
        f"function (h) {{ return h.textContent === '{heading}'; }});"
        + " th.click();"
        * clicks
        + "document.body.dataset.order = Array.prototype.map.call("
        "document.querySelectorAll('table.sortable tbody tr td:first-child'), "
        "function (td) { return td.textContent.trim(); }).join('|');</script>"
    )
    dom = _browse("--dump-dom", page(tmp_path, extra=script).as_uri()).stdout
    order = re.search(r'data-order="([^"]*)"', dom)
    assert order is not None, dom[-2000:]
    return order.group(1).split("|"), dom


@needs_browser
def test_clicking_a_heading_sorts_the_layers(tmp_path: Path) -> None:
    names, dom = _rows_after_clicking(tmp_path, "Params", 2)  # twice: the largest first
    biggest = max(report().walk(), key=lambda pair: pair[1].params)[1]
    assert names[0].startswith(cnnsize.errors.format_path(biggest.path))
    assert 'data-sorted-by="Params"' in dom and "data-errors" not in dom


@needs_browser
def test_the_screenshot_is_not_blank(tmp_path: Path) -> None:
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    shots = []
    for source in (page(tmp_path), blank):
        shot = tmp_path / f"{source.stem}.png"
        _browse("--window-size=1100,1600", f"--screenshot={shot}", source.as_uri())
        shots.append(shot.stat().st_size)
    # a white page compresses to a few KiB; the drawing, tables and charts do not
    assert shots[0] > 10 * shots[1], shots


def test_several_specs_give_each_its_whole_part_of_one_page() -> None:
    done = CliRunner().invoke(app, ["report", SMALL, str(ROOT / "specs" / "toy.yaml"), "--format", "html"])
    assert done.exit_code == 0, done.output
    page_text = done.stdout
    assert page_text.count("<!DOCTYPE html>") == 1 and page_text.count('class="chart"') == 2 * 6
    assert "<title>small-resnet, cs231n-toy</title>" in page_text and page_text.count('<div class="drawing">') == 2


def test_control_characters_are_written_out_not_sent_to_a_terminal() -> None:
    spec = cnnsize.load(
        'name: "t\\x1b[2Jt\\u202e"\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3, name: "a\\x01b"}\n'
    )
    text = html(with_memory(spec, cnnsize.analyze(spec)))
    assert not [c for c in text if (ord(c) < 32 and c not in "\n\t") or c == "\u202e"]
    assert "t\\x1b[2Jt\\u202e" in text and "a\\x01b" in text


@needs_browser
def test_text_columns_sort_numbers_within_them_by_value(tmp_path: Path) -> None:
    names, _ = _rows_after_clicking(tmp_path, "Layer", 1)  # layers[2] before layers[10], as a person reads
    assert names.index("layers[2]") < names.index("layers[10]")
