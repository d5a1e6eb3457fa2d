"""Rendering `cnnsize verify --nproc N`: each rank's measured peak beside the plan, what it holds,
and the throughput across ranks against one process. Imports rich only when drawing."""

from __future__ import annotations

from typing import Any, Optional

from cnnsize.distributed_verification import STRATEGIES, DistributedVerification, RankResult
from cnnsize.listing import Document, Listing, Panel, Part, Text
from cnnsize.units import human_bytes

MATCH, DIFFERS = "✓", "✗"

CSV_HEADER = (
    "network", "strategy", "nproc", "backend", "device", "dtype", "optimizer", "batch_size_per_rank", "rank",
    "peak_bytes", "peak_phase", "held_after_bytes", "planned_bytes", "planned_over_measured",
    "parameter_elements", "parameter_bytes", "gradient_bytes", "optimizer_state_bytes", "seconds", "steps",
    "images_per_s", "single_process_images_per_s", "scaling_efficiency",
)  # fmt: skip


def bytes_cell(size: Optional[int]) -> str:
    return "-" if size is None else f"{human_bytes(size)} ({size:,} B)"


def ratio_text(ratio: Optional[float]) -> str:
    """Planned over measured as a signed error: 1.031 -> '+3.1%'."""
    return "-" if ratio is None else f"{ratio - 1:+.1%}"


def distributed_document(v: DistributedVerification) -> Document:
    """The ranks' table, the throughput and the verdict."""
    where = f" ({v.file})" if v.file else ""
    heading = (
        f"{v.name}{where}: {v.strategy} on {v.nproc} processes ({STRATEGIES[v.strategy]}), {v.backend} on "
        f"{v.device}; PyTorch {v.torch_version}, {v.dtype}, {v.optimizer}, batch {v.batch_size} per process"
    )
    ranks = Listing(
        title="Memory per rank (a steady training step: forward, backward, optimizer step)",
        header=(
            "Rank",
            "Peak measured",
            "Peak in",
            "Planned",
            "Plan's error",
            "Parameters held",
            "Gradients",
            "Optimizer state",
        ),
        rows=[_rank_row(v, r) for r in v.ranks],
    )
    slowest = max(r.seconds for r in v.ranks)
    identical = v.weights_identical
    weights = (
        "each rank holds a shard (nothing to compare)"
        if identical is None
        else f"identical on every rank after training {MATCH}"
        if identical
        else f"{DIFFERS} the ranks' weights differ after training"
    )
    lines = [
        (
            "Across ranks",
            f"{v.images_per_s:,.1f} images/s ({v.nproc} x {v.batch_size} images x {v.iterations} steps "
            f"in {slowest:.3f} s, the slowest rank, after {v.warmup} warm-up)",
        ),
        ("One process", f"{v.single_images_per_s:,.1f} images/s (the same steps and batch, no process group)"),
        ("Scaling efficiency", f"{v.scaling_efficiency:.1%} (images/s across ranks / ({v.nproc} x one process))"),
        ("Weights", weights),
        ("Peak measured by", v.peak_source),
    ]
    if v.plan_note:
        lines.append(("Plan", v.plan_note))
    parts: list[Part] = [Text(heading, bold=True), ranks, Panel("Throughput", lines)]
    verdict = "PASSED" if v.passed else "FAILED"
    parts.append(Text(f"{verdict}: all {v.nproc} ranks trained {v.warmup + 1 + v.iterations} steps.", bold=True))
    return Document(parts, CSV_HEADER, [_csv_row(v, r) for r in v.ranks])


def _rank_row(v: DistributedVerification, r: RankResult) -> tuple[str, ...]:
    total = sum(p.elements for p in r.parameters)
    held = f"{r.parameter_elements:,} of {total:,} ({human_bytes(r.parameter_bytes)})"
    return (
        str(r.rank),
        bytes_cell(r.peak_bytes),
        r.peak_phase or "-",
        bytes_cell(v.planned(r)),
        ratio_text(v.ratio(r)),
        held,
        human_bytes(r.gradient_bytes),
        human_bytes(r.optimizer_state_bytes),
    )


def _csv_row(v: DistributedVerification, r: RankResult) -> list[Any]:
    return [v.name, v.strategy, v.nproc, v.backend, v.device, v.dtype, v.optimizer, v.batch_size, r.rank,
            r.peak_bytes, r.peak_phase or "", _or_blank(r.held_after_bytes), _or_blank(v.planned(r)),
            _or_blank(v.ratio(r)), r.parameter_elements, r.parameter_bytes, r.gradient_bytes,
            r.optimizer_state_bytes, r.seconds, r.steps, v.images_per_s, v.single_images_per_s,
            v.scaling_efficiency]  # fmt: skip


def _or_blank(value: Optional[float]) -> Any:  # an int too
    return "" if value is None else value
