"""Listings: the tables and label/value panels every command prints, in every output format.

A command describes what it shows as `Listing`s and `Panel`s of text cells; this module draws them
as a rich table (the only place besides the progress bar that imports rich), as Markdown, or as CSV
(raw values, one header row, after the stamp's `#` lines), and hands them to `cnnsize.latex` for
LaTeX and `cnnsize.render_html` for a page. JSON stays each result object's own `to_dict()`.

Text in a spec comes from anyone: every cell, title and CSV value passes through `escape`, so a
layer name cannot move the cursor, clear the screen, ring the bell or reverse the text around it,
and Markdown escapes `|`. A whole output is drawn into one string before a byte of it is written
(`emit`), so a failure while drawing leaves nothing half-written.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Literal, Optional, Sequence, Union

from cnnsize.errors import CnnsizeError

# C0 and C1 controls, DEL, the line and paragraph separators, and the bidirectional formatting
# characters (embeddings, overrides, isolates, marks) that reorder what a terminal shows
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: "re.Match[str]") -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """`text` with every terminal control character written out as Python writes it in a string
    (`\\x1b`, `\\n`, `\\u202e`): safe to print, and still says what the spec holds."""
    return _CONTROL.sub(_escaped, text)


class OutputError(CnnsizeError):
    """The output cannot be written: the disk is full, the pipe closed, or its encoding lacks a
    character the output holds (exit 1)."""


def emit(text: str, out: IO[str]) -> None:
    """Write `text`, drawn whole beforehand, to `out` and flush it; an `OutputError` saying why if
    it cannot be written. A character the output's encoding cannot hold is found before anything
    is written."""
    encoding = getattr(out, "encoding", None)
    if encoding:
        try:
            text.encode(encoding, getattr(out, "errors", None) or "strict")
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : exc.end]
            raise OutputError(
                f"cannot write {ascii(bad)} in the output's encoding ({encoding}); "
                "set PYTHONIOENCODING=utf-8 or use a UTF-8 locale"
            ) from None
        except LookupError:
            pass
    try:
        out.write(text)
        out.flush()
    except OSError as exc:
        raise OutputError(f"cannot write the output: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class Listing:
    """A table: `header`, `rows` of text cells, the first `left` columns left-aligned (the rest are
    figures, right-aligned and never cut); `depths` indents a row's first cell (nesting), `dim`
    marks rows that sum others."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    title: Optional[str] = None
    left: int = 1
    depths: Sequence[int] = ()
    dim: Sequence[bool] = ()
    hideable: Sequence[str] = ()  # columns a narrow terminal may hide, the first named first


@dataclass(frozen=True)
class Panel:
    """Labelled values (totals, measurements), each value with its unit."""

    title: str
    lines: Sequence[tuple[str, str]]


def packed(items: Sequence[str], width: int, rows: int) -> list[str]:
    """`items` as a panel shows a long list: joined by `, ` into lines of at most `width` characters
    (an item longer than that on a line of its own, which a terminal folds as it folds any panel
    value), at most `rows` of them, then `... and N more` for the items left out. Every `items`
    but the last on a line ends in a comma, so the lines read as one list."""
    lines: list[list[str]] = [[]]
    used = 0
    for item in items:
        line = lines[-1]
        if line and used + 2 + len(item) + 1 > width:  # `, item` and the comma the line then ends in
            if len(lines) == rows:
                break
            lines.append([])
            line, used = lines[-1], 0
        used += len(item) + (2 if line else 0)
        line.append(item)
    shown = sum(len(line) for line in lines)
    last = len(lines) - 1 if shown == len(items) else len(lines)  # the line with no comma, if any
    texts = [", ".join(line) + ("," if i < last else "") for i, line in enumerate(lines)]
    if shown < len(items):
        texts.append(f"... and {len(items) - shown} more")
    return texts if items else []


@dataclass(frozen=True)
class Text:
    """A line of prose (a heading, a verdict); a `stamp` (what the figures were counted at, see
    cnnsize.provenance) is dim under a table's title, and a footnote at the end in Markdown."""

    text: str
    bold: bool = False
    stamp: bool = False


Part = Union[Listing, Panel, Text]


@dataclass(frozen=True)
class Document:
    """What a command prints: its parts in order, and the rows CSV gives (raw values), after its
    `csv_comments` as `# ` lines (the stamp)."""

    parts: Sequence[Part]
    csv_header: Sequence[str] = ()
    csv_rows: Sequence[Sequence[Any]] = field(default_factory=list)
    csv_comments: Sequence[str] = ()


def write(documents: Sequence[Document], fmt: str, out: IO[str]) -> None:
    """`documents` as `table`, `markdown`, `latex`, `html` or `csv` (one header for all, rows one
    after another), drawn whole, then written (`emit`)."""
    emit(drawn(documents, fmt, out), out)


