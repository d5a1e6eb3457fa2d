"""Rendering reports in every format: the per-layer table and the totals, as a rich table, Markdown,
CSV (one row per leaf, raw integers) or JSON (the public contract, `Report.to_dict()`).

Computing lives elsewhere; drawing is `cnnsize.listing`'s.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import IO, Any, Callable, Optional, Sequence

from cnnsize.errors import UsageError, format_path
from cnnsize.listing import Document, Listing, Panel, Part, Text, emit, write
from cnnsize.provenance import stamp
from cnnsize.report import LayerRow, Report
from cnnsize.shapes import Shape, shape_text, shapes_text
from cnnsize.units import human_bytes, human_count

COLUMNS: tuple[tuple[str, Callable[[LayerRow], str]], ...] = (
    ("Layer", lambda row: _label(row)),
    ("Type", lambda row: row.type),
    ("Output shape", lambda row: shapes_text(row.output_shapes)),
    ("Params", lambda row: _params_cell(row)),
    ("MACs", lambda row: f"{row.macs:,}"),
    ("Activations", lambda row: human_bytes(row.activation_bytes)),
)
RECEPTIVE_FIELD = "Receptive field"

CSV_HEADER = (
    "network", "path", "name", "type", "input_shape", "output_shape", "params", "non_trainable_params",
    "macs", "flops", "activation_bytes", "rf_size_h", "rf_size_w", "rf_unknown", "shares",
)  # fmt: skip


def _params_cell(row: LayerRow) -> str:
    """`2,320`; `0 (shares stem)` for a layer that calls another's module again, whose parameters
    are counted at that layer (torchinfo writes `(recursive)`)."""
    return f"{row.params:,} (shares {row.shares})" if row.shares is not None else f"{row.params:,}"


def _label(row: LayerRow) -> str:
    path = format_path(row.path)
    return f"{path} ({row.name})" if row.name else path


class _Footnotes:
    """Why a receptive field is unknown: a numbered note per reason, marked in the column as
    `- (1)`, and listed under the table with the first layer it applies to."""

    def __init__(self) -> None:
        self.notes: dict[str, tuple[int, str]] = {}

    def cell(self, row: LayerRow) -> str:
        rf = row.receptive_field
        if rf is not None:
            return "x".join(str(v) for v in rf.size)
        reason = row.receptive_field_unknown
        if reason is None:
            return "-"
        if reason not in self.notes:
            self.notes[reason] = (len(self.notes) + 1, _label(row))
        return f"- ({self.notes[reason][0]})"

    def lines(self) -> list[Part]:
        return [
            Text(f"({number}) Receptive field unknown from {first} on: {reason}.")
            for reason, (number, first) in self.notes.items()
        ]


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
        *_counted_line(report),
        ("Activation memory", f"{human_bytes(t.activation_bytes)} ({t.activation_bytes:,} B, {at})"),
        _shapes_line("Input", report.inputs),
        _shapes_line("Output", report.outputs),
    ]


def _counted_line(report: Report) -> list[tuple[str, str]]:
    """The figure another tool would print (`--convention`); where the tool prints one sample's
    figure whatever the batch (ptflops), that figure too."""
    counted = report.counted
    if counted is None:
        return []
    c = counted.convention
    text = f"{counted.total:,} ({human_count(counted.total)} {c.figure}; {c.tool})"
    if c.one_sample and report.batch_size > 1:
        one = counted.total // report.batch_size
        text += f"; for batch {report.batch_size}: {c.name} itself prints one sample's, {one:,}"
    return [(c.heading, text)]


def _shapes_line(what: str, named: Sequence[tuple[str, Shape]]) -> tuple[str, str]:
    """`Output shape  [1000]`, or `Outputs  p3 [256, 28, 28], p4 [256, 14, 14]` for several."""
    if len(named) == 1:
        return (f"{what} shape", shape_text(named[0][1]))
    return (f"{what}s", ", ".join(f"{name} {shape_text(shape)}" for name, shape in named))


COLUMN_KEYS = (
    "layer", "type", "from", "output", "weights", "params", "params%", "macs", "macs%", "counted", "activations",
    "rf", "saved",
)  # fmt: skip
_TEXT_KEYS = ("layer", "type", "from", "output", "weights")  # left-aligned; the others are figures


def _weights(report: Report) -> Callable[[LayerRow], str]:
    """A row's parameter tensors as torchinfo's "Kernel Shape" shows them: `weight [64, 3, 7, 7],
    bias [64]`, from each layer kind's own rule; empty for a layer without (and a composite)."""
    shapes: dict[Any, str] = {}
    if report.graph is not None:
        for node in report.graph.nodes:
            weights = node.layer.weight_shapes(node.in_shapes[0]) if node.in_shapes else {}
            shapes[node.path] = ", ".join(f"{name} {shape_text(shape)}" for name, shape in weights.items())
    return lambda row: "" if row.children else shapes.get(row.path, "")


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "-"


