"""What changed between two analyses of a network (`cnnsize diff`): layers matched by name (by
kind and place where they have none), each one's change, the totals' changes, and growth gates.

Computing only: `render_diff` draws it. Linear in the layers of both reports: rows are matched
through a dictionary, and a removed layer is shown after the last layer before it that both have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional, Sequence

from cnnsize.errors import UsageError, format_path
from cnnsize.provenance import stamp
from cnnsize.report import LayerRow, Report
from cnnsize.units import human_bytes, parse_bytes, parse_count

Status = Literal["changed", "added", "removed", "same"]


def receptive_text(row: LayerRow) -> str:
    """`7x7`, or `-` where the field is unknown or the network has no volume input."""
    rf = row.receptive_field
    return "x".join(str(v) for v in rf.size) if rf is not None else "-"


@dataclass(frozen=True)
class Side:
    """One layer as one report has it, with its bytes saved for backward."""

    row: LayerRow
    saved: int
    counted: int = 0  # the figure of another tool's convention (`--convention`), 0 without one

    def figures(self) -> tuple[Any, ...]:
        r = self.row
        return (
            r.type,
            r.output_shapes,
            r.params,
            r.macs,
            r.activation_bytes,
            self.saved,
            receptive_text(r),
            self.counted,
        )


@dataclass(frozen=True)
class RowChange:
    """A layer of either report, matched by `key` (see `_keyed`); `depth` nests it."""

    key: str
    depth: int
    old: Optional[Side]
    new: Optional[Side]

    @property
    def label(self) -> str:
        """The layer as a person finds it: its name, or its path in the new spec (the old, removed)."""
        side = self.new or self.old
        assert side is not None
        row = side.row
        return f"{format_path(row.path)} ({row.name})" if row.name else format_path(row.path)

    @property
    def status(self) -> Status:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "same" if self.old.figures() == self.new.figures() else "changed"

    def delta(self, figure: str) -> int:
        """new - old of `params`, `macs`, `activation_bytes`, `saved` or `counted` (a missing side
        counts 0)."""
        return _figure(self.new, figure) - _figure(self.old, figure)


def _figure(side: Optional[Side], figure: str) -> int:
    if side is None:
        return 0
    if figure in ("saved", "counted"):
        return int(getattr(side, figure))
    return int(getattr(side.row, figure))


@dataclass(frozen=True)
class Total:
    """One whole-network figure on both sides; `kind` says how a gate reads it."""

    name: str
    old: Optional[int]
    new: Optional[int]
    kind: Literal["count", "bytes", "batch"]

    @property
    def delta(self) -> Optional[int]:
        return None if self.old is None or self.new is None else self.new - self.old

    @property
    def relative(self) -> Optional[float]:
        """The change as a fraction of the old figure; None where there is none to compare with."""
        if self.delta is None or not self.old:
            return None
        return self.delta / self.old


# Gates by name: the totals `--max-growth` may bound.
GATES = ("params", "macs", "flops", "activation_memory", "saved_memory", "train_memory", "inference_memory")


@dataclass(frozen=True)
class Gate:
    """At most `limit` growth of the total `name`: a fraction (`5%` -> 0.05) or an absolute amount."""

    name: str
    limit: float | int
    relative: bool
    text: str


def parse_gates(text: str) -> list[Gate]:
    """`params=5%,macs=10%,train_memory=1GiB` as gates; a `UsageError` names what is wrong."""
    gates = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, limit = item.partition("=")
        name, limit = name.strip(), limit.strip()
        if not sep or name not in GATES:
            raise UsageError(f"--max-growth takes NAME=LIMIT items with NAME one of {', '.join(GATES)}; got {item!r}")
        if limit.endswith("%"):
            try:
                value = float(limit[:-1])
            except ValueError:
                value = -1.0
            if not value >= 0 or value == float("inf"):
                raise UsageError(f"--max-growth {name}: a percentage must be a number from 0 up, got {limit!r}")
            gates.append(Gate(name, value / 100, True, limit))
            continue
        try:
            amount = parse_bytes(limit) if name.endswith("memory") else parse_count(limit)
        except ValueError as error:
            raise UsageError(f"--max-growth {name}: {error}") from None
        gates.append(Gate(name, amount, False, limit))
    if not gates:
        raise UsageError("--max-growth names no gate")
    return gates


@dataclass(frozen=True)
class Diff:
    """Two reports of a network, old and new, and what changed between them."""

    old: Report
    new: Report
    rows: tuple[RowChange, ...]
    totals: tuple[Total, ...]

    def changed(self) -> list[RowChange]:
        return [row for row in self.rows if row.status != "same"]

    def total(self, name: str) -> Total:
        return next(t for t in self.totals if t.name == name)

    def violations(self, gates: Sequence[Gate]) -> list[str]:
        """One line per gate the change exceeds."""
        lines = []
        for gate in gates:
            total = self.total(gate.name)
            if total.delta is None:
                continue  # a figure one side lacks (an untrainable precision) is never compared
            show = human_bytes if total.kind == "bytes" else (lambda n: f"{n:,}")
            grew = f"{gate.name} grew by {show(total.delta)} ({show(total.old)} -> {show(total.new)})"  # type: ignore[arg-type]
            if gate.relative:
                if total.relative is None:
                    if total.delta > 0:
                        lines.append(f"{grew}: from 0, past any relative limit ({gate.text})")
                elif total.relative > gate.limit:
                    lines.append(f"{grew}, {total.relative:+.2%}: more than {gate.text}")
            elif total.delta > gate.limit:
                lines.append(f"{grew}: more than {gate.text}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: both specs, every total with its change, and each layer that changed."""

        def side(s: Optional[Side]) -> Optional[dict[str, Any]]:
            if s is None:
                return None
            r = s.row
            return {
                "type": r.type,
                "output_shapes": [list(shape) for shape in r.output_shapes],
                "params": r.params,
                "macs": r.macs,
                "activation_bytes": r.activation_bytes,
                "saved_bytes": s.saved,
                **({"counted": s.counted} if self.new.counted is not None else {}),
                "receptive_field": receptive_text(r),
            }

        return {
            "old": {"name": self.old.name, "file": self.old.file, "provenance": stamp(self.old).to_dict()},
            "new": {"name": self.new.name, "file": self.new.file, "provenance": stamp(self.new).to_dict()},
            "totals": {
                t.name: {"old": t.old, "new": t.new, "delta": t.delta, "relative": t.relative} for t in self.totals
            },
            "layers": [
                {"layer": c.label, "status": c.status, "old": side(c.old), "new": side(c.new)} for c in self.changed()
            ],
        }


