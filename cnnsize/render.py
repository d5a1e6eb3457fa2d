"""Rendering reports: a rich table and totals panel, Markdown, CSV and JSON.

The only module that imports rich, and only when a table is drawn; computing lives elsewhere.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from typing import IO, Any, Callable, Sequence

from cnnsize.errors import format_path
from cnnsize.kinds.base import shape_text
from cnnsize.report import LayerRow, Report
from cnnsize.units import human_bytes, human_count

FORMATS = ("table", "json", "markdown", "csv")

COLUMNS: tuple[tuple[str, Callable[[LayerRow], str]], ...] = (
    ("Layer", lambda row: _label(row)),
    ("Type", lambda row: row.type),
    ("Output shape", lambda row: shape_text(row.output_shape)),
    ("Params", lambda row: f"{row.params:,}"),
    ("MACs", lambda row: f"{row.macs:,}"),
    ("Activations", lambda row: human_bytes(row.activation_bytes)),
    ("Receptive field", lambda row: _rf(row)),
)


def _label(row: LayerRow) -> str:
    path = format_path(row.path)
    return f"{path} ({row.name})" if row.name else path


def _rf(row: LayerRow) -> str:
    rf = row.receptive_field
    if rf is None:
        return "-"
    return "x".join(f"{float(v):g}" for v in rf.size)


def total_lines(report: Report) -> list[tuple[str, str]]:
    """(label, value with units) pairs for the totals panel."""
    t = report.totals
    at = f"batch {report.batch_size}, {report.dtype}"
    return [
        ("Trainable params", _exact_and_readable(t.params)),
        ("Non-trainable params", _exact_and_readable(t.non_trainable_params)),
        ("Parameter memory", f"{human_bytes(t.param_bytes)} ({t.param_bytes:,} B, {report.dtype})"),
        ("MACs", f"{t.macs:,} ({human_count(t.macs)} MACs, batch {report.batch_size})"),
        ("FLOPs", f"{t.flops:,} ({human_count(t.flops)} FLOPs = 2 x MACs)"),
        ("Activation memory", f"{human_bytes(t.activation_bytes)} ({t.activation_bytes:,} B, {at})"),
        ("Input shape", shape_text(report.input_shape)),
        ("Output shape", shape_text(report.output_shape)),
    ]


def _exact_and_readable(n: int) -> str:
    """`25,557,032 (25.56 M)`; just `444` when the readable form would say the same."""
    readable = human_count(n)
    return f"{n:,}" if readable == str(n) else f"{n:,} ({readable})"


def render(reports: Sequence[Report], fmt: str, out: IO[str] | None = None) -> None:
    """Write `reports` to `out` (stdout by default) in one of `FORMATS`."""
    out = out or sys.stdout
    if fmt == "json":
        data: Any = [r.to_dict() for r in reports]
        json.dump(data[0] if len(data) == 1 else data, out, indent=2)
        out.write("\n")
    elif fmt == "csv":
        out.write(to_csv(reports))
    elif fmt == "markdown":
        out.write("\n".join(to_markdown(r) for r in reports))
    else:
        for report in reports:
            print_table(report, out)


def to_csv(reports: Sequence[Report]) -> str:
    buffer = io.StringIO()
    fields = [
        "network",
        "path",
        "name",
        "type",
        "input_shape",
        "output_shape",
        "params",
        "non_trainable_params",
        "macs",
        "flops",
        "activation_bytes",
        "rf_size_h",
        "rf_size_w",
    ]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(fields)
    for report in reports:
        for leaf in report.leaves():
            rf = leaf.receptive_field
            size = [f"{float(v):g}" for v in rf.size] if rf else ["", ""]
            writer.writerow(
                [
                    report.name,
                    format_path(leaf.path),
                    leaf.name or "",
                    leaf.type,
                    shape_text(leaf.input_shape),
                    shape_text(leaf.output_shape),
                    leaf.params,
                    leaf.non_trainable_params,
                    leaf.macs,
                    leaf.flops,
                    leaf.activation_bytes,
                    *size,
                ]
            )
    return buffer.getvalue()


def to_markdown(report: Report) -> str:
    lines = [f"## {report.name}", "", _markdown_row([name for name, _ in COLUMNS]), _markdown_rule(len(COLUMNS), 3)]
    for depth, row in report.walk():
        cells = [cell(row) for _, cell in COLUMNS]
        cells[0] = "&nbsp;&nbsp;" * depth + f"`{cells[0]}`"
        lines.append(_markdown_row(cells))
    lines += ["", "| Total | |", "|---|---|"]
    lines += [f"| {label} | {value} |" for label, value in total_lines(report)]
    return "\n".join(lines) + "\n"


def print_table(report: Report, out: IO[str]) -> None:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    console = _console(out)
    console.print(Text(f"{report.name}{_source(report)}", style="bold"))
    rows = [(depth, row, [cell(row) for _, cell in COLUMNS]) for depth, row in report.walk()]
    table = Table(header_style="bold cyan")
    for i, (name, _) in enumerate(COLUMNS):
        if i == 0:  # the path gives way first: it folds, so figures are never cut
            table.add_column(name, overflow="fold")
        else:
            widest = max((len(cells[i]) for _, _, cells in rows), default=0)
            table.add_column(name, justify="right" if i >= 3 else "left", no_wrap=True, min_width=widest)
    for depth, row, cells in rows:
        cells[0] = "  " * depth + cells[0]
        table.add_row(*cells, style="dim" if row.children else None)
    console.print(table)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan")
    grid.add_column()
    for label, value in total_lines(report):
        grid.add_row(label, value)
    console.print(Panel(grid, title="Totals", title_align="left", expand=False))


def print_listing(
    title: str, header: Sequence[str], rows: Sequence[Sequence[str]], out: IO[str], left: int = 1
) -> None:
    """A plain table of text cells (the first `left` columns left-aligned, the rest right-aligned)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i < left else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    _console(out).print(table)


def markdown_listing(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """The same table as Markdown."""
    return "\n".join([_markdown_row(header), _markdown_rule(len(header), left), *map(_markdown_row, rows)]) + "\n"


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _markdown_rule(columns: int, left: int) -> str:
    """The header rule: the first `left` columns left-aligned, the rest right-aligned."""
    return "|" + "|".join("---" if i < left else "---:" for i in range(columns)) + "|"


def _source(report: Report) -> str:
    """` (specs/toy.yaml)`, or ` (the zoo)` for a spec shipped with cnnsize."""
    if not report.file:
        return ""
    from cnnsize import zoo

    if os.path.dirname(os.path.abspath(report.file)) == os.path.dirname(os.path.abspath(zoo.__file__)):
        return " (the zoo)"
    return f" ({report.file})"


def _console(out: IO[str]) -> Any:
    from rich.console import Console

    # Styles only on a terminal (plain text when piped, whatever FORCE_COLOR says); colour unless
    # NO_COLOR is set to a non-empty value (no-color.org).
    interactive = hasattr(out, "isatty") and out.isatty()
    # Piped output is as wide as it needs to be, unless COLUMNS says otherwise.
    width = None if interactive else int(os.environ.get("COLUMNS", "0")) or 100_000
    no_color = bool(os.environ.get("NO_COLOR")) or not interactive
    return Console(
        file=out, width=width, force_terminal=interactive, no_color=no_color, highlight=False, soft_wrap=False
    )
