"""`report --format html`: one self-contained page that works offline: the stamp, the drawing, the
layer table (sortable: click a heading), and charts drawn as inline SVG: parameters and MACs per
layer, activation bytes along the forward pass, a training step's memory over time (live bytes
rising through forward and falling through backward, the peak marked), the training footprint as a
stacked bar, and the receptive field's growth.

Nothing is fetched: no script, style, font or image comes from elsewhere, and the page's Content
Security Policy forbids it. Every name is HTML-escaped. Drawing only: the figures are the report's.
"""

from __future__ import annotations

import html as markup
import re
from typing import Optional, Sequence

from cnnsize.listing import Document, Listing, Panel, Text
from cnnsize.listing import escape as escape_controls
from cnnsize.picture import fitted
from cnnsize.provenance import stamp
from cnnsize.render import document
from cnnsize.render_svg import colour, svg
from cnnsize.report import LayerRow, Report
from cnnsize.units import human_bytes, human_count

WIDTH, BAR_AREA = 960, 220
POLICY = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

STYLE = """
body{font-family:sans-serif;margin:24px;color:#222}h1{font-size:22px;margin:0}
.stamp{color:#666;font-size:13px;margin:4px 0 16px}h2{font-size:16px;margin:28px 0 8px}
table{border-collapse:collapse;font-size:12px}th,td{padding:2px 8px;border-bottom:1px solid #eee}
th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}td.n{text-align:right}
.drawing{overflow-x:auto;border:1px solid #eee}.chart text{font-size:10px}
"""

# click a heading: sort by it (numbers by their data-value), again: the other way; errors are kept
# on the body so that a test (or a reader) sees them
SCRIPT = """
window.addEventListener('error', function (e) {
  document.body.dataset.errors = (document.body.dataset.errors || '') + e.message + '\\n';
});
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, column) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var down = th.dataset.order !== 'down';
      rows.sort(function (a, b) {
        var x = a.cells[column], y = b.cells[column];
        var u = x.dataset.value, v = y.dataset.value;
        var order = (u !== undefined && v !== undefined) ? Number(u) - Number(v)
          : x.textContent.localeCompare(y.textContent, undefined, {numeric: true});  // layers[2] before layers[10]
        return down ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
      th.dataset.order = down ? 'down' : 'up';
      table.dataset.sortedBy = th.textContent;
    });
  });
});
document.body.dataset.ready = 'yes';
"""


def escape(text: str) -> str:
    """Text of a spec as HTML: control characters written out first (as every format does, so a
    terminal showing the file obeys none), then `<`, `&`, `>` and quotes as entities."""
    return markup.escape(escape_controls(text))


def html(report: Report) -> str:
    """The whole page for one report."""
    return _page(report.name, _sections(report))


def _page(title: str, body: Sequence[str]) -> str:
    return (
        "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en"><head><meta charset="utf-8">',
                f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
                f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
                *body,
                f"<script>{SCRIPT}</script>",
                "</body></html>",
            ]
        )
        + "\n"
    )


def _sections(report: Report) -> list[str]:
    """One report's part of a page: its title and stamp, drawing, table, panels and charts."""
    doc = document(report, "html")
    depth, drawing = fitted(report)
    leaves = list(report.leaves())
    how = "" if depth is None else f", blocks collapsed at depth {depth}"
    return [
        f"<h1>{escape(report.name)}</h1>",
        f'<p class="stamp">{escape(stamp(report).text())}</p>',
        f"<h2>The network{how}</h2>",
        f'<div class="drawing">{_inline(svg(drawing))}</div>',
        "<h2>Layers</h2>",
        *(_table(part) for part in doc.parts if isinstance(part, Listing)),
        *(_panel(part) for part in doc.parts if isinstance(part, Panel)),
        "<h2>Parameters per layer</h2>",
        _bars([_name(r) for r in leaves], [r.params for r in leaves], [r.type for r in leaves], human_count),
        "<h2>MACs per layer</h2>",
        _bars([_name(r) for r in leaves], [r.macs for r in leaves], [r.type for r in leaves], human_count),
        "<h2>Activation bytes along the forward pass</h2>",
        _bars([_name(r) for r in leaves], [r.activation_bytes for r in leaves], [r.type for r in leaves], human_bytes),
        *_training(report, leaves),
        *_receptive(leaves),
        *(
            f'<p class="note">{escape(part.text)}</p>'
            for part in doc.parts
            if isinstance(part, Text) and not part.bold and not part.stamp
        ),
    ]


def _inline(drawing: str) -> str:
    """An SVG document as an element of the page (its XML declaration-free text as it is)."""
    return drawing.strip()


