"""The timing loop: how often it runs the step, what it returns, and its throttled progress."""

from __future__ import annotations

import torch

from cnnsize.backend import timing
from cnnsize.backend.timing import time_steps


def test_runs_warmup_then_timed_iterations():
    calls = []
    result = time_steps(lambda: calls.append(1), warmup=3, iterations=5, device=torch.device("cpu"))
    assert len(calls) == 3 + 5
    assert len(result.latencies) == 5
    assert all(t >= 0 for t in result.latencies)
    # the loop's wall time covers every timed iteration
    assert result.total_seconds >= sum(result.latencies) - 1e-9


def test_progress_is_throttled_but_always_reports_the_end(monkeypatch):
    monkeypatch.setattr(timing, "PROGRESS_INTERVAL_S", 3600.0)
    seen = []
    time_steps(
        lambda: None, warmup=2, iterations=50, device=torch.device("cpu"), progress=lambda d, t: seen.append((d, t))
    )
    # the first call reports (nothing was reported before), then nothing until the last step
    assert seen == [(1, 52), (52, 52)]


def test_without_throttling_every_step_reports():
    seen = []
    timing_interval = timing.PROGRESS_INTERVAL_S
    try:
        timing.PROGRESS_INTERVAL_S = 0.0
        time_steps(
            lambda: None, warmup=1, iterations=3, device=torch.device("cpu"), progress=lambda d, t: seen.append(d)
        )
    finally:
        timing.PROGRESS_INTERVAL_S = timing_interval
    assert seen == [1, 2, 3, 4]