def choose_columns(keys: Sequence[str]) -> list[str]:
    """`--columns`' keys checked: known, each once, the layer first (it names the row)."""
    unknown = [k for k in keys if k not in COLUMN_KEYS]
    if unknown:
        raise UsageError(f"--columns: unknown column {unknown[0]!r}; choose from {', '.join(COLUMN_KEYS)}")
    chosen = ["layer"] + [k for k in dict.fromkeys(keys) if k != "layer"]
    return chosen


def document(report: Report, fmt: str | None = None, keys: Optional[Sequence[str]] = None) -> Document:
    """The report as a titled layer table (composites above their children) and a totals panel;
    with a memory section, a column of bytes saved for backward and a memory panel. With `fmt`, only
    what that format shows: CSV's rows for `csv`, the rest for the others."""
    if fmt == "csv":
        return _csv_document(report)
    walked = list(report.walk())
    notes = _Footnotes()
    memory = report.memory
    totals = report.totals
    named = dict(zip(("layer", "type", "output", "params", "macs", "activations"), COLUMNS))
    available: dict[str, tuple[str, Callable[[LayerRow], str]]] = {
        **named,
        "from": ("From", lambda row: ", ".join(row.inputs)),
        "weights": ("Weights", _weights(report)),
        "params%": ("% Params", lambda row: _percent(row.params, totals.params)),
        "macs%": ("% MACs", lambda row: _percent(row.macs, totals.macs)),
        "rf": (RECEPTIVE_FIELD, notes.cell),
    }
    if memory is not None:
        available["saved"] = ("Saved for backward", lambda row: human_bytes(memory.saved_at(row.path)))
    counted = report.counted
    if counted is not None:
        available["counted"] = (counted.convention.heading, lambda row: f"{counted.of(row):,}")
    if keys is None:  # as Keras's summary of a functional model: a graph's table says what each reads
        keys = ["layer", "type", *(["from"] if report.named_inputs else []), "output", "params", "macs",
                "counted", "activations", "rf", "saved"]  # fmt: skip
    chosen = [key for key in choose_columns(keys) if key in available]
    columns = [available[key] for key in chosen]
    left = next((i for i, key in enumerate(chosen) if key not in _TEXT_KEYS), len(chosen))
    layers = Listing(
        header=[name for name, _ in columns],
        rows=[[cell(row) for _, cell in columns] for _, row in walked],
        left=left,
        depths=[depth for depth, _ in walked],
        dim=[bool(row.children) for _, row in walked],
        # what a narrow terminal hides first; the layer's name and its parameters always show
        hideable=(
            "Saved for backward",
            RECEPTIVE_FIELD,
            *([counted.convention.heading] if counted is not None else []),
            "% MACs",
            "% Params",
            "Activations",
            "From",
            "Type",
            "MACs",
            "Output shape",
        ),  # fmt: skip
    )
    parts: list[Part] = [
        Text(f"{report.name}{_source(report)}", bold=True),
        Text(stamp(report).text(), stamp=True),
        layers,
        *notes.lines(),
        Panel("Totals", total_lines(report)),
    ]
    if memory is not None:
        from cnnsize.render_memory import memory_panel

        parts.append(Panel(*memory_panel(memory)))
    if fmt is not None:
        return Document(parts)
    return replace(_csv_document(report), parts=parts)