def _name(row: LayerRow) -> str:
    from cnnsize.errors import format_path

    path = format_path(row.path)
    return f"{path} ({row.name})" if row.name else path


_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?(B|KiB|MiB|GiB|TiB|PiB|EiB)")
_POWERS = {"B": 0, "KiB": 1, "MiB": 2, "GiB": 3, "TiB": 4, "PiB": 5, "EiB": 6}


def _value(cell: str) -> Optional[float]:
    """The number a cell shows, for sorting: `1,234` -> 1234, `3.06 MiB` -> about 3.2e6 bytes (as
    shown: near enough to order rows); None for text."""
    plain = cell.replace(",", "").strip()
    try:
        return float(plain)
    except ValueError:
        pass
    size = _SIZE.fullmatch(plain)
    return float(size.group(1)) * 1024 ** _POWERS[size.group(2)] if size else None


def _table(listing: Listing) -> str:
    head = "".join(f"<th>{escape(name)}</th>" for name in listing.header)
    rows = []
    for i, row in enumerate(listing.rows):
        cells = []
        for j, cell in enumerate(row):
            value = _value(cell) if j >= listing.left else None
            attrs = f' class="n" data-value="{value:.17g}"' if value is not None else ""
            indent = "&nbsp;&nbsp;" * (listing.depths[i] if listing.depths and j == 0 else 0)
            cells.append(f"<td{attrs}>{indent}{escape(cell)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>' + "\n".join(rows) + "</tbody></table>"


def _panel(panel: Panel) -> str:
    rows = "".join(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in panel.lines)
    return f"<h2>{escape(panel.title)}</h2><table>{rows}</table>"


def _bars(labels: Sequence[str], values: Sequence[int], kinds: Sequence[str], show: object) -> str:
    """A bar per layer, in execution order, coloured by kind; each bar's tooltip names the layer."""
    n = max(len(values), 1)
    step = max(WIDTH / n, 1.0)
    width = step * n + 60
    top = max(values, default=0) or 1
    bars = []
    for i, (label, value, kind) in enumerate(zip(labels, values, kinds)):
        height = BAR_AREA * value / top
        text = f"{label}: {show(value)}"  # type: ignore[operator]
        bars.append(
            f'<rect class="bar" x="{50 + i * step:.1f}" y="{10 + BAR_AREA - height:.1f}" '
            f'width="{max(step - 1, 0.5):.1f}" height="{height:.1f}" fill="{colour(kind)}">'
            f"<title>{escape(text)}</title></rect>"
        )
    axis = f'<text x="0" y="16">{escape(show(top))}</text><text x="0" y="{BAR_AREA + 10}">0</text>'  # type: ignore[operator]
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{BAR_AREA + 30}">'
        f'{axis}<line x1="48" y1="{BAR_AREA + 10}" x2="{width:.0f}" y2="{BAR_AREA + 10}" stroke="#999"/>'
        + "".join(bars)
        + "</svg>"
    )


def timeline(report: Report, leaves: Sequence[LayerRow]) -> Optional[list[tuple[str, int]]]:
    """A training step's live bytes by the memory model, after each layer's forward and then each
    layer's backward: in forward, each layer's saved tensors join what is held throughout
    (parameters, optimizer state, weight copies, the input batch); backward is the step's moments
    (`MemoryReport.step`: gradients made, saved tensors freed, activation gradients), then the
    optimizer's step. The highest point is the training footprint. (Without the step's moments,
    as for a report made before them, backward gives the saved tensors back layer by layer from
    the footprint, its peak after the last forward.) None without a training footprint."""
    memory = report.memory
    if memory is None or memory.training is None:
        return None
    saved = [memory.saved_at(row.path) for row in leaves]
    if memory.step:
        (_, forward_end), *after = memory.step
        points, live = [("start", forward_end - sum(saved))], forward_end - sum(saved)
        for row, bytes_ in zip(leaves, saved):
            live += bytes_
            points.append((f"forward {_name(row)}", live))
        return points + list(after)
    held = memory.training.total_bytes - sum(saved)
    points, live = [("start", held)], held
    for row, bytes_ in zip(leaves, saved):
        live += bytes_
        points.append((f"forward {_name(row)}", live))
    for row, bytes_ in zip(reversed(leaves), reversed(saved)):
        live -= bytes_
        points.append((f"backward {_name(row)}", live))
    return points


