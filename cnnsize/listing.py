"""Listings: the tables and label/value panels every command prints, in every output format.

A command describes what it shows as `Listing`s and `Panel`s of text cells; this module draws them
as a rich table (the only place besides the progress bar that imports rich), as Markdown, or as CSV
(raw values, one header row). JSON stays each result object's own `to_dict()`.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from typing import IO, Any, Literal, Optional, Sequence, Union


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


@dataclass(frozen=True)
class Panel:
    """Labelled values (totals, measurements), each value with its unit."""

    title: str
    lines: Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Text:
    """A line of prose (a heading, a verdict)."""

    text: str
    bold: bool = False


Part = Union[Listing, Panel, Text]


@dataclass(frozen=True)
class Document:
    """What a command prints: its parts in order, and the rows CSV gives (raw values)."""

    parts: Sequence[Part]
    csv_header: Sequence[str] = ()
    csv_rows: Sequence[Sequence[Any]] = field(default_factory=list)


def write(documents: Sequence[Document], fmt: str, out: IO[str]) -> None:
    """`documents` as `table`, `markdown` or `csv` (one header for all, rows one after another)."""
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        if documents:
            writer.writerow(documents[0].csv_header)
        for document in documents:
            writer.writerows(document.csv_rows)
    elif fmt == "markdown":
        out.write("\n".join(markdown(document) for document in documents))
    else:
        for document in documents:
            draw(document, out)


def markdown(document: Document) -> str:
    lines: list[str] = []
    for part in document.parts:
        if isinstance(part, Text):
            lines += [f"## {part.text}" if part.bold else part.text, ""]
        elif isinstance(part, Panel):
            lines += [
                f"| {part.title} | |",
                "|---|---|",
                *(f"| {label} | {value} |" for label, value in part.lines),
                "",
            ]
        else:
            if part.title:
                lines += [f"**{part.title}**", ""]
            lines += [_markdown_row(part.header), _markdown_rule(len(part.header), part.left)]
            for i, row in enumerate(part.rows):
                cells = list(row)
                depth = part.depths[i] if part.depths else 0
                cells[0] = "&nbsp;&nbsp;" * depth + (f"`{cells[0]}`" if part.depths else cells[0])
                lines.append(_markdown_row(cells))
            lines.append("")
    return "\n".join(lines)


def draw(document: Document, out: IO[str]) -> None:
    """The document as rich renderables: plain text when `out` is no terminal."""
    from rich.panel import Panel as RichPanel
    from rich.table import Table
    from rich.text import Text as RichText

    console = console_for(out)
    for part in document.parts:
        if isinstance(part, Text):
            console.print(RichText(part.text, style="bold" if part.bold else ""))
        elif isinstance(part, Panel):
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold cyan", no_wrap=True)
            grid.add_column()
            for label, value in part.lines:
                grid.add_row(label, value)
            console.print(RichPanel(grid, title=part.title, title_align="left", expand=False))
        else:
            if part.title:  # printed as a line of its own: a table's title is padded to its width
                console.print(RichText(part.title, style="bold"))
            table = Table(header_style="bold cyan")
            for i, name in enumerate(part.header):
                if i == 0:  # the first column gives way first: it folds, so figures are never cut
                    table.add_column(name, overflow="fold")
                else:
                    widest = max((len(row[i]) for row in part.rows), default=0)
                    justify: Literal["left", "right"] = "left" if i < part.left else "right"
                    table.add_column(name, justify=justify, no_wrap=True, min_width=widest)
            for i, row in enumerate(part.rows):
                cells = list(row)
                if part.depths:
                    cells[0] = "  " * part.depths[i] + cells[0]
                table.add_row(*cells, style="dim" if part.dim and part.dim[i] else None)
            console.print(table)


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


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
