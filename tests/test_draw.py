"""`cnnsize draw` (cnnsize/picture.py, cnnsize/render_svg.py): the SVG parsed, its boxes and labels
checked against the report's shapes, its arcs against the graph's skips worked by hand, the same
bytes every time, names escaped; docs/zoo.md's drawings are not stale."""

from __future__ import annotations

import importlib.util
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cnnsize
from cnnsize.cli import app
from cnnsize.picture import picture
from cnnsize.render_svg import svg

ROOT = Path(__file__).resolve().parents[1]
NS = {"svg": "http://www.w3.org/2000/svg"}


def parsed(text: str) -> ET.Element:
    return ET.fromstring(text)


def boxes(root: ET.Element) -> list[ET.Element]:
    return root.findall("svg:g[@class='box']", NS)


def skips(root: ET.Element) -> list[tuple[str, str]]:
    return [(p.get("data-from", ""), p.get("data-to", "")) for p in root.findall("svg:path[@class='skip']", NS)]


def drawing(source: str, depth: int | None = None) -> str:
    return svg(picture(cnnsize.analyze(cnnsize.load(source)), depth))


def test_each_box_is_a_layer_s_output_volume_labelled_hxwxc() -> None:
    report = cnnsize.analyze(cnnsize.load(str(ROOT / "specs" / "toy.yaml")))
    root = parsed(drawing(str(ROOT / "specs" / "toy.yaml")))
    found = [(g.get("data-path"), g.get("data-shape"), g.find("svg:text", NS).text) for g in boxes(root)]  # type: ignore[union-attr]
    expected = [("input", "3,32,32", "32x32x3")] + [
        (f"layers[{i}]", ",".join(map(str, row.output_shape)), label)
        for i, (row, label) in enumerate(
            zip(report.leaves(), ["32x32x12", "32x32x12", "16x16x12", "3072", "10"])  # CS231n's toy net
        )
    ]
    assert found == expected


def test_small_resnet_arcs_are_its_skips() -> None:
    root = parsed(drawing(str(ROOT / "specs" / "small-resnet.yaml")))
    # each identity shortcut: the relu before the block to the block's add; block3's projection:
    # the relu to the shortcut's 1x1 convolution, and the body's last batch norm to the add (the
    # shortcut's batch norm is the box just before the add: a line, not an arc)
    assert skips(root) == [
        ("layers[2]", "layers[3].add"),
        ("layers[4]", "layers[5].add"),
        ("layers[6]", "layers[7].shortcut[0]"),
        ("layers[7].body[4]", "layers[7].add"),
    ]


def test_unet_arcs_are_its_four_skip_connections_nested() -> None:
    root = parsed(drawing(str(ROOT / "specs" / "unet.yaml")))
    arcs = skips(root)
    assert len(arcs) == 4 and all(target.endswith("]") for _, target in arcs)
    order = [g.get("data-path") for g in boxes(root)]
    spans = [(order.index(source), order.index(target)) for source, target in arcs]
    # the U: the first skip leaves last and arrives last, each inside the one before
    outermost = sorted(spans, key=lambda span: span[1] - span[0], reverse=True)
    assert all(a[0] < b[0] and b[1] < a[1] for a, b in zip(outermost, outermost[1:]))


def test_depth_collapses_blocks_into_one_box_each() -> None:
    root = parsed(drawing("resnet18", depth=1))
    # the input, conv1, bn1, relu, maxpool, layer1..layer4, avgpool, flatten, fc: 12 boxes, and
    # no arc (every skip lies inside a block)
    assert len(boxes(root)) == 12 and skips(root) == []
    assert [g.get("data-kind") for g in boxes(root)][5:9] == ["sequential"] * 4


def test_kernel_windows_are_drawn_for_convolutions_and_pooling_after_a_volume() -> None:
    root = parsed(drawing(str(ROOT / "specs" / "toy.yaml")))
    # the conv reads the input, the max pool the relu's volume: two windows, three shapes each
    assert len(root.findall("svg:*[@class='kernel']", NS)) == 2 * 3


def test_the_same_spec_gives_the_same_bytes() -> None:
    first = drawing("mobilenet_v3_large")
    assert first == drawing("mobilenet_v3_large")
    numbers = re.findall(r'(?:x|y|x1|y1|x2|y2|width|height|points|d)="([^"]*)"', first)
    assert numbers and not [n for n in numbers if re.search(r"nan|inf|\d[eE][-+]?\d", n)]  # plain decimals