def compare(old: Report, new: Report, batches: tuple[Optional[int], Optional[int]] = (None, None)) -> Diff:
    """The diff of two reports with memory sections (`cnnsize.with_memory`); `batches` are the
    largest batches each fits in a memory limit, when one was given (0: none fits)."""
    for report, which in ((old, "old"), (new, "new")):
        if report.memory is None:
            raise ValueError(f"the {which} report has no memory section: make it with cnnsize.with_memory")
    old_rows, new_rows = _keyed(old), _keyed(new)
    olds = {key: (depth, side) for key, depth, side in old_rows}
    news = {key for key, _, _ in new_rows}
    # each removed layer follows the last layer before it that both reports have (None: the start)
    removed_after: dict[Optional[str], list[RowChange]] = {}
    anchor: Optional[str] = None
    for key, depth, side in old_rows:
        if key in news:
            anchor = key
        else:
            removed_after.setdefault(anchor, []).append(RowChange(key, depth, side, None))
    rows = list(removed_after.get(None, []))
    for key, depth, side in new_rows:
        before = olds.get(key)
        rows.append(RowChange(key, depth, before[1] if before else None, side))
        if before is not None:
            rows.extend(removed_after.get(key, []))
    return Diff(old, new, tuple(rows), _totals(old, new, batches))


def _keyed(report: Report) -> list[tuple[str, int, Side]]:
    """(key, depth, side) for every row. A key says where a layer sits and what it is: its parent's
    key and its name, or, unnamed, its kind and how many of that kind come before it under the same
    parent (`/stem/conv2d#2`), so that inserting a layer does not shift every path after it."""
    assert report.memory is not None
    counts: dict[tuple[str, str], int] = {}
    parents: list[str] = []
    out = []
    for depth, row in report.walk():
        del parents[depth:]
        parent = parents[-1] if parents else ""
        what = f"={row.name}" if row.name else row.type
        counts[parent, what] = counts.get((parent, what), 0) + 1
        key = f"{parent}/{what}#{counts[parent, what]}"
        parents.append(key)
        counted = report.counted.of(row) if report.counted is not None else 0
        out.append((key, depth, Side(row, report.memory.saved_at(row.path), counted)))
    return out


def _totals(old: Report, new: Report, batches: tuple[Optional[int], Optional[int]]) -> tuple[Total, ...]:
    def both(name: str, kind: Literal["count", "bytes", "batch"], get: Any) -> Total:
        return Total(name, get(old), get(new), kind)

    def training(report: Report) -> Optional[int]:
        assert report.memory is not None
        return report.memory.training.total_bytes if report.memory.training is not None else None

    totals = [
        both("params", "count", lambda r: r.totals.params),
        both("macs", "count", lambda r: r.totals.macs),
        both("flops", "count", lambda r: r.totals.flops),
        both("activation_memory", "bytes", lambda r: r.totals.activation_bytes),
        both("saved_memory", "bytes", lambda r: r.memory.saved_bytes),
        both("train_memory", "bytes", training),
        both("inference_memory", "bytes", lambda r: r.memory.inference.total_bytes),
    ]
    if old.counted is not None and new.counted is not None:  # both counted by another tool's convention
        totals.append(Total("counted", old.counted.total, new.counted.total, "count"))
    if batches != (None, None):
        totals.append(Total("largest_batch", batches[0], batches[1], "batch"))
    return tuple(totals)


__all__ = ["GATES", "Diff", "Gate", "RowChange", "Total", "compare", "parse_gates", "receptive_text"]
