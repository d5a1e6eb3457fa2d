"""The plan's per-rank footprint against `torch.cuda.max_memory_allocated` on every visible GPU.

For a GPU machine: for each spec and strategy, `cnnsize verify --nproc N --device cuda` (N = all
visible GPUs, NCCL, one GPU per rank; the ranks spawned): each rank's peak in a steady training step
(after a warm-up step; `max_memory_allocated` in each phase, its statistics reset before each) beside
the planner's footprint of that rank (`cnnsize plan --gpus N --strategy S`, CUDA rules), with the
10% target marked, and the throughput across ranks against one process on one GPU. The figures are
printed and appended to docs/benchmarks.md under a heading naming the GPU
(`torch.cuda.get_device_name`).

    PYTHONPATH=. python benchmarks/cuda_distributed.py [--specs resnet18 resnet50] [--batch-size 32]
        [--optimizer adam] [--iterations 10] [--doc docs/benchmarks.md | --no-append]

Not run yet: the machine this was written on has no GPU.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Sequence

from benchmarks.distributed_memory import Row, every_strategy, spec_of, table, throughput_table
from cnnsize.distributed_verification import DistributedVerification

GPU_TARGET = 0.10  # each rank's planned peak within 10% of max_memory_allocated
DEFAULT_SPECS = ("specs/small-resnet.yaml", "resnet18", "resnet50")
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def section(
    gpu: str,
    nproc: int,
    torch_version: str,
    settings: str,
    rows: Sequence[Row],
    runs: Sequence[tuple[str, DistributedVerification]],
    when: str,
) -> str:
    """The Markdown appended to docs/benchmarks.md: the GPU named, planned beside measured per rank
    with the 10% target, the throughput, and a count of the targets met."""
    met = sum(row.verdict(GPU_TARGET) == "met" for row in rows)
    return "\n".join(
        [
            f"### Distributed training on {nproc} x {gpu} ({when})",
            "",
            f"`PYTHONPATH=. python benchmarks/cuda_distributed.py`, torch {torch_version}, NCCL, {settings}. "
            "Measured: `torch.cuda.max_memory_allocated` of each rank in a steady training step; planned: "
            f"`cnnsize plan --gpus {nproc} --strategy S`'s footprint of that rank (CUDA rules).",
            "",
            table(rows, GPU_TARGET),
            "",
            throughput_table(runs),
            "",
            f"Within {GPU_TARGET:.0%}: {met} of {len(rows)} ranks.",
            "",
        ]
    )


def append(doc: Path, text: str) -> None:
    """`text` at the end of `doc`, after one blank line."""
    existing = doc.read_text() if doc.exists() else ""
    doc.write_text(existing.rstrip("\n") + "\n\n" + text if existing else text)


def visible_gpus() -> int:
    """How many CUDA devices this process sees; a clear exit (2) when there are none."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise SystemExit(f"error: no CUDA device is visible (torch {torch.__version__}); run this on a GPU machine")
    return count


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", default=list(DEFAULT_SPECS))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args(argv)
    nproc = visible_gpus()
    import torch

    rows: list[Row] = []
    runs: list[tuple[str, DistributedVerification]] = []
    for argument in args.specs:
        label, spec = spec_of(argument)
        _, found, done = every_strategy(label, spec, nproc, "cuda", args.batch_size, args.optimizer, args.iterations)
        rows += found
        runs += done
    settings = f"per-rank batch {args.batch_size}, {args.optimizer}, float32, 1 warm-up step, {args.iterations} timed"
    when = datetime.date.today().isoformat()
    text = section(torch.cuda.get_device_name(0), nproc, torch.__version__, settings, rows, runs, when)
    print(text)
    if not args.no_append:
        append(args.doc, text)
        print(f"appended to {args.doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