def drawn(documents: Sequence[Document], fmt: str, out: IO[str]) -> str:
    """`documents` as `table`, `markdown` or `csv`, as the text `write` would write to `out` (whose
    being a terminal, and encoding, decide the table's styles and box characters)."""
    if fmt == "csv":
        buffer = io.StringIO()
        plain = csv.writer(buffer, lineterminator="\n")
        # a row with a `#` in a name is written with its text quoted: readers told to skip the
        # stamp's comment lines (`pandas.read_csv(comment="#")`) would cut it there otherwise
        quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
        for document in documents:
            buffer.writelines(f"# {escape(line)}\n" for line in document.csv_comments)
        rows = [[escape(name) for name in documents[0].csv_header]] if documents else []
        for document in documents:
            rows += [[escape(v) if isinstance(v, str) else v for v in row] for row in document.csv_rows]
        for row in rows:
            (quoted if any(isinstance(v, str) and "#" in v for v in row) else plain).writerow(row)
        return buffer.getvalue()
    if fmt == "markdown":
        return "\n".join(markdown(document) for document in documents)
    if fmt == "latex":
        from cnnsize.latex import latex  # booktabs tables, for papers

        return latex(documents)
    if fmt == "html":
        from cnnsize.render_html import page  # one self-contained page

        return page(documents)
    return "".join(draw(document, out) for document in documents)


def markdown(document: Document) -> str:
    lines: list[str] = []
    footnotes = [part for part in document.parts if isinstance(part, Text) and part.stamp]
    for part in document.parts:
        if isinstance(part, Text) and part.stamp:
            continue
        if isinstance(part, Text):
            text = _markdown_text(part.text)
            lines += [f"## {text}" if part.bold else text, ""]
        elif isinstance(part, Panel):
            lines += [
                f"| {_markdown_cell(part.title)} | |",
                "|---|---|",
                *(_markdown_row([label, value]) for label, value in part.lines),
                "",
            ]
        else:
            if part.title:
                lines += [f"**{_markdown_text(part.title)}**", ""]
            lines += [_markdown_row(part.header), _markdown_rule(len(part.header), part.left)]
            for i, row in enumerate(part.rows):
                cells = [_markdown_cell(cell) for cell in row]
                if part.depths:  # the layer, as code: HTML means nothing there, only `|` is escaped
                    cells[0] = "&nbsp;&nbsp;" * part.depths[i] + _code(escape(row[0]).replace("|", "\\|"))
                lines.append(_markdown_row(cells, escaped=True))
            lines.append("")
    lines += [f"<sub>{_markdown_text(note.text)}</sub>\n" for note in footnotes]
    return "\n".join(lines)


def _markdown_text(text: str) -> str:
    """A line of prose: controls escaped (a newline among them), so it stays one line, and `<` and
    `&` as entities, so a name cannot be HTML (an image, a link) where the Markdown is shown."""
    return escape(text).replace("&", "&amp;").replace("<", "&lt;")


def _markdown_cell(text: str) -> str:
    """A table cell: as `_markdown_text`, and `|` as `\\|` (GitHub's tables read it so, in code too)."""
    return _markdown_text(text).replace("|", "\\|")


def _code(text: str) -> str:
    """`text` as inline code, fenced by more backticks than it holds in a row."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if longest else text
    return f"{fence}{padded}{fence}"


def draw(document: Document, out: IO[str]) -> str:
    """The document as rich would print it on `out`: plain text when `out` is no terminal. Every
    cell goes to rich as `Text`, never as markup (a name such as `[/]` is a name)."""
    from rich.panel import Panel as RichPanel
    from rich.table import Table
    from rich.text import Text as RichText

    console = console_for(out)
    chunks: list[str] = []

    def show(renderable: Any) -> None:
        with console.capture() as capture:
            console.print(renderable)
        chunks.append(capture.get())

    for part in document.parts:
        if isinstance(part, Text):
            show(RichText(escape(part.text), style="bold" if part.bold else "dim" if part.stamp else ""))
        elif isinstance(part, Panel):
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold cyan", no_wrap=True)
            grid.add_column()
            for label, value in part.lines:
                grid.add_row(RichText(escape(label)), RichText(escape(value)))
            show(RichPanel(grid, title=RichText(escape(part.title)), title_align="left", expand=False))
        else:
            if part.title:  # printed as a line of its own: a table's title is padded to its width
                show(RichText(escape(part.title), style="bold"))
            header = [escape(name) for name in part.header]
            rows = [[escape(cell) for cell in row] for row in part.rows]
            if part.depths:
                for row, depth in zip(rows, part.depths):
                    row[0] = "  " * depth + row[0]
            header, rows, left, hidden = _fitted(part, header, rows, console.width)
            plain = plain_table(header, rows, left, console, part.dim)
            if plain is not None:
                chunks.append(plain)
            else:
                table = Table(header_style="bold cyan")
                for i, name in enumerate(header):
                    if i == 0:  # the first column gives way first: it folds, so figures are never cut
                        table.add_column(name, overflow="fold")
                    else:
                        widest = max((len(row[i]) for row in rows), default=0)
                        justify: Literal["left", "right"] = "left" if i < left else "right"
                        table.add_column(name, justify=justify, no_wrap=True, min_width=widest)
                for i, row in enumerate(rows):
                    style = "dim" if part.dim and part.dim[i] else None
                    table.add_row(*(RichText(cell) for cell in row), style=style)
                show(table)
            if hidden:
                names = ", ".join(hidden)
                note = f"(hidden to fit {console.width} columns: {names}; --format markdown, csv or json shows all)"
                show(RichText(note, style="dim"))
    return "".join(chunks)


def _fitted(
    part: Listing, header: list[str], rows: list[list[str]], width: int
) -> tuple[list[str], list[list[str]], int, list[str]]:
    """The table with the fewest of its hideable columns hidden (in their order) that fits in
    `width`, its `left` count, and the names hidden; the whole table when it fits. When even
    hiding every hideable column does not make it fit, every one is hidden and rich folds the
    first column (the layer) into the width left: it is never squeezed out by figures."""
    widths = _widths(header, rows)
    total = sum(widths) + 3 * len(header) + 1
    hidden: list[int] = []
    for name in part.hideable:
        if total <= width:
            break
        if name in part.header:
            i = list(part.header).index(name)
            hidden.append(i)
            total -= widths[i] + 3
    if not hidden:
        return header, rows, part.left, []
    kept = [i for i in range(len(header)) if i not in hidden]
    left = sum(1 for i in kept if i < part.left)
    return (
        [header[i] for i in kept],
        [[row[i] for i in kept] for row in rows],
        left,
        [part.header[i] for i in sorted(hidden)],
    )


def _widths(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    """Each column's width in terminal cells: its widest cell or name."""
    from rich.cells import cell_len

    widths = [cell_len(name) for name in header]
    for row in rows:
        for i, cell in enumerate(row):
            size = len(cell) if cell.isascii() else cell_len(cell)
            if size > widths[i]:
                widths[i] = size
    return widths