def _training(report: Report, leaves: Sequence[LayerRow]) -> list[str]:
    points = timeline(report, leaves)
    if points is None or report.memory is None or report.memory.training is None:
        return []
    peak = max(range(len(points)), key=lambda i: points[i][1])
    top = points[peak][1] or 1
    step = WIDTH / max(len(points) - 1, 1)
    xy = [(50 + i * step, 10 + BAR_AREA - BAR_AREA * live / top) for i, (_, live) in enumerate(points)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    marks = "".join(
        f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="2">'
        f"<title>{escape(label)}: {human_bytes(live)}</title></circle>"
        for (x, y), (label, live) in zip(xy, points)
    )
    px, py = xy[peak]
    chart = (
        f'<svg class="chart" data-chart="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH + 60}" '
        f'height="{BAR_AREA + 30}">'
        f'<polyline points="{line}" fill="none" stroke="#4e79a7" stroke-width="1.5"/>{marks}'
        f'<circle class="peak" cx="{px:.1f}" cy="{py:.1f}" r="5" fill="#e15759"/>'
        f'<text x="{min(px + 8, WIDTH):.1f}" y="{max(py, 20):.1f}">peak {escape(human_bytes(top))}</text>'
        f'<text x="50" y="{BAR_AREA + 26}">forward</text>'
        f'<text x="{50 + WIDTH / 2:.1f}" y="{BAR_AREA + 26}">backward</text>'
        "</svg>"
    )
    lines = report.memory.training.labelled()
    total = report.memory.training.total_bytes or 1
    x, blocks = 0.0, []
    palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9d9a"]
    for i, (label, value) in enumerate(lines):
        w = WIDTH * value / total
        blocks.append(
            f'<rect class="line" x="{x:.1f}" y="10" width="{w:.1f}" height="40" fill="{palette[i % len(palette)]}">'
            f"<title>{escape(label)}: {escape(human_bytes(value))}</title></rect>"
        )
        blocks.append(
            f'<rect x="{i * 150}" y="62" width="10" height="10" fill="{palette[i % len(palette)]}"/>'
            f'<text x="{i * 150 + 14}" y="71">{escape(label)}</text>'
        )
        x += w
    stacked = (
        f'<svg class="chart" data-chart="footprint" xmlns="http://www.w3.org/2000/svg" '
        f'width="{max(WIDTH, 150 * len(lines))}" height="80">{"".join(blocks)}</svg>'
    )
    return [
        "<h2>A training step's memory over time</h2>",
        chart,
        f"<h2>The training footprint: {escape(human_bytes(total))}</h2>",
        stacked,
    ]


def _receptive(leaves: Sequence[LayerRow]) -> list[str]:
    """The receptive field's side (H) after each layer; a gap where it is unknown."""
    sizes = [row.receptive_field.size[0] if row.receptive_field else None for row in leaves]
    known = [s for s in sizes if s is not None]
    if not known:
        return []
    top = max(known)
    step = WIDTH / max(len(sizes) - 1, 1)
    segments: list[list[str]] = []
    current: list[str] = []
    for i, size in enumerate(sizes):
        if size is None:
            if current:
                segments.append(current)
            current = []
            continue
        current.append(f"{50 + i * step:.1f},{10 + BAR_AREA - BAR_AREA * size / top:.1f}")
    if current:
        segments.append(current)
    lines = "".join(
        f'<polyline class="rf" points="{" ".join(seg)}" fill="none" stroke="#59a14f" stroke-width="1.5"/>'
        for seg in segments
    )
    unknown = sizes.count(None)
    note = f"<p>Unknown after {unknown} of {len(sizes)} layers (the table's notes say why).</p>" if unknown else ""
    return [
        "<h2>The receptive field's growth (pixels, H)</h2>",
        f'<svg class="chart" data-chart="receptive" xmlns="http://www.w3.org/2000/svg" width="{WIDTH + 60}" '
        f'height="{BAR_AREA + 30}"><text x="0" y="16">{top}</text>{lines}</svg>',
        note,
    ]


def write_html(reports: Sequence[Report]) -> str:
    """One page: each report whole (drawing, table, charts), one after another."""
    return _page(", ".join(r.name for r in reports), [line for r in reports for line in _sections(r)])


def page(documents: Sequence[Document]) -> str:
    """Any command's documents as one self-contained page: titles, tables (sortable) and panels."""
    body = []
    for doc in documents:
        for part in doc.parts:
            if isinstance(part, Text):
                text = escape(part.text)
                body.append(f"<h1>{text}</h1>" if part.bold else f'<p class="stamp">{text}</p>')
            elif isinstance(part, Panel):
                body.append(_panel(part))
            else:
                body.append(_table(part))
    title = next((p.text for d in documents for p in d.parts if isinstance(p, Text)), "cnnsize")
    return _page(title, body)


__all__ = ["html", "page", "timeline", "write_html"]
