"""Rendering reports in every format: the per-layer table and the totals, as a rich table, Markdown,
CSV (one row per leaf, raw integers) or JSON (the public contract, `Report.to_dict()`).

Computing lives elsewhere; drawing is `cnnsize.listing`'s.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any, Callable, Sequence

from cnnsize.errors import format_path
from cnnsize.kinds.base import shape_text
from cnnsize.listing import Document, Listing, Panel, Part, Text, write
from cnnsize.report import LayerRow, Report
from cnnsize.units import human_bytes, human_count

COLUMNS: tuple[tuple[str, Callable[[LayerRow], str]], ...] = (
    ("Layer", lambda row: _label(row)),
    ("Type", lambda row: row.type),
    ("Output shape", lambda row: shape_text(row.output_shape)),
    ("Params", lambda row: f"{row.params:,}"),
    ("MACs", lambda row: f"{row.macs:,}"),
    ("Activations", lambda row: human_bytes(row.activation_bytes)),
    ("Receptive field", lambda row: _rf(row)),
)

CSV_HEADER = (
    "network", "path", "name", "type", "input_shape", "output_shape", "params", "non_trainable_params",
    "macs", "flops", "activation_bytes", "rf_size_h", "rf_size_w",
)  # fmt: skip


def _label(row: LayerRow) -> str:
    path = format_path(row.path)
    return f"{path} ({row.name})" if row.name else path


def _rf(row: LayerRow) -> str:
    rf = row.receptive_field
    if rf is None:
        return "-"
    return "x".join(f"{float(v):g}" for v in rf.size)


def exact_and_readable(n: int) -> str:
    """`25,557,032 (25.56 M)`; just `444` when the readable form would say the same."""
    readable = human_count(n)
    return f"{n:,}" if readable == str(n) else f"{n:,} ({readable})"


def total_lines(report: Report) -> list[tuple[str, str]]:
    """(label, value with units) pairs for the totals panel."""
    t = report.totals
    at = f"batch {report.batch_size}, {report.dtype}"
    return [
        ("Trainable params", exact_and_readable(t.params)),
        ("Non-trainable params", exact_and_readable(t.non_trainable_params)),
        ("Parameter memory", f"{human_bytes(t.param_bytes)} ({t.param_bytes:,} B, {report.dtype})"),
        ("MACs", f"{t.macs:,} ({human_count(t.macs)} MACs, batch {report.batch_size})"),
        ("FLOPs", f"{t.flops:,} ({human_count(t.flops)} FLOPs = 2 x MACs)"),
        ("Activation memory", f"{human_bytes(t.activation_bytes)} ({t.activation_bytes:,} B, {at})"),
        ("Input shape", shape_text(report.input_shape)),
        ("Output shape", shape_text(report.output_shape)),
    ]


def document(report: Report) -> Document:
    """The report as a titled layer table (composites above their children) and a totals panel;
    with a memory section, a column of bytes saved for backward and a memory panel."""
    walked = list(report.walk())
    columns = list(COLUMNS)
    memory = report.memory
    if memory is not None:
        columns.append(("Saved for backward", lambda row: human_bytes(memory.saved_at(row.path))))
    layers = Listing(
        header=[name for name, _ in columns],
        rows=[[cell(row) for _, cell in columns] for _, row in walked],
        left=3,
        depths=[depth for depth, _ in walked],
        dim=[bool(row.children) for _, row in walked],
    )
    parts: list[Part] = [
        Text(f"{report.name}{_source(report)}", bold=True),
        layers,
        Panel("Totals", total_lines(report)),
    ]
    csv_rows = [_csv_row(report, leaf) for leaf in report.leaves()]
    if memory is None:
        return Document(parts, CSV_HEADER, csv_rows)
    from cnnsize.render_memory import memory_panel

    parts.append(Panel(*memory_panel(memory)))
    saved = [memory.saved_at(leaf.path) for leaf in report.leaves()]
    return Document(parts, (*CSV_HEADER, "saved_bytes"), [row + [b] for row, b in zip(csv_rows, saved)])


def _csv_row(report: Report, leaf: LayerRow) -> list[Any]:
    rf = leaf.receptive_field
    size = [f"{float(v):g}" for v in rf.size] if rf else ["", ""]
    return [
        report.name, format_path(leaf.path), leaf.name or "", leaf.type, shape_text(leaf.input_shape),
        shape_text(leaf.output_shape), leaf.params, leaf.non_trainable_params, leaf.macs, leaf.flops,
        leaf.activation_bytes, *size,
    ]  # fmt: skip


def render(reports: Sequence[Report], fmt: str, out: IO[str] | None = None) -> None:
    """Write `reports` to `out` (stdout by default) as `table`, `json`, `markdown` or `csv`."""
    out = out or sys.stdout
    if fmt == "json":
        write_json([r.to_dict() for r in reports], out)
    else:
        write([document(r) for r in reports], fmt, out)


def write_json(items: Sequence[Any], out: IO[str]) -> None:
    """One object as itself, several as a list."""
    json.dump(items[0] if len(items) == 1 else list(items), out, indent=2)
    out.write("\n")


def _source(report: Report) -> str:
    """` (specs/toy.yaml)`, or ` (the zoo)` for a spec shipped with cnnsize."""
    if not report.file or report.file == "<stdin>":
        return ""
    from cnnsize import zoo

    if os.path.dirname(os.path.abspath(report.file)) == os.path.dirname(os.path.abspath(zoo.__file__)):
        return " (the zoo)"
    return f" ({report.file})"
