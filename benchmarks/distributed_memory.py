"""How close is the plan's per-rank footprint to what each rank of a real data-parallel run holds?

For each spec and strategy, `cnnsize verify --nproc 2` on the CPU (gloo): 2 processes train the
spec (a warm-up step, then one measured step, then timed steps), and each rank's peak in the
measured step (the CPU allocator's bytes held at its worst moment, counted from before the network
was built: parameters or shards, gradients, optimizer state, buffers, DDP's buckets, FSDP's gathered
units, activations, kernels' scratch) is set beside the planner's footprint of that rank (`cnnsize
plan --gpus 2 --strategy S`, CPU rules), with their ratio and the 5% target marked. A one-process
row (plain training, no process group, measured the same way, beside the planner's one-GPU
footprint) shows how much of the error the one-process model already has. Throughput across ranks
and the scaling efficiency against one process at the same per-rank batch are printed too.

    PYTHONPATH=. python benchmarks/distributed_memory.py [--specs specs/small-resnet.yaml resnet18@3,64,64]
        [--batch-size 8] [--optimizer adam] [--iterations 3]
"""

from __future__ import annotations

import argparse
import platform
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Sequence

import torch

from cnnsize.backend.builder import build_network
from cnnsize.backend.distributed import (
    MEASURED_STEP,
    PHASES,
    DistributedOptions,
    make_optimizer,
    measure_training,
    run_several,
)
from cnnsize.distributed_verification import DistributedVerification
from cnnsize.engine import analyze
from cnnsize.loader import load_argument
from cnnsize.memory import Precision
from cnnsize.planner import model_memory
from cnnsize.rank_plan import planned_per_rank
from cnnsize.schema import Spec
from cnnsize.units import human_bytes

STRATEGIES = ("ddp", "zero1", "zero2", "fsdp")
CPU_TARGET = 0.05  # each rank's planned peak within 5% of the measured peak
DEFAULT_SPECS = ("specs/small-resnet.yaml", "resnet18@3,64,64")


@dataclass(frozen=True)
class Row:
    """One rank's (or the one-process run's) planned and measured peak."""

    spec: str
    strategy: str  # or "1 process"
    rank: Optional[int]
    planned: int
    measured: int
    phase: str  # where in the step the measured peak fell

    @property
    def ratio(self) -> float:
        return self.planned / self.measured

    def verdict(self, target: float) -> str:
        """`met` when planned is within `target` of measured (exactly: +10.0% meets 10%)."""
        within = abs(Fraction(self.planned, self.measured) - 1) <= Fraction(str(target))
        return "met" if within else "missed"


def spec_of(argument: str) -> tuple[str, Spec]:
    """`resnet18@3,64,64`: a spec (file or zoo name) at an input of its own."""
    name, _, shape = argument.partition("@")
    spec = load_argument(name, tuple(int(s) for s in shape.split(",")) if shape else None)
    return argument, spec


def rows_of(label: str, run: DistributedVerification) -> list[Row]:
    return [
        Row(label, run.strategy, r.rank, planned, r.peak_bytes, r.peak_phase or "-")
        for r in run.ranks
        if (planned := run.planned(r)) is not None
    ]


def table(rows: Sequence[Row], target: float) -> str:
    """Planned and measured side by side, as Markdown."""
    lines = [
        f"| spec | strategy | rank | planned | measured | peak in | planned / measured | within {target:.0%} |",
        "|---|---|---:|---:|---:|---|---:|---|",
    ]
    for row in rows:
        rank = "-" if row.rank is None else str(row.rank)
        lines.append(
            f"| {row.spec} | {row.strategy} | {rank} | {human_bytes(row.planned)} ({row.planned:,} B) | "
            f"{human_bytes(row.measured)} ({row.measured:,} B) | {row.phase} | "
            f"{row.ratio:.3f} ({row.ratio - 1:+.1%}) | {row.verdict(target)} |"
        )
    return "\n".join(lines)