def plain_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], left: int, console: Any, dim: Sequence[bool] = ()
) -> Optional[str]:
    """The table as rich draws it (heavy head, `box.HEAVY_HEAD`), built line by line: rich measures
    and lays out every cell, 1 to 3 ms a row, this a few microseconds. Piped, it is rich's output
    character for character; on a terminal the header is bold cyan (bold under NO_COLOR) and `dim`
    rows dim, in rich's escape codes. None when the table is wider than the console (rich folds the
    first column then) or the console's encoding cannot draw boxes (rich falls back to ASCII)."""
    from rich.cells import cell_len

    if not console.encoding.startswith("utf"):
        return None
    columns = len(header)
    widths = _widths(header, rows)
    if sum(widths) + 3 * columns + 1 > console.width:
        return None

    def plain(text: str) -> str:
        return text

    head = faint = plain
    if console.is_terminal and console.color_system is not None:
        from rich.style import Style

        header_style = Style.parse("bold cyan")
        header_style = header_style.without_color if console.no_color else header_style
        dim_style = Style.parse("dim")

        def head(text: str) -> str:
            return header_style.render(text, color_system=console.color_system)

        def faint(text: str) -> str:
            return dim_style.render(text, color_system=console.color_system)

    def line(cells: Sequence[str], edge: str, paint: Callable[[str], str]) -> str:
        padded = []
        for i, cell in enumerate(cells):
            gap = " " * (widths[i] - (len(cell) if cell.isascii() else cell_len(cell)))
            padded.append(paint(f" {cell}{gap} " if i < left else f" {gap}{cell} "))
        return edge + edge.join(padded) + edge

    def rule(start: str, fill: str, cross: str, end: str) -> str:
        return start + cross.join(fill * (w + 2) for w in widths) + end

    lines = [rule("┏", "━", "┳", "┓"), line(header, "┃", head), rule("┡", "━", "╇", "┩")]
    lines += [line(row, "│", faint if dim and dim[i] else plain) for i, row in enumerate(rows)]
    lines.append(rule("└", "─", "┴", "┘"))
    return "\n".join(lines) + "\n"


def _markdown_row(cells: Sequence[str], escaped: bool = False) -> str:
    return "| " + " | ".join(cells if escaped else [_markdown_cell(cell) for cell in cells]) + " |"


def _markdown_rule(columns: int, left: int) -> str:
    """The header rule: the first `left` columns left-aligned, the rest right-aligned."""
    return "|" + "|".join("---" if i < left else "---:" for i in range(columns)) + "|"


def console_for(out: IO[str]) -> Any:
    """A rich console on `out`: styles only on a terminal (plain text when piped, whatever
    FORCE_COLOR says), colour unless NO_COLOR is set to a non-empty value (no-color.org); piped
    output is as wide as it needs to be, unless COLUMNS says otherwise."""
    from rich.console import Console

    interactive = hasattr(out, "isatty") and out.isatty()
    width = None if interactive else int(os.environ.get("COLUMNS", "0")) or 100_000
    no_color = bool(os.environ.get("NO_COLOR")) or not interactive
    return Console(
        file=out, width=width, force_terminal=interactive, no_color=no_color, highlight=False, soft_wrap=False
    )
