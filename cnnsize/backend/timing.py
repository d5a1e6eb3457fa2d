"""Timing a step (a forward pass, or a training step) the way a careful hand-written loop would:
warm-up first, then each timed iteration measured without stalling the device.

On CUDA (and MPS) each iteration is bracketed by device events, read once after the loop, so the
host never waits inside the loop; on the CPU the work is done when the call returns, and clock
readings bracket each call. The optional progress callback runs between iterations, outside every
latency (the loop's total time includes it), and is throttled to a few calls a second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch

from cnnsize.backend.device import synchronize

Progress = Callable[[int, int], None]  # (steps done, steps in all), warm-up included
PROGRESS_INTERVAL_S = 0.25


@dataclass(frozen=True)
class Timing:
    """Seconds per timed iteration, and the wall time of the whole timed loop (device synchronised)."""

    latencies: tuple[float, ...]
    total_seconds: float


def time_steps(
    step: Callable[[], Any],
    *,
    warmup: int,
    iterations: int,
    device: torch.device,
    progress: Optional[Progress] = None,
) -> Timing:
    """Run `step` `warmup` times, then `iterations` timed times."""
    report = _Throttled(progress, warmup + iterations)
    for i in range(warmup):
        step()
        report(i + 1)
    synchronize(device)
    if device.type in ("cuda", "mps"):
        return _time_with_events(step, iterations, device, report, warmup)
    return _time_with_clock(step, iterations, report, warmup)


def _time_with_clock(step: Callable[[], Any], iterations: int, report: "_Throttled", done: int) -> Timing:
    latencies = [0.0] * iterations
    start = time.perf_counter()
    for i in range(iterations):
        before = time.perf_counter()
        step()
        now = time.perf_counter()
        latencies[i] = now - before
        report(done + i + 1, now)
    return Timing(tuple(latencies), time.perf_counter() - start)


def _time_with_events(
    step: Callable[[], Any], iterations: int, device: torch.device, report: "_Throttled", done: int
) -> Timing:
    event = torch.cuda.Event if device.type == "cuda" else torch.mps.event.Event
    starts = [event(enable_timing=True) for _ in range(iterations)]
    ends = [event(enable_timing=True) for _ in range(iterations)]
    start = time.perf_counter()
    for i in range(iterations):
        starts[i].record()
        step()
        ends[i].record()
        report(done + i + 1)
    synchronize(device)
    total = time.perf_counter() - start
    return Timing(tuple(s.elapsed_time(e) / 1000 for s, e in zip(starts, ends)), total)  # type: ignore[arg-type]


class _Throttled:
    """Calls `progress(done, total)` at most every `PROGRESS_INTERVAL_S`, and always at the end."""

    def __init__(self, progress: Optional[Progress], total: int):
        self.progress = progress
        self.total = total
        self.last = float("-inf")

    def __call__(self, done: int, now: Optional[float] = None) -> None:
        if self.progress is None:
            return
        now = time.perf_counter() if now is None else now
        if done == self.total or now - self.last >= PROGRESS_INTERVAL_S:
            self.last = now
            self.progress(done, self.total)
