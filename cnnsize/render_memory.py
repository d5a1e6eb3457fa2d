"""Drawing the memory planner's figures: a report's memory panel and column, and `cnnsize plan`'s
answer. Computing lives in `cnnsize.planner`, which fills `cnnsize.memory_report`; drawing is
`cnnsize.listing`'s."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from cnnsize.memory_report import Footprint, MemoryReport
from cnnsize.units import human_bytes

if TYPE_CHECKING:
    from cnnsize.parallel import Parallel

DEVICE_NAMES = {"cuda": "CUDA", "cpu": "CPU"}


def bytes_text(n: int) -> str:
    """`21.19 MiB (22,218,240 B)`; just `0 B` for nothing."""
    readable = human_bytes(n)
    return readable if readable == f"{n} B" else f"{readable} ({n:,} B)"


def breakdown_lines(footprint: Footprint) -> list[tuple[str, str]]:
    """(label, bytes) for each line of a footprint that is not empty, then its total."""
    lines = [(label, bytes_text(size)) for label, size in footprint.labelled() if size or label == "Parameters"]
    if footprint.optimizer is not None:
        lines = [(f"{label} ({footprint.optimizer})", value) if label == "Optimizer state" else (label, value)
                 for label, value in lines]  # fmt: skip
    if footprint.moment is not None:  # training: the moment of the step the lines are
        lines.insert(0, ("Peak", footprint.moment))
    return lines


def rank_lines(footprint: Footprint, parallel: "Optional[Parallel]") -> list[tuple[str, str]]:
    """`breakdown_lines`, saying what a rank holds of each: a shard (FSDP) or a partition (ZeRO-1)."""
    lines = breakdown_lines(footprint)
    if parallel is None:
        return lines
    n = parallel.shard_ranks
    whose = {"Parameters": f"1/{n} shard", "Gradients": "shards reduced by the peak"} if parallel.sharded else {}
    if parallel.strategy == "zero1":
        whose["Optimizer state"] = f"rank {footprint.rank}'s partition of {parallel.world}"
    elif parallel.sharded:
        whose["Optimizer state"] = f"rank {footprint.rank}'s rows"
    labelled = []
    for label, value in lines:
        plain = label.split(" (")[0]
        if plain in whose:
            inner = label[len(plain) + 2 : -1] if label != plain else ""
            label = f"{plain} ({inner + ', ' if inner else ''}{whose[plain]})"
        labelled.append((label, value))
    return labelled


def memory_panel(memory: MemoryReport) -> tuple[str, list[tuple[str, str]]]:
    """The report's memory panel: the training footprint line by line, and the inference peak."""
    title = f"Memory (batch {memory.batch_size}, {memory.described}, PyTorch's rules on {DEVICE_NAMES[memory.device]})"
    training, inference = memory.training, memory.inference
    peak = inference.lines["activation_peak_bytes"]
    if training is not None:
        lines = breakdown_lines(training)
        lines.append(("Training footprint", f"{bytes_text(training.total_bytes)}, the lines above"))
    else:
        lines = [("Training", str(memory.untrainable))]
    lines.append(
        ("Inference peak", f"{bytes_text(inference.total_bytes)}, {human_bytes(peak)} of it tensors alive at once")
    )
    return title, lines
