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
        ("Trainable params", f"{t.params:,} ({human_count(t.params)})"),
        ("Non-trainable params", f"{t.non_trainable_params:,} ({human_count(t.non_trainable_params)})"),
        ("Parameter memory", f"{human_bytes(t.param_bytes)} ({t.param_bytes:,} B, {report.dtype})"),
        ("MACs", f"{t.macs:,} ({human_count(t.macs)} MACs, batch {report.batch_size})"),
        ("FLOPs", f"{t.flops:,} ({human_count(t.flops)} FLOPs = 2 x MACs)"),
        ("Activation memory", f"{human_bytes(t.activation_bytes)} ({t.activation_bytes:,} B, {at})"),
        ("Input shape", shape_text(report.input_shape)),
        ("Output shape", shape_text(report.output_shape)),
    ]


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
                    "x".join(map(str, leaf.output_shape)),
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

    console = _console(out)
    where = f" ({report.file})" if report.file else ""
    table = Table(title=f"{report.name}{where}", title_justify="left", header_style="bold")
    for i, (name, _) in enumerate(COLUMNS):
        table.add_column(name, justify="right" if i >= 3 else "left", no_wrap=i < 3)
    for depth, row in report.walk():
        cells = [cell(row) for _, cell in COLUMNS]
        cells[0] = "  " * depth + cells[0]
        table.add_row(*cells, style="dim" if row.children else None)
    console.print(table)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
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


def _console(out: IO[str]) -> Any:
    from rich.console import Console

    interactive = hasattr(out, "isatty") and out.isatty()
    width = None if interactive else int(os.environ.get("COLUMNS", "160"))
    return Console(
        file=out, width=width, no_color="NO_COLOR" in os.environ or not interactive, highlight=False, soft_wrap=False
    )
