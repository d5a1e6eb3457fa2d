"""The lecture's picture of a network, as data: each layer's output volume (a box whose sides
follow C, H and W), the network's inputs first, in execution order; the edges between boxes (the
chain from one box to the next, and every skip, join and branch that reaches further); and, for
convolutions and pooling, the kernel window on the volume it reads. `render_svg` draws it.

With a depth (as `report --depth`), a composite at the last level is one box (its output volume)
and every edge reaching into it or out of it is the composite's.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import log2
from typing import Optional

from cnnsize.errors import SpecPath, format_path
from cnnsize.report import Report
from cnnsize.shapes import Shape

# Box sides in pixels: log-scaled so that 3 and 2048 channels, 7 and 224 pixels all fit, and capped
# so that ResNet-152 fits on a page
HEIGHT = (8.0, 12.0, 96.0)  # (least, per doubling, most) for H (a flat vector's features)
DEPTH = (4.0, 6.0, 56.0)  # W, drawn receding
THICKNESS = (2.0, 4.0, 44.0)  # C, drawn across


def side(size: int, scale: tuple[float, float, float]) -> float:
    """`least + per * log2(size)`, at most `most`, to one decimal (so the drawing's bytes are stable)."""
    least, per, most = scale
    return round(min(most, least + per * log2(max(size, 1))), 1)


@dataclass(frozen=True)
class Box:
    """One volume: the layer (or input, or collapsed composite) that makes it."""

    path: str  # as in the spec (`layers[3].body[0]`), or the input's name
    name: Optional[str]
    kind: str  # the layer kind, `input` for an input of the network
    shape: Shape  # for one sample: (C, H, W), (C, L) or (F,)
    kernel: Optional[tuple[int, int]] = None  # the window it slides over its input, when it has one

    @property
    def label(self) -> str:
        """The lecture's `32x32x12` (H x W x C); a flat vector's `4096`."""
        if len(self.shape) == 3:
            c, h, w = self.shape
            return f"{h}x{w}x{c}"
        return "x".join(str(v) for v in reversed(self.shape))

    @property
    def sides(self) -> tuple[float, float, float]:
        """(thickness for C, height for H, depth for W) in pixels; a flat vector is a thin bar."""
        if len(self.shape) == 3:
            c, h, w = self.shape
            return side(c, THICKNESS), side(h, HEIGHT), side(w, DEPTH)
        if len(self.shape) == 2:
            c, length = self.shape
            return side(c, THICKNESS), side(length, HEIGHT), DEPTH[0]
        return THICKNESS[0], side(self.shape[0], HEIGHT), DEPTH[0]


@dataclass(frozen=True)
class Edge:
    """Box `source` feeds box `target`; a `skip` reaches past the box before it."""

    source: int
    target: int

    @property
    def skip(self) -> bool:
        return self.target != self.source + 1


@dataclass(frozen=True)
class Picture:
    name: str
    boxes: tuple[Box, ...]
    edges: tuple[Edge, ...]

    def kinds(self) -> list[str]:
        """Every kind drawn, in the order it first appears (the legend's)."""
        return list(dict.fromkeys(box.kind for box in self.boxes))


def picture(report: Report, depth: Optional[int] = None) -> Picture:
    """The picture of `report`'s network, `depth` levels of composites deep at most (None: every
    layer its own box)."""
    graph = report.graph
    if graph is None:
        raise ValueError("a picture needs the report's graph (a report from cnnsize.analyze)")
    rows = list(report.truncated(depth).leaves())
    boxes = [Box(name, None, "input", shape) for name, shape in report.inputs]
    owner: dict[SpecPath, int] = {}  # a box's row path -> its index
    for row in rows:
        owner[row.path] = len(boxes)
        boxes.append(Box(format_path(row.path), row.name, row.type, row.output_shapes[0]))
    input_box = {name: i for i, (name, _) in enumerate(report.inputs)}

    def box_of(path: SpecPath) -> int:
        """The box a node belongs to: its own, or the collapsed composite's above it."""
        for end in range(len(path), 0, -1):
            found = owner.get(path[:end])
            if found is not None:
                return found
        raise AssertionError(f"no box holds {format_path(path)}")

    made_by: dict[int, int] = {}  # value -> the box that makes it
    for name, v in graph.inputs:
        made_by[v] = input_box[name]
    edges: dict[tuple[int, int], None] = {}
    for node in graph.nodes:
        target = box_of(node.path)
        for v in node.inputs:
            source = made_by.get(v)
            if source is not None and source != target:
                edges[source, target] = None
        for v in node.outputs:
            made_by[v] = target
        layer = node.layer
        kernel = getattr(layer, "kernel_size", None)
        if kernel is not None and boxes[target].path == format_path(node.path):
            boxes[target] = Box(boxes[target].path, boxes[target].name, boxes[target].kind, boxes[target].shape, kernel)
    return Picture(report.name, tuple(boxes), tuple(Edge(s, t) for s, t in sorted(edges)))


MOST_BOXES = 120  # a picture as deep as fits in this many boxes reads on a page (ResNet-152: depth 3)
DEPTHS: tuple[Optional[int], ...] = (None, 4, 3, 2, 1)


def fitted(report: Report, most: int = MOST_BOXES) -> tuple[Optional[int], Picture]:
    """The deepest picture of `report` with at most `most` boxes (every layer, else composites
    collapsed at depth 4, 3, 2, 1: the shallowest whatever its size), and its depth."""
    for depth in DEPTHS:
        found = picture(report, depth)
        if len(found.boxes) <= most or depth == DEPTHS[-1]:
            return depth, found
    raise AssertionError("unreachable: the last depth is always taken")