def test_names_are_escaped_and_the_svg_stays_well_formed(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text(
        'name: "<script>alert(1)</script> & co"\ninput: [3, 8, 8]\nlayers:\n'
        '  - {type: conv2d, out_channels: 4, kernel_size: 3, name: "a\\"b<c>&d"}\n',
        encoding="utf-8",
    )
    text = drawing(str(path))
    root = parsed(text)
    assert root.find("svg:title", NS).text == "<script>alert(1)</script> & co"  # type: ignore[union-attr]
    assert "<script>" not in text
    assert boxes(root)[1].find("svg:title", NS).text.startswith('layers[0] (a"b<c>&d): conv2d')  # type: ignore[union-attr]


def test_the_command_writes_the_file_or_standard_output(tmp_path: Path) -> None:
    out = tmp_path / "toy.svg"
    runner = CliRunner()
    done = runner.invoke(app, ["draw", "specs/toy.yaml", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert out.read_text(encoding="utf-8") == runner.invoke(app, ["draw", "specs/toy.yaml"]).stdout
    assert runner.invoke(app, ["draw", "specs/toy.yaml", "--depth", "0"]).exit_code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 9}\n", encoding="utf-8")
    failed = runner.invoke(app, ["draw", str(bad)])
    assert failed.exit_code == 1 and f"{bad}:3:5" in failed.output and "Traceback" not in failed.output


def test_the_zoo_drawings_in_the_docs_are_not_stale() -> None:
    spec = importlib.util.spec_from_file_location("draw_zoo", ROOT / "docs" / "draw_zoo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stale = [
        path
        for path, text in module.documents().items()
        if not (ROOT / "docs" / path).exists() or (ROOT / "docs" / path).read_text(encoding="utf-8") != text
    ]
    assert not stale, f"run `python docs/draw_zoo.py`: stale {', '.join(stale)}"


@pytest.mark.parametrize("name", ["resnet152", "densenet121", "googlenet"])
def test_every_box_of_a_large_network_matches_its_row(name: str) -> None:
    report = cnnsize.analyze(cnnsize.load(name))
    shapes = [g.get("data-shape") for g in boxes(parsed(drawing(name)))]
    assert shapes[1:] == [",".join(map(str, row.output_shape)) for row in report.leaves()]


def test_the_readme_drawing_is_not_stale() -> None:
    committed = (ROOT / "docs" / "small-resnet.svg").read_text(encoding="utf-8")
    assert committed == drawing(str(ROOT / "specs" / "small-resnet.yaml")), "cnnsize draw specs/small-resnet.yaml"


def test_draw_takes_set_and_input_as_report_does() -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["draw", "resnet18", "--set", "num_classes=21", "--input", "3,64,64"])
    assert done.exit_code == 0, done.output
    shapes = [g.get("data-shape") for g in boxes(parsed(done.stdout))]
    assert shapes[0] == "3,64,64" and shapes[-1] == "21"  # the new input, the new head
    assert runner.invoke(app, ["draw", "resnet18", "--set", "nope=1"]).exit_code == 2


def test_control_characters_are_written_out_so_the_svg_stays_xml() -> None:
    spec = 'name: "t\\x1b[2Jt"\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3, name: "a\\x01b"}\n'
    text = svg(picture(cnnsize.analyze(cnnsize.load(spec))))
    root = parsed(text)  # XML 1.0 cannot hold \x01 or ESC: written out, it parses
    assert root.find("svg:title", NS).text == "t\\x1b[2Jt"  # type: ignore[union-attr]
    assert not [c for c in text if ord(c) < 32 and c != "\n"]


@pytest.mark.parametrize("command", ["report", "draw"])
def test_output_never_replaces_the_spec_it_reads(tmp_path: Path, command: str) -> None:
    spec = tmp_path / "net.yaml"
    text = (ROOT / "specs" / "toy.yaml").read_text(encoding="utf-8")
    spec.write_text(text, encoding="utf-8")
    done = CliRunner().invoke(app, [command, str(spec), "-o", str(tmp_path / "." / "net.yaml")])
    assert done.exit_code == 2 and "would replace it" in done.output
    assert spec.read_text(encoding="utf-8") == text
