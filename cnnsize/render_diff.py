"""`cnnsize diff` drawn: a headline of the totals' changes, then the layers that changed, as a
table, as markdown for a pull-request comment (the table folded in a `<details>` section), or as
JSON for bots. Drawing only: `cnnsize.diff` computes."""

from __future__ import annotations

from typing import IO, Callable, Optional

from cnnsize.diff import Diff, RowChange, Side, Total, receptive_text
from cnnsize.listing import Document, Listing, Part, Text, emit, markdown, write
from cnnsize.provenance import compared
from cnnsize.render import write_json
from cnnsize.shapes import shape_text
from cnnsize.units import human_bytes

LABELS = {
    "params": "params",
    "macs": "MACs",
    "flops": "FLOPs",
    "activation_memory": "activations",
    "saved_memory": "saved for backward",
    "train_memory": "training memory",
    "inference_memory": "inference memory",
    "largest_batch": "largest batch",
}


def signed(n: int, show: Callable[[int], str]) -> str:
    """`+1,234`, `-2.00 MiB`, `0`."""
    if n == 0:
        return "0"
    return ("+" if n > 0 else "-") + show(abs(n))


def _count(n: int) -> str:
    return f"{n:,}"


def total_text(total: Total, counted_as: str = "counted") -> str:
    """`params +1,234 (+0.52%)`; `training memory: n/a` where a side has none. `counted_as` names
    the figure of another tool's convention (`flops (fvcore)`)."""
    label = counted_as if total.name == "counted" else LABELS[total.name]
    if total.delta is None:
        return f"{label} n/a"
    show = human_bytes if total.kind == "bytes" else _count
    text = f"{label} {signed(total.delta, show)}"
    if total.relative is not None and total.delta:
        text += f" ({total.relative:+.2%})"
    return text


def headline(diff: Diff) -> str:
    """One line: what the change does to the whole network."""
    changed = diff.changed()
    counts = {status: sum(1 for c in changed if c.status == status) for status in ("changed", "added", "removed")}
    layers = ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "no layer changed"
    counted_as = diff.new.counted.convention.heading if diff.new.counted is not None else "counted"
    totals = "; ".join(total_text(t, counted_as) for t in diff.totals)
    return f"{diff.old.name} -> {diff.new.name}: {totals} ({layers})"


def _shape(change: RowChange) -> str:
    def text(side: Optional[Side]) -> str:
        return ", ".join(shape_text(s) for s in side.row.output_shapes) if side else ""

    old, new = text(change.old), text(change.new)
    return new or old if old == new or not old or not new else f"{old} -> {new}"


def _receptive(change: RowChange) -> str:
    old = receptive_text(change.old.row) if change.old else ""
    new = receptive_text(change.new.row) if change.new else ""
    return new or old if old == new or not old or not new else f"{old} -> {new}"


HEADER = ["Layer", "Change", "Output shape", "Δ Params", "Δ MACs", "Δ Activations", "Δ Saved", "Receptive field"]


def document(diff: Diff) -> Document:
    changed = diff.changed()
    parts: list[Part] = [Text(headline(diff), bold=True), Text(compared(diff.old, diff.new), stamp=True)]
    counted = diff.new.counted.convention.heading if diff.new.counted is not None else None
    extra = [f"Δ {counted}"] if counted else []
    if changed:
        parts.append(
            Listing(
                header=[
                    "Layer",
                    "Change",
                    "Output shape",
                    "Δ Params",
                    "Δ MACs",
                    *extra,
                    "Δ Activations",
                    "Δ Saved",
                    "Receptive field",
                ],
                rows=[
                    [
                        c.label,
                        c.status,
                        _shape(c),
                        signed(c.delta("params"), _count),
                        signed(c.delta("macs"), _count),
                        *([signed(c.delta("counted"), _count)] if counted else []),
                        signed(c.delta("activation_bytes"), human_bytes),
                        signed(c.delta("saved"), human_bytes),
                        _receptive(c),
                    ]
                    for c in changed
                ],
                left=3,
                depths=[c.depth for c in changed],
                hideable=("Receptive field", "Δ Saved", "Δ Activations", *extra, "Δ MACs", "Output shape"),
            )
        )
    header = (*CSV_HEADER, "delta_counted") if counted else CSV_HEADER
    rows = [_csv_row(c) + ([c.delta("counted")] if counted else []) for c in changed]
    return Document(parts, header, rows, [compared(diff.old, diff.new)])


CSV_HEADER = (
    "layer", "status", "old_output_shape", "new_output_shape", "delta_params", "delta_macs",
    "delta_activation_bytes", "delta_saved_bytes", "old_receptive_field", "new_receptive_field",
)  # fmt: skip


def _csv_row(c: RowChange) -> list[object]:
    def shape(side: Optional[Side]) -> str:
        return ", ".join(shape_text(s) for s in side.row.output_shapes) if side else ""

    return [
        c.label,
        c.status,
        shape(c.old),
        shape(c.new),
        c.delta("params"),
        c.delta("macs"),
        c.delta("activation_bytes"),
        c.delta("saved"),
        receptive_text(c.old.row) if c.old else "",
        receptive_text(c.new.row) if c.new else "",
    ]


def render_diff(diff: Diff, fmt: str, out: IO[str]) -> None:
    """`diff` as `table`, `markdown` (headline, then the layers in a collapsed section), `json`, or
    `csv` (a row per layer that changed, raw numbers)."""
    if fmt == "json":
        write_json([diff.to_dict()], out, True)
    elif fmt == "markdown":
        doc = document(diff)
        headline, stamp, *tables = doc.parts
        text = markdown(Document([headline]))  # the headline, as a heading, never HTML
        if tables:
            table = markdown(Document(tables))
            count = len(diff.changed())
            summary = f"{count} layer{'s' if count != 1 else ''} changed"
            text += f"\n<details><summary>{summary}</summary>\n\n{table}\n</details>\n"
        emit(text + "\n" + markdown(Document([stamp])), out)
    else:
        write([document(diff)], fmt, out)


__all__ = ["headline", "render_diff", "total_text"]
