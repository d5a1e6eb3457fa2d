"""The padding-and-stride figure of the CNN lecture, for `cnnsize conv --draw`: the padded input,
each position of the kernel's window, and the output, on one spatial axis as text and on a square
feature map as SVG (one panel per output pixel: the window it reads, and where it lands).

The windows come from `Window.taps` (the calculator's): the figure shows what the formula says.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from cnnsize.calculator import Window

MOST_CELLS = 64  # the padded axis in text, one character pair a cell
MOST_PANELS = 36  # SVG: one panel per output pixel, a 6 x 6 output at most
MOST_GRID = 20  # SVG: the padded input's side, in cells
CELL = 14


def too_large(window: Window, svg: bool) -> str | None:
    """Why this window cannot be drawn legibly, or None."""
    before, after = window.pads()
    padded, out = window.input + before + after, window.output()
    if svg and (out * out > MOST_PANELS or padded > MOST_GRID):
        return (
            f"the figure has {out}x{out} panels of a {padded}x{padded} padded input: too many to draw "
            f"(at most {MOST_PANELS} panels of {MOST_GRID}x{MOST_GRID}); try a smaller --input"
        )
    if not svg and padded > MOST_CELLS:
        return f"the padded input has {padded} cells: too wide to draw (at most {MOST_CELLS}); try a smaller --input"
    return None


def text(window: Window) -> list[str]:
    """One axis: the padded input (`p` padding, `x` input), each window's taps (`k`) by output
    position, how many windows read each cell (`.` none: never covered), and the output."""
    before, after = window.pads()
    cells = range(-before, window.input + after)
    taps = window.taps()
    width = max(len("read by"), len(f"out {len(taps) - 1}")) + 2

    def row(label: str, marks: dict[int, str]) -> str:
        return f"{label:<{width}}" + " ".join(marks.get(c, " ") for c in cells).rstrip()

    covered = {c: 0 for c in cells}
    for positions in taps:
        for t in positions:
            covered[t] += 1
    lines = [
        f"one axis of the input ({window.input}), padded by {before} before and {after} after; "
        f"a window of {window.kernel}"
        + (f" dilated by {window.dilation}" if window.dilation > 1 else "")
        + f" moving {window.step} at a time:",
        row("input", {c: "x" if 0 <= c < window.input else "p" for c in cells}),
    ]
    lines += [row(f"out {o}", {t: "k" for t in positions}) for o, positions in enumerate(taps)]
    lines.append(
        row(
            "read by",
            {c: str(n) if n < 10 else "+" for c, n in covered.items() if n}
            | {c: "." for c, n in covered.items() if not n},
        )
    )
    lines.append(f"{'output':<{width}}" + " ".join("o" for _ in taps) + f"  ({len(taps)})")
    legend = "x: input, p: padding, k: a pixel the window reads"
    lines.append(legend + ("; '.': a cell no window reads" if any(not n for n in covered.values()) else ""))
    return lines


def svg(window: Window) -> str:
    """A square feature map: for each output pixel (r, c), a panel of the padded input with the
    window that pixel reads (rows taps[r] x columns taps[c]) and the output grid with the pixel."""
    before, after = window.pads()
    padded = window.input + before + after
    taps = window.taps()
    out = len(taps)
    grid = padded * CELL
    panel_w = grid + 24 + out * CELL + 24
    panel_h = max(grid, out * CELL) + 28
    columns = min(out * out, max(1, 720 // panel_w) or 1)
    rows = -(-out * out // columns)
    width, height = columns * panel_w + 16, rows * panel_h + 44
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(_caption(window))}</title>",
        f'<text x="8" y="18">{escape(_caption(window))}</text>',
    ]
    for n in range(out * out):
        r, c = divmod(n, out)
        x0, y0 = 8 + (n % columns) * panel_w, 30 + (n // columns) * panel_h
        parts.append(f'<g class="panel" data-output="{r},{c}">')
        for i in range(padded):
            for j in range(padded):
                pad = not (before <= i < before + window.input and before <= j < before + window.input)
                read = (i - before) in taps[r] and (j - before) in taps[c]
                fill = "#4e79a7" if read else "#e0e0e0" if pad else "#ffffff"
                cls = "tap" if read else "pad" if pad else "cell"
                parts.append(
                    f'<rect class="{cls}" x="{x0 + j * CELL}" y="{y0 + i * CELL}" width="{CELL}" height="{CELL}" '
                    f'fill="{fill}" stroke="#888" stroke-width="0.5"/>'
                )
        ox = x0 + grid + 24
        for i in range(out):
            for j in range(out):
                mine = (i, j) == (r, c)
                parts.append(
                    f'<rect class="{"out" if mine else "output"}" x="{ox + j * CELL}" y="{y0 + i * CELL}" '
                    f'width="{CELL}" height="{CELL}" fill="{"#f28e2b" if mine else "#ffffff"}" '
                    f'stroke="#888" stroke-width="0.5"/>'
                )
        parts.append(f'<text x="{x0}" y="{y0 + panel_h - 10}">out[{r}][{c}]</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _caption(window: Window) -> str:
    before, after = window.pads()
    pads = f"{before}" if before == after else f"{before} before, {after} after"
    what = "pooling" if window.operation == "pool" else "convolution"
    return (
        f"{what}: input {window.input}x{window.input}, kernel {window.kernel}x{window.kernel}, stride "
        f"{window.step}, padding {pads}"
        + (f", dilation {window.dilation}" if window.dilation > 1 else "")
        + f": output {window.output()}x{window.output()}"
    )