def residue_table(runs: Sequence[tuple[str, DistributedVerification]]) -> str:
    """After the measured step: what the allocator still held beside what the rank can name
    (parameters, gradients, optimizer state); the rest is buffers, the input batch, DDP's buckets,
    and, under FSDP2 on the CPU, frees on gloo's threads that the profiler did not see."""
    lines = [
        "| spec | strategy | rank | held after the step | named (params, grads, state) | rest |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for label, run in runs:
        for r in run.ranks:
            named = r.parameter_bytes + r.gradient_bytes + r.optimizer_state_bytes
            after = r.held_after_bytes or 0
            lines.append(f"| {label} | {run.strategy} | {r.rank} | {after:,} | {named:,} | {after - named:,} |")
    return "\n".join(lines)


def throughput_table(runs: Sequence[tuple[str, DistributedVerification]]) -> str:
    lines = [
        "| spec | strategy | images/s across ranks | one process | scaling efficiency |",
        "|---|---|---:|---:|---:|",
    ]
    for label, run in runs:
        lines.append(
            f"| {label} | {run.strategy} | {run.images_per_s:,.1f} | {run.single_images_per_s:,.1f} | "
            f"{run.scaling_efficiency:.1%} |"
        )
    return "\n".join(lines)


def every_strategy(
    label: str, spec: Spec, nproc: int, device: str, batch_size: int, optimizer: str, iterations: int
) -> tuple[list[DistributedOptions], list[Row], list[tuple[str, DistributedVerification]]]:
    """`spec` run under every strategy on `nproc` ranks from one launcher, each beside its plan:
    the options, a row per rank, and the runs."""
    every = [
        DistributedOptions(
            nproc=nproc, strategy=strategy, device=device, batch_size=batch_size, optimizer=optimizer,
            iterations=iterations, timeout_s=900,
        )
        for strategy in STRATEGIES
    ]  # fmt: skip
    plans = [planned_per_rank(spec, nproc, o.strategy, o.optimizer, o.batch_size, o.dtype, device) for o in every]
    rows: list[Row] = []
    runs: list[tuple[str, DistributedVerification]] = []
    for run in run_several(spec, every, plans):
        rows += rows_of(label, run)
        runs.append((label, run))
    return every, rows, runs


def one_process_row(label: str, spec: Spec, options: DistributedOptions) -> tuple[Row, str]:
    """Plain training in this process, measured as a rank is (`measure_training`: the allocator
    watched from before the build, the peak of the step after a warm-up), beside the planner's
    one-device footprint; with the phase of the step where the peak fell."""
    torch.set_num_threads(options.threads or 1)
    report = analyze(spec, options.batch_size, options.dtype)

    def setup() -> tuple[torch.nn.Module, object, tuple[torch.Tensor, ...]]:
        torch.manual_seed(0)
        network = build_network(spec, report)
        optimizer = make_optimizer(network.parameters(), options.optimizer)
        return network, optimizer, network.example_inputs(options.batch_size)

    peaks, *_ = measure_training(setup, torch.device("cpu"), options.warmup)
    model = model_memory(spec, Precision(options.dtype, None, "cpu"), report)
    planned = model.footprint("training", options.optimizer, options.batch_size).total_bytes
    phase = max(PHASES, key=lambda p: peaks[p])
    return Row(label, "1 process", None, planned, peaks[MEASURED_STEP], phase), phase


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", default=list(DEFAULT_SPECS))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--nproc", type=int, default=2)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, Python {platform.python_version()}, {args.nproc} gloo processes on the CPU")
    print(f"per-rank batch {args.batch_size}, {args.optimizer}, float32, 1 warm-up step, {args.iterations} timed\n")
    rows: list[Row] = []
    runs: list[tuple[str, DistributedVerification]] = []
    for argument in args.specs:
        label, spec = spec_of(argument)
        every, found, done = every_strategy(
            label, spec, args.nproc, "cpu", args.batch_size, args.optimizer, args.iterations
        )
        rows.append(one_process_row(label, spec, every[0])[0])
        rows += found
        runs += done
    print(table(rows, CPU_TARGET))
    print()
    print(throughput_table(runs))
    print()
    print(residue_table(runs))


if __name__ == "__main__":
    main()
