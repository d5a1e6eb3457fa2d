"""Results of `cnnsize verify --nproc N --strategy S`: real data-parallel training steps, per rank,
beside the memory plan.

Plain data that imports neither torch nor rich: the backend (`cnnsize.backend.distributed`) fills a
`RankResult` in every rank and the one-process baseline, and the renderer shows the
`DistributedVerification`. `to_dict()` is what `--format json` prints; bytes are exact integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

# strategy -> how PyTorch runs it (the names `cnnsize plan` uses for the same strategies)
STRATEGIES: dict[str, str] = {
    "ddp": "DistributedDataParallel",
    "zero1": "DistributedDataParallel + ZeroRedundancyOptimizer",
    "zero2": "fully_shard(reshard_after_forward=False) per top-level block, then the root",
    "fsdp": "fully_shard(reshard_after_forward=True) per top-level block, then the root",
}


@dataclass(frozen=True)
class ParameterShard:
    """One parameter as a rank holds it: its full shape, and the elements held on this rank (all of
    them unless sharded; a shard of dim 0 under FSDP)."""

    name: str
    shape: tuple[int, ...]
    local_elements: int

    @property
    def elements(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count


@dataclass(frozen=True)
class RankResult:
    """What one rank measured: the peak bytes of a steady training step (everything the rank holds:
    its parameters or their shard, gradients, optimizer state, buffers, communication buffers,
    activations), what it held after the step, and the wall time of its timed steps.

    `weights_digest`: a hash of the full parameters after training (None when the rank holds only a
    shard), equal on every rank when data parallelism keeps the replicas in step.
    """

    rank: int
    peak_bytes: int
    parameters: tuple[ParameterShard, ...]
    parameter_bytes: int
    gradient_bytes: int
    optimizer_state_bytes: int
    optimizer_state_parameters: tuple[str, ...]  # the parameters whose optimizer state this rank keeps
    seconds: float
    steps: int
    weights_digest: Optional[str] = None
    phase_peaks: tuple[tuple[str, int], ...] = ()  # (forward, backward, optimizer step) -> peak bytes in it
    held_after_bytes: Optional[int] = None  # what the allocator still held after the measured step

    @property
    def peak_phase(self) -> Optional[str]:
        """The phase of the step where the rank held the most (the first of equal ones)."""
        return max(self.phase_peaks, key=lambda item: item[1])[0] if self.phase_peaks else None

    @property
    def parameter_elements(self) -> int:
        return sum(p.local_elements for p in self.parameters)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "peak_bytes": self.peak_bytes,
            "phase_peak_bytes": dict(self.phase_peaks),
            "held_after_bytes": self.held_after_bytes,
            "parameter_elements": self.parameter_elements,
            "parameter_bytes": self.parameter_bytes,
            "gradient_bytes": self.gradient_bytes,
            "optimizer_state_bytes": self.optimizer_state_bytes,
            "seconds": self.seconds,
            "steps": self.steps,
            "weights_digest": self.weights_digest,
        }


@dataclass(frozen=True)
class DistributedVerification:
    """A whole `cnnsize verify --nproc N` run on one spec: every rank's measurement, the throughput
    across ranks and one process's at the same per-rank batch, and the planned bytes per rank
    (None where no plan was available)."""

    name: str
    file: Optional[str]
    strategy: str
    nproc: int
    backend: str  # gloo or nccl
    device: str
    dtype: str
    optimizer: str
    batch_size: int  # per rank
    warmup: int
    iterations: int
    threads: Optional[int]  # CPU threads per rank (and for the one-process baseline); None on CUDA
    torch_version: str
    peak_source: str  # how the peak was measured
    ranks: tuple[RankResult, ...]
    single_seconds: float  # one process, the same steps at the same per-rank batch
    planned_bytes: tuple[int, ...] = ()  # the plan's footprint of each rank, by rank (empty: no plan)
    plan_note: Optional[str] = None  # why there is no plan, or what it assumes

    @property
    def images_per_s(self) -> float:
        """Images per second across ranks: world x per-rank batch x steps / the slowest rank's time."""
        slowest = max(r.seconds for r in self.ranks)
        return self.nproc * self.batch_size * self.iterations / slowest

    @property
    def single_images_per_s(self) -> float:
        return self.batch_size * self.iterations / self.single_seconds

    @property
    def scaling_efficiency(self) -> float:
        """Images/s across ranks over N x one process's images/s (1.0: perfect scaling)."""
        return self.images_per_s / (self.nproc * self.single_images_per_s)

    @property
    def weights_identical(self) -> Optional[bool]:
        """True when every rank ends with the same full weights; None when ranks hold only shards."""
        digests = {r.weights_digest for r in self.ranks}
        return None if None in digests else len(digests) == 1

    @property
    def passed(self) -> bool:
        """Every rank ran; where ranks hold full weights, they ended identical."""
        return self.weights_identical is not False

    def planned(self, rank: RankResult) -> Optional[int]:
        """The plan's bytes for `rank` (None without a plan)."""
        return self.planned_bytes[rank.rank] if rank.rank < len(self.planned_bytes) else None

    def ratio(self, rank: RankResult) -> Optional[float]:
        """Planned over measured peak bytes of `rank` (None without a plan)."""
        planned = self.planned(rank)
        return None if planned is None or rank.peak_bytes <= 0 else planned / rank.peak_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "strategy": self.strategy,
            "runs_as": STRATEGIES[self.strategy],
            "nproc": self.nproc,
            "backend": self.backend,
            "device": self.device,
            "dtype": self.dtype,
            "optimizer": self.optimizer,
            "batch_size_per_rank": self.batch_size,
            "warmup": self.warmup,
            "iterations": self.iterations,
            "threads_per_rank": self.threads,
            "torch": self.torch_version,
            "peak_measured_by": self.peak_source,
            "plan_note": self.plan_note,
            "ranks": [
                {**r.to_dict(), "planned_bytes": self.planned(r), "planned_over_measured": self.ratio(r)}
                for r in self.ranks
            ],
            "images_per_s": self.images_per_s,
            "single_process_images_per_s": self.single_images_per_s,
            "scaling_efficiency": self.scaling_efficiency,
            "weights_identical": self.weights_identical,
        }
