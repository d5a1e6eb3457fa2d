"""A `Picture` drawn as SVG: each volume a box in three faces (its colour by kind), its size under
it, the kernel window on the volume a convolution or pooling reads with lines to the volume it
makes, skips and joins as arcs above the boxes, and a legend of the kinds.

SVG is written directly, as text: it is a small XML vocabulary, every element here is a rect, a
polygon, a path, a line or a text, and writing it by hand keeps the bytes the same from run to run
(no ids, dates or float noise), so drawings can be committed and a test can tell a stale one. Every
name has its control characters written out and is XML-escaped.
"""

from __future__ import annotations

from math import log2
from xml.sax import saxutils

from cnnsize.listing import escape as escape_controls
from cnnsize.picture import Box, Edge, Picture


def escape(text: str) -> str:
    """Text of a spec as SVG text: control characters written out first (as every format does:
    XML cannot hold most of them, and a terminal showing the file must not obey them), then `<`,
    `&` and `>` as entities."""
    return saxutils.escape(escape_controls(text))


def quoteattr(text: str) -> str:
    """Text of a spec as a quoted attribute value, controls written out first."""
    return saxutils.quoteattr(escape_controls(text))


GAP = 18.0  # between one box's space and the next
MARGIN = 16.0
LABEL = 11.0  # font size of the sizes under the boxes
CHAR = 0.62 * LABEL  # the width of a character of the labels, near enough for spacing
SWATCH = 12.0

# Colours by kind: families share a hue (convolutions blue, norms yellow, activations green,
# pooling red, joins purple, linear orange, reshapes grey); a kind not listed is grey
PALETTE = {
    "input": "#9e9e9e",
    "conv2d": "#4e79a7",
    "conv_transpose2d": "#76b7b2",
    "linear": "#f28e2b",
    "batchnorm2d": "#edc948",
    "batchnorm1d": "#edc948",
    "groupnorm": "#e8b93a",
    "instancenorm2d": "#e2c46a",
    "layernorm2d": "#d4a72c",
    "relu": "#59a14f",
    "relu6": "#59a14f",
    "leaky_relu": "#6db35f",
    "elu": "#6db35f",
    "gelu": "#7fbf6f",
    "silu": "#7fbf6f",
    "sigmoid": "#8cc57f",
    "tanh": "#8cc57f",
    "hardswish": "#7fbf6f",
    "hardsigmoid": "#8cc57f",
    "softmax": "#a0cf8f",
    "maxpool2d": "#e15759",
    "avgpool2d": "#ff9d9a",
    "lppool2d": "#ff9d9a",
    "adaptive_avgpool2d": "#ff9d9a",
    "adaptive_maxpool2d": "#e15759",
    "global_avgpool2d": "#ff9d9a",
    "global_maxpool2d": "#e15759",
    "add": "#b07aa1",
    "mul": "#c594b8",
    "cat": "#9c6b8f",
    "residual": "#b07aa1",
    "concat": "#9c6b8f",
    "sequential": "#8a8ab8",
    "upsample": "#76b7b2",
    "dropout": "#d7d7d7",
    "dropout2d": "#d7d7d7",
}
OTHER = "#bab0ac"


def colour(kind: str) -> str:
    return PALETTE.get(kind, OTHER)


def _n(value: float) -> str:
    """A coordinate: one decimal, no trailing zero (stable bytes)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _width(box: Box) -> float:
    thickness, _, depth = box.sides
    return max(thickness + depth, len(box.label) * CHAR)


def svg(picture: Picture) -> str:
    """The picture as one SVG document."""
    boxes = picture.boxes
    tallest = max(box.sides[1] + box.sides[2] for box in boxes)
    reach = max((edge.target - edge.source for edge in picture.edges if edge.skip), default=0)
    arcs = 12.0 + 10.0 * log2(reach) if reach else 0.0
    middle = MARGIN + arcs + tallest / 2 + 8  # the boxes' front faces are centred on this line

    xs, x = [], MARGIN
    for box in boxes:
        xs.append(x)
        x += _width(box) + GAP
    width = x - GAP + MARGIN
    body: list[str] = []
    for i, box in enumerate(boxes):
        body += _box(box, xs[i], middle)
    for edge in picture.edges:
        body += _edge(picture, edge, xs, middle)
    legend_top = middle + tallest / 2 + LABEL + 24
    legend, height = _legend(picture.kinds(), legend_top, width)
    height = max(height, legend_top) + MARGIN
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(width)}" height="{_n(height)}" '
        f'viewBox="0 0 {_n(width)} {_n(height)}" font-family="sans-serif">'
    )
    title = f"<title>{escape(picture.name)}</title>"
    style = (
        "<style>.size{font-size:11px;text-anchor:middle;fill:#333}"
        ".kind{font-size:11px;fill:#333}.chain{stroke:#999;stroke-width:1;fill:none}"
        ".skip{stroke:#b07aa1;stroke-width:1.5;fill:none}.kernel{stroke:#333;stroke-width:0.6;fill:none}</style>"
    )
    return "\n".join([head, title, style, *body, *legend, "</svg>"]) + "\n"


def _box(box: Box, x: float, middle: float) -> list[str]:
    """The volume's three faces (front, top, side), its size under it, and a tooltip naming it."""
    thickness, height, depth = box.sides
    left = x + (_width(box) - thickness - depth) / 2
    top = middle - height / 2
    fill = colour(box.kind)
    rise = depth * 0.6  # the receding W axis goes up and to the right
    front = f'<rect x="{_n(left)}" y="{_n(top)}" width="{_n(thickness)}" height="{_n(height)}" fill="{fill}"/>'
    roof = [(left, top), (left + depth, top - rise), (left + depth + thickness, top - rise), (left + thickness, top)]
    wall = [
        (left + thickness, top),
        (left + thickness + depth, top - rise),
        (left + thickness + depth, top - rise + height),
        (left + thickness, top + height),
    ]
    name = f"{box.path} ({box.name})" if box.name else box.path
    tip = f"{name}: {box.kind} {list(box.shape)}"
    return [
        f'<g class="box" data-path={quoteattr(box.path)} data-kind={quoteattr(box.kind)} '
        f'data-shape="{",".join(map(str, box.shape))}" stroke="#444" stroke-width="0.5">',
        f"<title>{escape(tip)}</title>",
        front,
        f'<polygon points="{_points(roof)}" fill="{fill}" fill-opacity="0.7"/>',
        f'<polygon points="{_points(wall)}" fill="{fill}" fill-opacity="0.45"/>',
        f'<text class="size" x="{_n(x + _width(box) / 2)}" y="{_n(middle + height / 2 + LABEL + 4)}" '
        f'stroke="none">{escape(box.label)}</text>',
        "</g>",
    ]