def _csv_document(report: Report) -> Document:
    """CSV's part of `document`: one row per leaf, raw figures, after a comment line of the stamp;
    `saved_bytes` with a memory section, `counted` with a convention."""
    header, rows = list(CSV_HEADER), [_csv_row(report, leaf) for leaf in report.leaves()]
    memory, counted = report.memory, report.counted
    if memory is not None:
        header.append("saved_bytes")
        rows = [row + [memory.saved_at(leaf.path)] for row, leaf in zip(rows, report.leaves())]
    if counted is not None:
        header.append("counted")
        rows = [row + [counted.of(leaf)] for row, leaf in zip(rows, report.leaves())]
    return Document((), header, rows, [f"{report.name}: {stamp(report).text()}"])


def _csv_row(report: Report, leaf: LayerRow) -> list[Any]:
    rf = leaf.receptive_field
    size = list(rf.size) if rf else ["", ""]
    return [
        report.name, format_path(leaf.path), leaf.name or "", leaf.type, shapes_text(leaf.input_shapes),
        shapes_text(leaf.output_shapes), leaf.params, leaf.non_trainable_params, leaf.macs, leaf.flops,
        leaf.activation_bytes, *size, leaf.receptive_field_unknown or "", leaf.shares or "",
    ]  # fmt: skip


def render(
    reports: Sequence[Report],
    fmt: str,
    out: IO[str] | None = None,
    one: bool | None = None,
    columns: Optional[Sequence[str]] = None,
) -> None:
    """Write `reports` to `out` (stdout by default) as `table`, `json`, `markdown` or `csv`, drawn
    whole first (an `OutputError` if it cannot be written). JSON is one object for one report and a
    list for several; `one` False makes it a list whatever the count (several specs given).
    `columns` (keys of `COLUMN_KEYS`) chooses the layer table's columns in table and markdown."""
    out = out or sys.stdout
    if fmt == "json":
        write_json([r.to_dict() for r in reports], out, one)
    elif fmt == "html":
        from cnnsize.render_html import write_html  # the drawing, the table and charts: one page

        emit(write_html(reports), out)
    else:
        write([document(r, fmt, columns) for r in reports], fmt, out)


def write_json(items: Sequence[Any], out: IO[str], one: bool | None = None) -> None:
    """One object as itself, several as a list (`one` False: a list whatever the count), as one
    document (`json_text`) written whole. JSON writes every control character, and every character
    outside ASCII, as `\\u001b` and the like."""
    whole = len(items) == 1 if one is None else one
    emit(json_text(items[0] if whole else list(items)) + "\n", out)


def json_text(value: Any, indent: str = "\n", top: bool = True) -> str:
    """`value` as JSON indented by two spaces a level, as `json.dumps(indent=2)` but that a list
    holds each of its objects on one line (a report's layers: one line each), and a list of plain
    values is one line (a shape: `[3, 224, 224]`); a list at the top holds whole objects. Every
    line but the structure's is drawn by json's C encoder: 5x faster on 16,000 layers than
    `indent=2`, which is pure Python."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        fields = (f"{json.dumps(str(key))}: {json_text(item, inner, False)}" for key, item in value.items())
        return "{" + inner + ("," + inner).join(fields) + indent + "}"
    if isinstance(value, (list, tuple)) and value:
        if top:
            return "[" + inner + ("," + inner).join(json_text(item, inner) for item in value) + indent + "]"
        if any(isinstance(item, (dict, list, tuple)) for item in value):
            return "[" + inner + ("," + inner).join(json.dumps(item) for item in value) + indent + "]"
    return json.dumps(value)


def _source(report: Report) -> str:
    """` (specs/toy.yaml)`, or ` (the zoo)` for a spec shipped with cnnsize."""
    if not report.file or report.file == "<stdin>":
        return ""
    from cnnsize import zoo

    if report.file.startswith(zoo.PREFIX):
        return " (the zoo)"
    return f" ({report.file})"
