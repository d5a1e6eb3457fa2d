"""Rendering `cnnsize verify`: tables of shapes and counts, throughput and memory, a verdict; JSON;
and the progress bar shown while timing. Like `render.py`, it imports rich only when drawing."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import IO, Any, Iterator, Optional, Sequence, Union

from cnnsize.distributed_verification import DistributedVerification
from cnnsize.errors import format_path
from cnnsize.listing import Document, Listing, Panel, Part, Text, console_for, write
from cnnsize.render import write_json
from cnnsize.render_distributed import distributed_document
from cnnsize.units import human_bytes, human_count
from cnnsize.verification import Verification, shown

MATCH, DIFFERS = "✓", "✗"


def render_verification(verification: Verification, fmt: str, out: Optional[IO[str]] = None) -> None:
    """`verification` as `table`, `markdown`, `csv` (one row per layer checked) or `json`."""
    render_verifications([verification], fmt, out)


def render_verifications(
    verifications: Sequence[Union[Verification, DistributedVerification]],
    fmt: str,
    out: Optional[IO[str]] = None,
    one: Optional[bool] = None,
) -> None:
    """Several verifications in one output, drawn whole, then written: JSON as `render.write_json`
    (one object for one, a list for several or with `one` False), CSV under one header."""
    out = out or sys.stdout
    if fmt == "json":
        write_json([v.to_dict() for v in verifications], out, one)
    else:
        write([distributed_document(v) if isinstance(v, DistributedVerification) else document(v)
               for v in verifications], fmt, out)  # fmt: skip


def seconds_text(seconds: float) -> str:
    """0.00226 -> '2.26 ms'."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.2f} {unit}"
    return f"{seconds * 1e9:.0f} ns"


def rate_text(per_second: float, unit: str) -> str:
    """95.8e9, 'FLOP/s' -> '95.81 GFLOP/s'."""
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if per_second >= scale:
            return f"{per_second / scale:.2f} {prefix}{unit}"
    return f"{per_second:.2f} {unit}"


def memory_lines(v: Verification) -> list[tuple[str, str]]:
    m = v.memory
    difference = m.model_saved_bytes - m.saved_activation_bytes
    verdict = MATCH if m.saved_matches else f"{DIFFERS} {difference:+,} B"
    lines = [
        (
            "Saved for backward",
            f"{human_bytes(m.saved_activation_bytes)} ({m.saved_activation_bytes:,} B) of activations "
            "(training mode, each storage once)",
        ),
        (
            "Memory model's estimate",
            f"{human_bytes(m.model_saved_bytes)} ({m.model_saved_bytes:,} B) {verdict}",
        ),
        ("Engine's activations", f"{human_bytes(m.engine_activation_bytes)} ({m.engine_activation_bytes:,} B)"),
        ("Weights saved", f"{human_bytes(m.saved_parameter_bytes)} (the parameters themselves: no extra memory)"),
    ]
    if m.peak_allocated_bytes is not None:
        lines.append(
            (
                "Peak allocated",
                f"{human_bytes(m.peak_allocated_bytes)} ({m.peak_allocated_bytes:,} B) while timing; the memory "
                f"planner's estimate {human_bytes(m.engine_estimate_bytes)} ({m.engine_estimate_bytes:,} B)",
            )
        )
    return lines


def throughput_lines(v: Verification) -> list[tuple[str, str]]:
    t = v.throughput
    if t is None:
        return []
    step = "forward + backward + SGD step" if t.mode == "training" else "forward pass"
    work = "3 x the engine's forward FLOPs" if t.mode == "training" else "the engine's FLOPs"
    return [
        ("Timed", f"{t.iterations} iterations of one {step} after {t.warmup} warm-up, batch {t.batch_size}"),
        (
            "Latency per batch",
            f"median {seconds_text(t.median_s)} (p10 {seconds_text(t.p10_s)}, p90 {seconds_text(t.p90_s)})",
        ),
        ("Throughput", f"{t.images_per_s:,.1f} images/s at the median ({t.mean_images_per_s:,.1f} over the loop)"),
        ("Achieved", f"{rate_text(t.flops_per_s, 'FLOP/s')} ({human_count(t.flops_per_step)} FLOPs per step: {work})"),
    ]


CSV_HEADER = (
    "network", "path", "name", "type", "module", "engine_shape", "pytorch_shape", "match",
    "params_engine", "params_pytorch", "non_trainable_params_engine", "non_trainable_params_pytorch",
    "flops_engine", "flops_pytorch",
)  # fmt: skip


def document(v: Verification) -> Document:
    """Shapes and counts beside PyTorch's, throughput, memory and the verdict."""
    flags = [name for name in ("channels_last", "compile") if v.options.get(name)]
    where = f" ({v.file})" if v.file else ""
    heading = f"{v.name}{where} in PyTorch {v.torch_version} on {v.device}, {v.dtype}, batch {v.batch_size}"
    shapes = Listing(
        title="Output shapes",
        header=("Layer", "Type", "Module", "Engine", "PyTorch", "Match"),
        rows=[
            (
                layer.label,
                layer.type,
                layer.module,
                shown(layer.engine_shape),
                shown(layer.measured_shape) if layer.measured_shape is not None else "-",
                MATCH if layer.matches else DIFFERS,
            )
            for layer in v.layers
        ],
        left=6,
    )
    counts = Listing(
        title="Counts",
        header=("Total", "Engine", "PyTorch", "Difference", "Match"),
        rows=[
            (
                f.label,
                f"{f.engine:,}",
                f"{f.measured:,}",
                f"{f.measured - f.engine:+,}",
                MATCH if f.matches else DIFFERS,
            )
            for f in v.totals
        ],
    )
    parts: list[Part] = [Text(heading + (f", {', '.join(flags)}" if flags else ""), bold=True), shapes, counts]
    parts += [
        Panel(title, lines)
        for title, lines in (("Throughput", throughput_lines(v)), ("Memory", memory_lines(v)))
        if lines
    ]
    failures = v.failures()
    if failures:
        parts.append(Text(f"FAILED: {len(failures)} difference(s) between the engine and PyTorch:", bold=True))
        parts += [Text(f"  {line}") for line in failures]
    else:
        parts.append(Text(f"PASSED: all {len(v.layers)} output shapes and {len(v.totals)} totals match.", bold=True))
    return Document(parts, CSV_HEADER, [_csv_row(v, layer) for layer in v.layers])


def _csv_row(v: Verification, layer: Any) -> list[Any]:
    figures = {f.quantity: f for f in layer.figures}
    counts = []
    for quantity in ("params", "non_trainable_params", "flops"):
        figure = figures.get(quantity)
        counts += [figure.engine, figure.measured] if figure else ["", ""]
    measured = shown(layer.measured_shape) if layer.measured_shape is not None else ""
    return [v.name, format_path(layer.path), layer.name or "", layer.type, layer.module,
            shown(layer.engine_shape), measured, layer.matches, *counts]  # fmt: skip


@contextmanager
def progress_bar(out: Optional[IO[str]] = None) -> Iterator[Optional[Any]]:
    """A callback `(done, total)` drawing a progress bar on `out` (stderr), or None when `out` is
    not a terminal (nothing to animate; pipes and logs stay clean). The bar is redrawn only when
    the callback is called (no refresh thread competes with the timed work for the CPU)."""
    out = out or sys.stderr
    if not (hasattr(out, "isatty") and out.isatty()):
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("timing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console_for(out), auto_refresh=False) as progress:
        task = progress.add_task("timing", total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, refresh=True)

        yield update