def _points(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{_n(px)},{_n(py)}" for px, py in points)


def _edge(picture: Picture, edge: Edge, xs: list[float], middle: float) -> list[str]:
    """The chain as a line (with the kernel's window where the target has one), a skip as an arc
    over the boxes between, higher the further it reaches."""
    source, target = picture.boxes[edge.source], picture.boxes[edge.target]
    if not edge.skip:
        start = xs[edge.source] + _width(source)
        end = xs[edge.target]
        lines = [f'<line class="chain" x1="{_n(start)}" y1="{_n(middle)}" x2="{_n(end)}" y2="{_n(middle)}"/>']
        if target.kernel is not None and len(source.shape) == 3:
            lines += _kernel(source, target, xs[edge.source], end, middle)
        return lines
    start = xs[edge.source] + _width(source) / 2
    end = xs[edge.target] + _width(target) / 2
    lift = 12.0 + 10.0 * log2(edge.target - edge.source)
    top = middle - max(source.sides[1], target.sides[1]) / 2
    peak = middle - max(b.sides[1] for b in picture.boxes[edge.source : edge.target + 1]) / 2 - 2 * lift
    return [
        f'<path class="skip" data-from={quoteattr(source.path)} data-to={quoteattr(target.path)} '
        f'd="M {_n(start)} {_n(top)} C {_n(start)} {_n(peak)} {_n(end)} {_n(peak)} {_n(end)} {_n(top)}"/>'
    ]


def _kernel(source: Box, target: Box, x: float, end: float, middle: float) -> list[str]:
    """The kernel's window on the front face of the volume it reads (scaled as the volume is),
    with lines to the volume it makes."""
    assert target.kernel is not None
    _, h, w = source.shape
    thickness, height, depth = source.sides
    left = x + (_width(source) - thickness - depth) / 2
    size_h = max(3.0, height * min(target.kernel[0], h) / h)
    size_w = max(3.0, thickness * min(target.kernel[1], w) / w)
    top = middle - size_h / 2
    right = left + thickness
    return [
        f'<rect class="kernel" x="{_n(right - size_w)}" y="{_n(top)}" width="{_n(size_w)}" height="{_n(size_h)}"/>',
        f'<line class="kernel" x1="{_n(right)}" y1="{_n(top)}" x2="{_n(end)}" y2="{_n(middle)}"/>',
        f'<line class="kernel" x1="{_n(right)}" y1="{_n(top + size_h)}" x2="{_n(end)}" y2="{_n(middle)}"/>',
    ]


def _legend(kinds: list[str], top: float, width: float) -> tuple[list[str], float]:
    """A swatch and the name of each kind, in rows as wide as the drawing; the bottom it reaches."""
    lines, x, y = ['<g class="legend">'], MARGIN, top
    for kind in kinds:
        item = SWATCH + 6 + len(kind) * CHAR + 16
        if x > MARGIN and x + item > width - MARGIN:
            x, y = MARGIN, y + SWATCH + 8
        lines.append(
            f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(SWATCH)}" height="{_n(SWATCH)}" fill="{colour(kind)}" '
            f'stroke="#444" stroke-width="0.5"/>'
        )
        lines.append(f'<text class="kind" x="{_n(x + SWATCH + 6)}" y="{_n(y + SWATCH - 2)}">{escape(kind)}</text>')
        x += item
    lines.append("</g>")
    return lines, y + SWATCH
