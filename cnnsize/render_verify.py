"""Rendering `cnnsize verify`: tables of shapes and counts, throughput and memory, a verdict; JSON;
and the progress bar shown while timing. Like `render.py`, it imports rich only when drawing."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import IO, Any, Iterator, Optional

from cnnsize.kinds.base import shape_text
from cnnsize.render import _console
from cnnsize.units import human_bytes, human_count
from cnnsize.verification import Verification

MATCH, DIFFERS = "✓", "✗"


def render_verification(verification: Verification, fmt: str, out: Optional[IO[str]] = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        json.dump(verification.to_dict(), out, indent=2)
        out.write("\n")
    else:
        print_verification(verification, out)


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
    lines = [
        (
            "Saved for backward",
            f"{human_bytes(m.saved_activation_bytes)} ({m.saved_activation_bytes:,} B) of activations "
            "(training mode, each storage once)",
        ),
        ("Engine's activations", f"{human_bytes(m.engine_activation_bytes)} ({m.engine_activation_bytes:,} B)"),
        ("Weights saved", f"{human_bytes(m.saved_parameter_bytes)} (the parameters themselves: no extra memory)"),
    ]
    if m.peak_allocated_bytes is not None:
        lines.append(
            (
                "Peak allocated",
                f"{human_bytes(m.peak_allocated_bytes)} ({m.peak_allocated_bytes:,} B) while timing; engine's "
                f"estimate {human_bytes(m.engine_estimate_bytes)} ({m.engine_estimate_bytes:,} B)",
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


def print_verification(v: Verification, out: IO[str]) -> None:
    from rich.table import Table

    console = _console(out)
    where = f" ({v.file})" if v.file else ""
    flags = [name for name in ("channels_last", "compile") if v.options.get(name)]
    console.print(
        f"[bold]{v.name}[/bold]{where} in PyTorch {v.torch_version} on {v.device}, {v.dtype}, batch {v.batch_size}"
        + (f", {', '.join(flags)}" if flags else "")
    )
    shapes = Table(title="Output shapes", title_justify="left", header_style="bold")
    for column in ("Layer", "Type", "Module", "Engine", "PyTorch", "Match"):
        shapes.add_column(column, no_wrap=True)
    for layer in v.layers:
        real = shape_text(layer.measured_shape) if layer.measured_shape is not None else "-"
        mark = MATCH if layer.matches else DIFFERS
        shapes.add_row(layer.label, layer.type, layer.module, shape_text(layer.engine_shape), real, mark)
    console.print(shapes)
    counts = Table(title="Counts", title_justify="left", header_style="bold")
    for i, column in enumerate(("Total", "Engine", "PyTorch", "Difference", "Match")):
        counts.add_column(column, justify="right" if 0 < i < 4 else "left")
    for f in v.totals:
        mark = MATCH if f.matches else DIFFERS
        counts.add_row(f.label, f"{f.engine:,}", f"{f.measured:,}", f"{f.measured - f.engine:+,}", mark)
    console.print(counts)
    for title, lines in (("Throughput", throughput_lines(v)), ("Memory", memory_lines(v))):
        if lines:
            _print_grid(console, title, lines)
    failures = v.failures()
    if failures:
        console.print(f"[bold]FAILED[/bold]: {len(failures)} difference(s) between the engine and PyTorch:")
        for line in failures:
            console.print(f"  {line}", markup=False)
    else:
        console.print(f"[bold]PASSED[/bold]: all {len(v.layers)} output shapes and {len(v.totals)} totals match.")


def _print_grid(console: Any, title: str, lines: list[tuple[str, str]]) -> None:
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, value in lines:
        grid.add_row(label, value)
    console.print(f"[bold]{title}[/bold]")
    console.print(grid)


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
    with Progress(*columns, console=_console(out), auto_refresh=False) as progress:
        task = progress.add_task("timing", total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, refresh=True)

        yield update
