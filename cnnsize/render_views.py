"""`cnnsize report --view sharing|paths` drawn: the lecture's views of a network, in every format
(a table, Markdown, CSV of raw figures, LaTeX, and JSON, each result's `to_dict()`). Computing lives
in `cnnsize.sharing` and `cnnsize.paths`; drawing is `cnnsize.listing`'s."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import IO, Optional, Sequence, Union

from cnnsize.errors import format_path
from cnnsize.listing import Document, Listing, Panel, Part, Text, write
from cnnsize.paths import MOST, Distribution, OutputPaths, Paths
from cnnsize.provenance import made_at
from cnnsize.render import _source, write_json
from cnnsize.shapes import shape_text
from cnnsize.sharing import Sharing, SharingRow

View = Union[Sharing, Paths]


def times(part: int, whole: int) -> str:
    """`41,405x`, `9.6x`: how many times `whole` goes into `part`, rounded for reading."""
    if not whole:
        return "-"
    value = Decimal(part) / Decimal(whole)
    return f"{value:,.0f}x" if value >= 100 else f"{value:,.1f}x"


def percent(part: int, whole: int) -> str:
    """`2.44%`, `0.235%`, `0.0000123%`: `part / whole` with three significant digits (two decimals
    from 1% up), never in scientific notation."""
    if not whole:
        return "-"
    value = Decimal(100 * part) / Decimal(whole)
    if value == 0 or value >= 1:
        return f"{value:.2f}%"
    digits = 2 - value.adjusted()  # adjusted(): the exponent of the first significant digit
    return f"{value:.{digits}f}%"


def share(part: int, whole: int) -> str:
    """`12.50%`; `<0.01%` and `>99.99%` where two decimals would round some to none, or not all to all."""
    value = Fraction(100 * part, whole)
    if 0 < value < Fraction(1, 200):
        return "<0.01%"
    if Fraction(19_999, 200) <= value < 100:
        return ">99.99%"
    return f"{Decimal(value.numerator) / Decimal(value.denominator):.2f}%"


def _title(view: View) -> list[Part]:
    return [
        Text(f"{view.name}{_source(view)}", bold=True),  # type: ignore[arg-type]  # name and file, as a report's
        Text(made_at(view.inputs, view.batch_size, view.dtype).text(), stamp=True),
    ]


# -- sharing -------------------------------------------------------------------------------------

SHARING_HEADER = [
    "Layer", "Type", "Input", "Output", "Params", "Unshared", "Fully connected", "FC / params", "Per unit",
    "All inputs", "Per unit / all",
]  # fmt: skip
SHARING_NOTES = (
    "Params: the convolution's own weights and biases.",
    "Unshared: a locally connected layer, as sparse but without parameter sharing: a weight per connection, "
    "and a bias per output unit where the convolution has a bias.",
    "Fully connected: every input element to every output element: in x out weights, and out biases where "
    "the convolution has a bias.",
    "Per unit: the inputs one output unit reads, C_in/groups x kH x kW with the padding (for conv_transpose2d, "
    "the most any unit reads), the bias not counted. All inputs: what a fully connected unit reads.",
)
SHARING_CSV = (
    "network", "path", "name", "type", "input_shape", "output_shape", "bias", "params", "unshared_params",
    "dense_params", "connections_per_unit", "inputs", "output_units",
)  # fmt: skip


def _label(path: tuple[Union[str, int], ...], name: Optional[str]) -> str:
    text = format_path(path)
    return f"{text} ({name})" if name else text


def _sharing_cells(row: SharingRow) -> list[str]:
    return [
        _label(row.path, row.name),
        row.type,
        shape_text(row.input_shape),
        shape_text(row.output_shape),
        f"{row.params:,}",
        f"{row.unshared:,}",
        f"{row.dense:,}",
        times(row.dense, row.params),
        f"{row.per_unit:,}",
        f"{row.inputs:,}",
        percent(row.per_unit, row.inputs),
    ]


def sharing_document(view: Sharing) -> Document:
    """The sharing view: a row per convolution and a total row, then what each column counts."""
    parts = _title(view)
    if view.rows:
        total = ["Total", "", "", "", f"{view.params:,}", f"{view.unshared:,}", f"{view.dense:,}",
                 times(view.dense, view.params), "", "", ""]  # fmt: skip
        rows = [_sharing_cells(row) for row in view.rows] + [total]
        parts += [
            Listing(
                SHARING_HEADER,
                rows,
                left=4,
                dim=[False] * len(view.rows) + [True],
                hideable=("Per unit / all", "All inputs", "Unshared", "Input", "Type", "FC / params"),
            ),
            *(Text(note) for note in SHARING_NOTES),
        ]
    else:
        parts.append(Text("No convolution (conv2d or conv_transpose2d): nothing shares parameters."))
    csv_rows = [
        [
            view.name,
            format_path(r.path),
            r.name or "",
            r.type,
            shape_text(r.input_shape),
            shape_text(r.output_shape),
            r.bias,
            r.params,
            r.unshared,
            r.dense,
            r.per_unit,
            r.inputs,
            r.units,
        ]  # fmt: skip
        for r in view.rows
    ]
    stamp = made_at(view.inputs, view.batch_size, view.dtype).text()
    return Document(parts, SHARING_CSV, csv_rows, [f"{view.name}: {stamp}"])


# -- paths ---------------------------------------------------------------------------------------

PATHS_CSV = ("network", "output", "measure", "length", "paths")
UNITS = {"layers": ("weighted layer", "weighted layers"), "blocks": ("residual block", "residual blocks")}


def count_text(n: int) -> str:
    """`65,536 (2^16)`: a power of two says so; `1` alone."""
    if n > 1 and n & (n - 1) == 0:
        return f"{n:,} (2^{n.bit_length() - 1})"
    return f"{n:,}"


def _lengths(d: Distribution, measure: str) -> list[tuple[str, str]]:
    one, many = UNITS[measure]
    low, high, held = d.most()
    mean = d.mean
    mean_text = f"{Decimal(mean.numerator) / Decimal(mean.denominator):.2f}"
    depth = f" ({percent(mean.numerator, mean.denominator * d.longest)} of the longest)" if d.longest else ""
    span = f"{d.shortest} to {d.longest}" if d.shortest != d.longest else f"{d.shortest}"
    return [
        (f"Length in {many}", f"{span}, mean {mean_text}{depth}"),
        (
            f"Most paths ({float(MOST):.0%})",
            f"{low} to {high} {many}: {_plural(held, 'path')} ({share(held, d.total)})"
            if low != high
            else f"{low} {one if low == 1 else many}: {_plural(held, 'path')} ({share(held, d.total)})",
        ),
    ]


def _plural(n: int, what: str) -> str:
    return f"{n:,} {what}" if n == 1 else f"{n:,} {what}s"


def _paths_panel(view: Paths, output: OutputPaths) -> Panel:
    title = "Paths" if len(view.outputs) == 1 else f"Paths to {output.output}"
    total = output.layers.total
    inputs = f" from {len(view.inputs)} inputs" if len(view.inputs) > 1 else ""
    lines = [("Paths", count_text(total) + inputs)]
    if view.joins == 0:
        lines[0] = ("Paths", "1: no join, the network is a chain")
    if view.blocks:
        shortcuts = (
            f"{_plural(view.identities, 'identity shortcut')}, {_plural(view.projections, 'projection shortcut')}"
        )
        lines.append(("Residual blocks", f"{view.blocks}: {shortcuts}"))
    else:
        lines.append(("Residual blocks", "none"))
    others = view.joins - view.blocks
    if others:
        lines.append(("Other joins", f"{others} (add, cat or mul layers that are no residual block's)"))
    lines += _lengths(output.layers, "layers")
    if output.blocks is not None:
        lines += _lengths(output.blocks, "blocks")
    return Panel(title, lines)


def _distribution(d: Distribution, measure: str, output: Optional[str]) -> Listing:
    _, many = UNITS[measure]
    title = f"Paths by length in {many}" + (f", to {output}" if output else "")
    rows, held = [], 0
    for length, n in d.counts:
        held += n
        rows.append([f"{length:,}", f"{n:,}", share(n, d.total), share(held, d.total)])
    return Listing(["Length", "Paths", "Share", "Cumulative"], rows, title=title, left=0)


def paths_document(view: Paths) -> Document:
    """The paths view: for each output a panel of the counts, then the distributions."""
    parts = _title(view)
    several = len(view.outputs) > 1
    csv_rows: list[list[object]] = []
    for output in view.outputs:
        parts.append(_paths_panel(view, output))
        measures = [("layers", output.layers)] + ([("blocks", output.blocks)] if output.blocks is not None else [])
        for measure, d in measures:
            parts.append(_distribution(d, measure, output.output if several else None))
            csv_rows += [[view.name, output.output, measure, length, n] for length, n in d.counts]
    stamp = made_at(view.inputs, view.batch_size, view.dtype).text()
    return Document(parts, PATHS_CSV, csv_rows, [f"{view.name}: {stamp}"])


# -- both ----------------------------------------------------------------------------------------


def document(view: View) -> Document:
    return sharing_document(view) if isinstance(view, Sharing) else paths_document(view)


def render_views(views: Sequence[View], fmt: str, out: IO[str], one: Optional[bool] = None) -> None:
    """`views` (all of one kind) as `table`, `markdown`, `csv`, `latex` or `json` (one object for
    one spec, a list for several; `one` False: a list whatever the count), drawn whole, then written."""
    if fmt == "json":
        write_json([view.to_dict() for view in views], out, one)
    else:
        write([document(view) for view in views], fmt, out)


__all__ = ["count_text", "document", "paths_document", "percent", "render_views", "sharing_document", "times"]
